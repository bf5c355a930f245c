import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { mustRun, runCommand } from './command';
import { imageArchive, normalizedName, pauseRecipe, type ImageRecipe } from './images';
import type { KwokCluster } from './kwok-cluster';
import {
  createCgroup,
  hostLeftovers,
  hostNetworks,
  leftovers,
  liveRuns,
  networkOf,
  NODE_RUNS,
  overlaps,
  readState,
  saveHostState,
  savedHostState,
  sh,
  sweepDeadNodes,
  teardown,
  withLock,
  type Log,
  type NodeRunState,
} from './node-host';
import type { Toolchain } from './toolchain';

/**
 * A real node joined to a KwokCluster (created with `realNodes: true`): containerd (the
 * toolchain's, with Debian's runc) and a kubelet, every file of theirs in a run folder under
 * NODE_RUNS. Pods run for real: the stack's migration Job and API, `kubectl logs` and `exec`.
 *
 * The network: an empty bridge holding the node's one address (a /32 of 10.200–215.x.254, a /24
 * per run, chosen so two runs never collide), and a CNI bridge with host-local IPAM on the lower
 * /25 of that /24, no masquerade, routes to that subnet and the node address only, so pods reach
 * nothing but this host's own addresses of the run. Nothing resolves names through the host's
 * resolver: the API server reaches the kubelet by InternalIP, pods get an empty resolv.conf, and
 * containerd's registry hosts all point at 127.0.0.1:9 (an image that is not imported fails to
 * pull at once, instead of asking docker.io).
 *
 * The kubelet authenticates the API server by client certificate (the cluster's CA; kwokctl's
 * admin certificate is the API server's kubelet client certificate) and authorizes by webhook.
 * It registers with the cluster's admin kubeconfig: fine for a test harness, where a real node
 * bootstraps its own certificate (TLS bootstrap) and the Node authorizer limits it.
 *
 * `stop()` (also after a failed test, and for a dead run the next startNode) undoes all of it:
 * node-host.ts.
 */

export interface NodeOptions {
  /** How long to wait for the Node to be Ready. */
  readonly readyTimeoutMs?: number;
}

export interface ImportedImage {
  readonly name: string;
  /** As containerd stores it (docker.io/library/… for a short name). */
  readonly ref: string;
  readonly archive: string;
  /** The archive came from the cache (no build). */
  readonly cached: boolean;
  readonly buildMs: number;
  readonly importMs: number;
}

const KUBELET_READY_MS = 90_000;

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class RealNode {
  /** What startNode took, in ms (containerd up, pause image, kubelet Ready, total). */
  readonly timings: Record<string, number> = {};
  private readonly children = new Map<string, ChildProcess>();
  private readonly exited = new Map<string, string>();
  private stopped: Promise<string[]> | undefined;
  /** The host's shared state as saved before this node (for hostLeftovers after stop). */
  savedHost: ReturnType<typeof savedHostState>;

  private constructor(
    readonly cluster: KwokCluster,
    private readonly toolchain: Toolchain,
    readonly state: NodeRunState,
    readonly pauseImage: string,
  ) {
    this.socket = join(state.runDir, 'containerd.sock');
  }

  readonly socket: string;

  get name(): string {
    return this.state.nodeName;
  }
  /** The node's InternalIP: host services for pods listen here. */
  get address(): string {
    return this.state.address;
  }
  get podSubnet(): string {
    return this.state.podSubnet;
  }
  get runDir(): string {
    return this.state.runDir;
  }
  get logFile(): string {
    return join(this.state.runDir, 'harness.log');
  }

  /** A line in the run's harness.log (every retry and every step of start and stop). */
  readonly log: Log = (line) => {
    try {
      appendFileSync(this.logFile, `${new Date().toISOString()} ${line}\n`);
    } catch {
      // The folder is gone (after stop).
    }
  };

  /** The last lines of the harness, containerd and kubelet logs, for a failure message. */
  logs(lines = 30): string {
    return ['harness', 'containerd', 'kubelet'].map((name) => `--- ${name}.log\n${tail(join(this.runDir, `${name}.log`), lines)}`).join('\n');
  }

  static async start(cluster: KwokCluster, options: NodeOptions = {}): Promise<RealNode> {
    const started = Date.now();
    const toolchain = cluster.toolchain;
    if (!cluster.realNodes)
      throw new Error(
        'startNode needs a cluster created with { realNodes: true } (kwok would manage the node, and the API server would not reach the kubelet)',
      );
    const early: string[] = [];
    const earlyLog: Log = (line) => early.push(`${new Date().toISOString()} ${line}`);
    sweepDeadNodes(earlyLog);
    const state = withLock(earlyLog, () => {
      const taken = new Set(liveRuns().map((r) => r.net));
      const inUse = hostNetworks();
      for (let attempt = 0; attempt < 64; attempt++) {
        const net = randomBytes(2).readUInt16BE() & 0xfff;
        const { prefix } = networkOf(net);
        if (taken.has(net) || overlaps(`${prefix}.0/24`, inUse)) {
          earlyLog(`network ${prefix}.0/24 is in use; choosing again`);
          continue;
        }
        const id = randomBytes(3).toString('hex');
        const runDir = join(NODE_RUNS, id);
        if (existsSync(runDir)) continue;
        mkdirSync(join(runDir, 'pids'), { recursive: true });
        writeFileSync(join(runDir, 'owner.pid'), String(process.pid));
        const network = networkOf(net);
        const s: NodeRunState = {
          id,
          owner: process.pid,
          runDir,
          nodeName: `gpu-dev-node-${id}`,
          nodeBridge: `gdn-${id}`,
          podBridge: `gdp-${id}`,
          cniNetwork: `gpu-dev-${id}`,
          cgroup: `gpu-dev-node-${id}`,
          net,
          address: network.address,
          podSubnet: network.podSubnet,
          gateway: network.gateway,
        };
        // The plan first: whatever happens next, teardown finds everything from this file.
        writeFileSync(join(runDir, 'state.json'), JSON.stringify(s, null, 2));
        saveHostState(earlyLog, id);
        return s;
      }
      throw new Error('no free 10.200–215.x.0/24 network for a node after 64 tries');
    });
    const pause = pauseRecipe(toolchain.bin('pause'));
    const node = new RealNode(cluster, toolchain, state, normalizedName(pause.name));
    for (const line of early) appendFileSync(node.logFile, `${line}\n`);
    node.savedHost = savedHostState();
    try {
      await node.boot(pause, options);
    } catch (error) {
      const logs = node.logs();
      const left = await node.stop();
      throw new Error(`${(error as Error).message}\n${logs}${left.length ? `\n--- left after stopping:\n${left.join('\n')}` : ''}`, { cause: error });
    }
    node.timings.total = Date.now() - started;
    node.log(`node ${node.name} Ready at ${node.address} in ${node.timings.total} ms (${JSON.stringify(node.timings)})`);
    return node;
  }

  private async boot(pause: ImageRecipe, options: NodeOptions): Promise<void> {
    const { runDir, address } = this.state;
    const bin = (name: string) => this.toolchain.bin(name);
    this.log(`run ${this.state.id}: node ${this.name}, address ${address}, pods ${this.podSubnet}, folder ${runDir}`);

    // The node's address: an empty bridge holding one /32 (no dummy links here).
    const ip = (...args: string[]) => {
      if (!sh(this.log, 'ip', args)) throw new Error(`ip ${args.join(' ')} failed (harness.log)`);
    };
    ip('link', 'add', this.state.nodeBridge, 'type', 'bridge');
    ip('addr', 'add', `${address}/32`, 'dev', this.state.nodeBridge);
    ip('link', 'set', this.state.nodeBridge, 'up');
    createCgroup(this.state.cgroup);

    for (const dir of ['cni/net.d', 'cni/ipam', 'runc', 's', 'tmp', 'certs.d/_default', 'kubelet', 'pod-logs'])
      mkdirSync(join(runDir, dir), { recursive: true });
    writeFileSync(join(runDir, 'cni', 'net.d', '10-gpu-dev.conflist'), JSON.stringify(this.cniConfig(), null, 2));
    // Every registry is 127.0.0.1:9: a pull fails at once and never resolves a name.
    writeFileSync(join(runDir, 'certs.d', '_default', 'hosts.toml'), 'server = "http://127.0.0.1:9"\n');
    writeFileSync(join(runDir, 'containerd.toml'), this.containerdConfig());
    writeFileSync(join(runDir, 'resolv.conf'), '# no name servers: pods of the cluster suite resolve nothing\n');

    let t = Date.now();
    this.spawnDaemon('containerd', bin('containerd'), ['--config', join(runDir, 'containerd.toml')]);
    await this.waitFor('containerd to serve', 20_000, async () => {
      const r = await runCommand(bin('ctr'), ['--address', this.socket, 'version'], { timeoutMs: 5_000 });
      return r.code === 0 ? true : `ctr version: ${r.stderr.trim().split('\n').pop()}`;
    });
    this.timings.containerd = Date.now() - t;

    t = Date.now();
    await this.importImages([pause]);
    this.timings.pauseImage = Date.now() - t;

    t = Date.now();
    const pki = this.cluster.pkiDir;
    const port = await freePort(address);
    const healthzPort = await freePort('127.0.0.1');
    writeFileSync(join(runDir, 'kubelet.yaml'), this.kubeletConfig(port, healthzPort, join(pki, 'ca.crt')));
    this.spawnDaemon('kubelet', bin('kubelet'), [
      '--config',
      join(runDir, 'kubelet.yaml'),
      '--kubeconfig',
      this.cluster.kubeconfig,
      '--root-dir',
      join(runDir, 'kubelet'),
      '--cert-dir',
      join(runDir, 'kubelet-pki'),
      '--node-ip',
      address,
      '--hostname-override',
      this.name,
      '--v',
      '2',
    ]);
    await this.waitFor(`node ${this.name} to be Ready`, options.readyTimeoutMs ?? KUBELET_READY_MS, async () => {
      const r = await runCommand(bin('kubectl'), ['get', 'node', this.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], {
        env: { KUBECONFIG: this.cluster.kubeconfig },
        timeoutMs: 10_000,
      });
      return r.code === 0 && r.stdout.trim() === 'True' ? true : `Ready=${r.stdout.trim() || r.stderr.trim().split('\n').pop()}`;
    });
    this.timings.kubeletReady = Date.now() - t;
  }

  private cniConfig(): unknown {
    return {
      cniVersion: '1.0.0',
      name: this.state.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: this.state.podBridge,
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: this.state.podSubnet, gateway: this.state.gateway }]],
            // The subnet's own route comes with the address; the only other one is the node's.
            routes: [{ dst: `${this.state.address}/32` }],
            dataDir: join(this.runDir, 'cni', 'ipam'),
          },
        },
      ],
    };
  }

  private containerdConfig(): string {
    const r = this.runDir;
    const q = (s: string) => `'${s}'`;
    return `# containerd for the cluster suite's node ${this.name} (harness/node.ts): everything under ${r}
version = 3
root = ${q(join(r, 'containerd', 'root'))}
state = ${q(join(r, 'containerd', 'state'))}
temp = ${q(join(r, 'tmp'))}
imports = []
# Not needed here, and each would write outside the run's folder (/opt/containerd, /var/run/nri, ...).
disabled_plugins = [
  'io.containerd.internal.v1.opt', 'io.containerd.nri.v1.nri', 'io.containerd.image-verifier.v1.bindir',
  'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs', 'io.containerd.differ.v1.erofs',
  'io.containerd.mount-handler.v1.erofs', 'io.containerd.server.v1.grpc-tcp', 'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
]

[grpc]
  address = ${q(this.socket)}
[ttrpc]
  address = ${q(`${this.socket}.ttrpc`)}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${q(this.pauseImage)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ${q(join(r, 'certs.d'))}

[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE here: runc could not raise a container's oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      runtime_path = ${q(this.toolchain.bin('containerd-shim-runc-v2'))}
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(this.toolchain.bin('runc'))}
        Root = ${q(join(r, 'runc'))}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(join(this.toolchain.dir, 'cni'))}]
    conf_dir = ${q(join(r, 'cni', 'net.d'))}
    max_conf_num = 1
    # The pods' lo without the loopback plugin (whose results libcni would cache in /var/lib/cni).
    use_internal_loopback = true

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.transfer.v1.local']
  config_path = ${q(join(r, 'certs.d'))}

[plugins.'io.containerd.shim.v1.manager']
  socket_dir = ${q(join(r, 's'))}
`;
  }

  private kubeletConfig(port: number, healthzPort: number, clientCA: string): string {
    const config = {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // cgroup v1 only on these machines.
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: `/${this.state.cgroup}`,
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${this.socket}`,
      address: this.address,
      port,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort,
      podLogsDir: join(this.runDir, 'pod-logs'),
      resolvConf: join(this.runDir, 'resolv.conf'),
      // No iptables rules of the kubelet's own (KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT).
      makeIPTablesUtilChains: false,
      // The imported images are all there is: never collect them.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      serializeImagePulls: false,
      // The API server (logs, exec) with its kubelet client certificate; everything else by webhook.
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: clientCA } },
      authorization: { mode: 'Webhook' },
      nodeStatusUpdateFrequency: '5s',
      // No CAP_SYS_RESOURCE here: the kubelet cannot lower its own OOM score (-999 by default).
      oomScoreAdj: 0,
    };
    return JSON.stringify(config, null, 2);
  }

  private spawnDaemon(name: string, file: string, args: readonly string[]): void {
    const out = openSync(join(this.runDir, `${name}.log`), 'a');
    const child = spawn(file, args, {
      cwd: this.runDir,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, PATH: `${join(this.toolchain.dir, 'bin')}:${process.env.PATH}:/usr/sbin:/sbin`, TMPDIR: join(this.runDir, 'tmp') },
    });
    closeSync(out);
    child.on('exit', (code, signal) => {
      this.exited.set(name, `${code ?? signal}`);
      this.log(`${name} (pid ${child.pid}) exited ${code ?? signal}`);
    });
    child.on('error', (error) => this.exited.set(name, error.message));
    if (child.pid) writeFileSync(join(this.runDir, 'pids', `${name}.pid`), String(child.pid));
    this.children.set(name, child);
    this.log(`started ${name} (pid ${child.pid}): ${file} ${args.join(' ')}`);
  }

  /** SIGTERM to a daemon this node started, SIGKILL if it has not exited after `graceMs`. */
  private async stopChild(name: string, graceMs: number): Promise<void> {
    const child = this.children.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const started = Date.now();
    child.kill('SIGTERM');
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (late) {
      this.log(`stop: ${name} still running ${graceMs} ms after SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    }
    this.log(`stop: ${name} stopped in ${Date.now() - started} ms`);
  }

  /** Polls `check` (true, or why not yet) every 500 ms up to `timeoutMs`, logging each retry; fails early if a daemon exited. */
  async waitFor(what: string, timeoutMs: number, check: () => Promise<true | string>): Promise<void> {
    const started = Date.now();
    let attempt = 0;
    for (;;) {
      const result = await check();
      if (result === true) {
        this.log(`${what}: after ${Date.now() - started} ms, ${attempt} retries`);
        return;
      }
      const dead = [...this.exited].map(([n, how]) => `${n} exited ${how}`);
      if (dead.length) throw new Error(`waiting for ${what}: ${dead.join(', ')} (last: ${result})`);
      if (Date.now() - started > timeoutMs) throw new Error(`waiting for ${what}: not after ${timeoutMs} ms (last: ${result})`);
      attempt++;
      this.log(`waiting for ${what}: retry ${attempt}: ${result}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** ctr against this node's containerd, in the CRI's namespace. */
  async ctr(args: readonly string[], timeoutMs = 120_000): Promise<string> {
    return (await mustRun(this.toolchain.bin('ctr'), ['--address', this.socket, '-n', 'k8s.io', ...args], { timeoutMs })).stdout;
  }

  /**
   * Imports images into the node (`ctr images import` of one docker archive of them all, built or
   * taken from the cache in `<toolchain cache>/images/`). After it, pods can use them by name.
   */
  async importImages(recipes: readonly ImageRecipe[]): Promise<ImportedImage[]> {
    const archive = imageArchive(recipes, join(this.toolchain.dir, '..', 'images'));
    const started = Date.now();
    await this.ctr(['images', 'import', '--snapshotter', 'overlayfs', archive.file]);
    const importMs = Date.now() - started;
    const listed = (await this.ctr(['images', 'ls', '-q'])).split('\n');
    const out = recipes.map((recipe) => ({
      name: recipe.name,
      ref: normalizedName(recipe.name),
      archive: archive.file,
      cached: archive.cached,
      buildMs: archive.ms,
      importMs,
    }));
    const missing = out.filter((i) => !listed.includes(i.ref)).map((i) => i.ref);
    if (missing.length) throw new Error(`ctr images import ${archive.file} did not make ${missing.join(', ')} (has ${listed.join(' ')})`);
    this.log(`images ${out.map((i) => i.ref).join(', ')}: ${archive.cached ? 'cached' : `built in ${archive.ms} ms`}, imported in ${importMs} ms`);
    return out;
  }

  /**
   * Stops and removes everything the node started or changed (node-host.ts teardown), and its
   * Node object. Returns what is left (empty when all is gone). Safe to call twice.
   */
  stop(): Promise<string[]> {
    this.stopped ??= (async () => {
      await runCommand(this.toolchain.bin('kubectl'), ['delete', 'node', this.name, '--ignore-not-found', '--wait=false'], {
        env: { KUBECONFIG: this.cluster.kubeconfig },
        timeoutMs: 15_000,
      }).catch(() => undefined);
      // Its own daemons first, waiting for their exit events (teardown is synchronous: a child
      // of this process that exited during it would stay a zombie until the event loop runs).
      for (const name of ['kubelet', 'containerd']) await this.stopChild(name, 10_000);
      const state = readState(this.runDir) ?? this.state;
      return teardown(state, (line) => this.log(`stop: ${line}`));
    })();
    return this.stopped;
  }

  /** What of this run is still on the host, its own and (when no other node runs) the shared state: empty when all is gone. */
  leftovers(): string[] {
    return [...leftovers(this.state), ...(this.savedHost && liveRuns(this.state.id).length === 0 ? hostLeftovers(this.savedHost) : [])];
  }
}

/** A real node in `cluster`: containerd and a kubelet, Ready, with the pause image imported. */
export function startNode(cluster: KwokCluster, options: NodeOptions = {}): Promise<RealNode> {
  return RealNode.start(cluster, options);
}
