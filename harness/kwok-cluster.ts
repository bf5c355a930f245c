import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeFailure, mustRun, runCommand, type CommandResult } from './command';
import { sweepDeadNodes } from './node-host';
import type { Toolchain } from './toolchain';

/**
 * A control plane of the toolchain's own binaries (etcd, kube-apiserver, controller manager,
 * scheduler, kwok controller) started by kwokctl with its binary runtime, all on 127.0.0.1 and
 * random free ports, its state in this run's folder. Nodes are kwok's: pods are bound and scheduled
 * for real, their containers are staged (a Job's pods complete, others become Ready).
 *
 * Every run has a folder under RUNS holding its pid; a new run first removes the folders of runs
 * whose process is gone, stopping what their clusters left running (pids from kwokctl's pid files),
 * and what their real nodes left (node-host.ts).
 *
 * With `realNodes`, a kubelet can join (node.ts): the kwok controller manages only nodes annotated
 * kwok.x-k8s.io/node=fake (kwokctl's own; by default it takes over every node), and the API server
 * reaches kubelets by their InternalIP (never a name through the host's resolver) with kwokctl's
 * admin certificate as its kubelet client certificate (the kubelet trusts the cluster's CA).
 */

const RUNS = join(tmpdir(), 'gpu-dev-cluster-runs');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every process kwokctl recorded under `workdir` (clusters/<name>/pids/*.pid). */
function killRecorded(workdir: string): void {
  const clusters = join(workdir, 'clusters');
  if (!existsSync(clusters)) return;
  for (const cluster of readdirSync(clusters)) {
    const pids = join(clusters, cluster, 'pids');
    if (!existsSync(pids)) continue;
    for (const file of readdirSync(pids)) {
      const pid = Number(readFileSync(join(pids, file), 'utf8').trim());
      if (pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
}

const CREATION_LOCK = join(RUNS, 'creating.lock');
const CREATION_LOCK_WAIT_MS = 300_000;

/**
 * Runs `create` holding a machine-wide lock (a file created exclusively, holding the pid; a lock
 * whose process is gone is taken over). Waits at most CREATION_LOCK_WAIT_MS.
 */
async function withCreationLock<T>(create: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + CREATION_LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(CREATION_LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(CREATION_LOCK, { encoding: 'utf8', flag: 'a+' }).trim());
      if (!(holder > 0 && alive(holder))) {
        rmSync(CREATION_LOCK, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`another cluster creation (pid ${holder}, ${CREATION_LOCK}) did not finish within ${CREATION_LOCK_WAIT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await create();
  } finally {
    rmSync(CREATION_LOCK, { force: true });
  }
}

/** Removes what runs that died (kill -9, a crashed jest) left behind. */
function sweepDeadRuns(): string[] {
  const swept: string[] = sweepDeadNodes();
  if (!existsSync(RUNS)) return swept;
  for (const entry of readdirSync(RUNS, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const folder = join(RUNS, entry.name);
    const owner = Number(readFileSync(join(folder, 'owner.pid'), { encoding: 'utf8', flag: 'a+' }).trim());
    if (owner > 0 && alive(owner)) continue;
    killRecorded(folder);
    rmSync(folder, { recursive: true, force: true });
    swept.push(folder);
  }
  return swept;
}

export interface ClusterOptions {
  /** Stages given as CRs (kwokctl --enable-crds=Stage): the defaults, then whatever a test adds. */
  readonly stages?: boolean;
  /** For startNode (node.ts): kwok leaves real nodes alone, the API server can reach their kubelets. */
  readonly realNodes?: boolean;
  /** kwok's fake nodes (kwokctl scale node): 1 by default, 0 by default with realNodes (pods then go to the real node). */
  readonly kwokNodes?: number;
}

/** kwokctl's componentsPatches for real nodes (a config file: its --extra-args flag misplaces a second component's second arg). */
function realNodePatches(pki: string): string {
  return `componentsPatches:
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false", override: true}
  - {key: manage-nodes-with-annotation-selector, value: "kwok.x-k8s.io/node=fake"}
- name: kube-apiserver
  extraArgs:
  - {key: kubelet-preferred-address-types, value: InternalIP}
  - {key: kubelet-client-certificate, value: "${join(pki, 'admin.crt')}"}
  - {key: kubelet-client-key, value: "${join(pki, 'admin.key')}"}
`;
}

export class KwokCluster {
  readonly kubeconfig: string;

  private constructor(
    readonly toolchain: Toolchain,
    readonly name: string,
    /** KWOK_WORKDIR: this cluster's processes, logs and state; removed by delete(). */
    readonly workdir: string,
    /** Created for real nodes (ClusterOptions.realNodes). */
    readonly realNodes: boolean,
  ) {
    this.kubeconfig = join(workdir, 'clusters', name, 'kubeconfig.yaml');
    this.pkiDir = join(workdir, 'clusters', name, 'pki');
    this.binDir = join(toolchain.dir, 'bin');
  }

  /** kwokctl's certificates: ca.crt (the cluster's CA), admin.crt and admin.key (system:masters). */
  readonly pkiDir: string;

  /** The toolchain's binaries (kubectl of the cluster's version). */
  readonly binDir: string;

  /** Creates a cluster (kwokctl waits until it serves) with one kwok node. Creations must not overlap: run the suite in band. */
  static async create(toolchain: Toolchain, name: string, options: ClusterOptions = {}): Promise<KwokCluster> {
    sweepDeadRuns();
    mkdirSync(RUNS, { recursive: true });
    const workdir = join(RUNS, `${name}-${process.pid}-${Date.now()}`);
    mkdirSync(workdir);
    writeFileSync(join(workdir, 'owner.pid'), String(process.pid));
    const cluster = new KwokCluster(toolchain, name, workdir, options.realNodes ?? false);
    let config = join(toolchain.dir, 'kwokctl.yaml');
    if (options.realNodes) {
      // kwokctl reads the first KwokctlConfiguration only: the toolchain's, with the patches.
      config = join(workdir, 'kwokctl.yaml');
      writeFileSync(config, `${readFileSync(join(toolchain.dir, 'kwokctl.yaml'), 'utf8').trimEnd()}\n${realNodePatches(cluster.pkiDir)}`);
    }
    const args = ['create', 'cluster', '--name', name, '--config', config, '--kubeconfig', '', '--wait', '2m'];
    if (options.stages) args.push('--enable-crds=Stage');
    else args.push('--config', join(toolchain.dir, 'kwok-stages.yaml'));
    // kwokctl picks free ports when it creates a cluster and binds them when each component
    // starts: two creations at once (two suites on this machine) can pick the same port, and the
    // loser's component dies. So creations take turns, machine-wide, and a cluster whose
    // component died is made again (once, logged).
    for (let attempt = 1; ; attempt++) {
      const created = await withCreationLock(() => cluster.kwokctl(args, 180_000));
      const dead = created.code === 0 ? await cluster.deadComponents() : [];
      if (created.code === 0 && dead.length === 0) break;
      const why = created.code === 0 ? `its ${dead.join(', ')} died after start (a port taken at the same moment?)` : describeFailure('kwokctl', args, created);
      await cluster.kwokctl(['delete', 'cluster', '--name', name], 60_000).catch(() => undefined);
      killRecorded(workdir);
      if (attempt === 2) {
        await cluster.delete();
        throw new Error(`cluster ${name} could not be created: ${why}`);
      }
      console.warn(`cluster ${name}: ${why}; creating it again (attempt 2 of 2)`);
    }
    if (options.stages) await cluster.kubectl(['apply', '-f', join(toolchain.dir, 'kwok-stages.yaml')]);
    const kwokNodes = options.kwokNodes ?? (options.realNodes ? 0 : 1);
    if (kwokNodes > 0) await cluster.kwokctl(['scale', 'node', '--name', name, '--replicas', String(kwokNodes)], 60_000);
    return cluster;
  }

  /** Components of the cluster whose process is gone, a moment after creation (they die on a taken port within about a second). */
  private async deadComponents(): Promise<string[]> {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const pids = join(this.workdir, 'clusters', this.name, 'pids');
    if (!existsSync(pids)) return [];
    return readdirSync(pids)
      .filter((file) => !alive(Number(readFileSync(join(pids, file), 'utf8').trim())))
      .map((file) => file.replace(/\.pid$/, ''));
  }

  private kwokctl(args: string[], timeoutMs: number): Promise<CommandResult> {
    return runCommand(this.toolchain.bin('kwokctl'), args, { env: { KWOK_WORKDIR: this.workdir }, timeoutMs });
  }

  /** kubectl against this cluster; fails on a non-zero exit. */
  async kubectl(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const result = await mustRun(this.toolchain.bin('kubectl'), args, {
      env: { KUBECONFIG: this.kubeconfig },
      input: options.input,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    return result.stdout;
  }

  async kubectlJson<T = any>(args: readonly string[]): Promise<T> {
    return JSON.parse(await this.kubectl([...args, '-o', 'json'])) as T;
  }

  async apply(manifest: unknown): Promise<void> {
    await this.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
  }

  /** What the external-database mode expects to exist already: the namespace and the credentials Secret. */
  async createNamespaceAndSecret(namespace: string, secret: Readonly<Record<string, string>>): Promise<void> {
    await this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await this.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'postgres-credentials', namespace }, stringData: secret });
  }

  /** Stops every process of the cluster and removes its folder, also when kwokctl cannot. */
  async delete(): Promise<void> {
    const deleted = await this.kwokctl(['delete', 'cluster', '--name', this.name], 60_000).catch(() => undefined);
    if (deleted?.code !== 0) killRecorded(this.workdir);
    killRecorded(this.workdir);
    rmSync(this.workdir, { recursive: true, force: true });
  }
}
