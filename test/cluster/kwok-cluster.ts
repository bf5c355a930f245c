import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeFailure, mustRun, runCommand, type CommandResult } from './command';
import type { Toolchain } from './toolchain';

/**
 * A control plane of the toolchain's own binaries (etcd, kube-apiserver, controller manager,
 * scheduler, kwok controller) started by kwokctl with its binary runtime, all on 127.0.0.1 and
 * random free ports, its state in this run's folder. Nodes are kwok's: pods are bound and scheduled
 * for real, their containers are staged (a Job's pods complete, others become Ready).
 *
 * Every run has a folder under RUNS holding its pid; a new run first removes the folders of runs
 * whose process is gone, stopping what their clusters left running (pids from kwokctl's pid files).
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

/** Removes what runs that died (kill -9, a crashed jest) left behind. */
export function sweepDeadRuns(): string[] {
  if (!existsSync(RUNS)) return [];
  const swept: string[] = [];
  for (const run of readdirSync(RUNS)) {
    const folder = join(RUNS, run);
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
}

export class KwokCluster {
  readonly kubeconfig: string;

  private constructor(
    private readonly toolchain: Toolchain,
    readonly name: string,
    /** KWOK_WORKDIR: this cluster's processes, logs and state; removed by delete(). */
    readonly workdir: string,
  ) {
    this.kubeconfig = join(workdir, 'clusters', name, 'kubeconfig.yaml');
    this.binDir = join(toolchain.dir, 'bin');
  }

  /** The toolchain's binaries (kubectl of the cluster's version). */
  readonly binDir: string;

  /** Creates a cluster (kwokctl waits until it serves) with one kwok node. Creations must not overlap: run the suite in band. */
  static async create(toolchain: Toolchain, name: string, options: ClusterOptions = {}): Promise<KwokCluster> {
    sweepDeadRuns();
    mkdirSync(RUNS, { recursive: true });
    const workdir = join(RUNS, `${name}-${process.pid}-${Date.now()}`);
    mkdirSync(workdir);
    writeFileSync(join(workdir, 'owner.pid'), String(process.pid));
    const cluster = new KwokCluster(toolchain, name, workdir);
    const args = ['create', 'cluster', '--name', name, '--config', join(toolchain.dir, 'kwokctl.yaml'), '--kubeconfig', '', '--wait', '2m'];
    if (options.stages) args.push('--enable-crds=Stage');
    else args.push('--config', join(toolchain.dir, 'kwok-stages.yaml'));
    const created = await cluster.kwokctl(args, 180_000);
    if (created.code !== 0) {
      await cluster.delete();
      throw new Error(describeFailure('kwokctl', args, created));
    }
    if (options.stages) await cluster.kubectl(['apply', '-f', join(toolchain.dir, 'kwok-stages.yaml')]);
    await cluster.kwokctl(['scale', 'node', '--name', name, '--replicas', '1'], 60_000);
    return cluster;
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
