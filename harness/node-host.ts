import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What a real node (node.ts) changes on the host, written down before it is changed, and how it
 * is undone: by `stop()`, and by the next run when a run died (kill -9, a crashed jest). Each run
 * has a folder under NODE_RUNS holding its owner's pid and `state.json`, the plan of everything
 * it will create (bridges, cgroup, network, CNI network name). Undoing is idempotent and works
 * from that file alone, so a run that died half-way is cleaned like one that finished.
 *
 * Shared by the host, not by a run: the sysctls the kubelet and the bridge plugin set, and the
 * iptables chains (KUBE-*, CNI-*) anything of a node adds. The first node alive saves them in
 * `host.json`; the last one to stop restores them and removes the file.
 */

/** Short on purpose: containerd's shim sockets go in `<run>/s`, at most 42 characters. */
export const NODE_RUNS = (() => {
  const preferred = join(tmpdir(), 'gpu-dev-node-runs');
  return preferred.length + '/000000/s'.length <= 42 ? preferred : '/tmp/gpu-dev-node-runs';
})();
const HOST_FILE = join(NODE_RUNS, 'host.json');
const LOCK = join(NODE_RUNS, '.lock');

/** The kubelet sets these (setupKernelTunables), the bridge plugin the last. */
export const SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
] as const;

/** Folders outside the run's folder that the kubelet or the CNI plugins write, whatever their settings. */
const HOST_PATHS = {
  /** The kubelet's container log links (kubelet.ContainerLogsDir, not configurable). */
  containerLogs: '/var/log/containers',
  /** The device manager's socket folder (deviceplugin.DevicePluginPath, not configurable). */
  devicePlugins: '/var/lib/kubelet/device-plugins',
  kubeletDir: '/var/lib/kubelet',
  /** libcni's results cache (containerd does not set its CacheDir). */
  cniResults: '/var/lib/cni/results',
  cniDir: '/var/lib/cni',
} as const;

const IPTABLES = ['iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy'] as const;
const CHAIN = /^(KUBE|CNI)-/;

export interface NodeRunState {
  readonly id: string;
  readonly owner: number;
  readonly runDir: string;
  readonly nodeName: string;
  /** The empty bridge holding the node's /32 address. */
  readonly nodeBridge: string;
  /** The CNI bridge of the pods. */
  readonly podBridge: string;
  readonly cniNetwork: string;
  /** The kubelet's cgroupRoot (a folder of that name in every cgroup v1 hierarchy). */
  readonly cgroup: string;
  /** n of 10.(200 + n/256).(n%256).0/24. */
  readonly net: number;
  readonly address: string;
  readonly podSubnet: string;
  readonly gateway: string;
}

/** 10.200.0.0/12-ish: 4096 /24s, one per run: pods in the lower /25, the node address .254. */
export function networkOf(net: number): { address: string; podSubnet: string; gateway: string; prefix: string } {
  const prefix = `10.${200 + (net >> 8)}.${net & 255}`;
  return { prefix, address: `${prefix}.254`, podSubnet: `${prefix}.0/25`, gateway: `${prefix}.1` };
}

function ipv4(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Whether two IPv4 CIDRs share an address. */
export function overlaps(cidr: string, others: readonly string[]): boolean {
  const range = (c: string) => {
    const [address, bits = '32'] = c.split('/');
    const size = 2 ** (32 - Number(bits));
    const start = Math.floor(ipv4(address) / size) * size;
    return [start, start + size - 1];
  };
  const [a0, a1] = range(cidr);
  return others.some((o) => {
    const [b0, b1] = range(o);
    return a0 <= b1 && b0 <= a1;
  });
}

/** Every IPv4 address and route destination of the host (all tables), as CIDRs; the default route left out. */
export function hostNetworks(): string[] {
  const out: string[] = [];
  for (const line of run('ip', ['-4', '-o', 'addr', 'show']).stdout.split('\n')) {
    const m = /inet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(line);
    if (m) out.push(m[1]);
  }
  for (const line of run('ip', ['-4', 'route', 'show', 'table', 'all']).stdout.split('\n')) {
    const m = /^(?:\w+ )?(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)\s/.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

// --- small host helpers ------------------------------------------------------------------------

export type Log = (line: string) => void;

/** Whether a process runs (a zombie, exited but not yet reaped by its parent, does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // The state follows the command name in parentheses, which may itself hold ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function run(file: string, args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  return { code: result.error ? -1 : result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? (result.error?.message || '') };
}

export function sh(log: Log, file: string, args: readonly string[]): boolean {
  const result = run(file, args);
  if (result.code !== 0) log(`${file} ${args.join(' ')}: exit ${result.code}: ${result.stderr.trim()}`);
  return result.code === 0;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Processes whose command line names the run's folder (kubelet, containerd, shims, a database of the run). */
export function processesOf(runDir: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmd = cmdline(pid);
    if (cmd.includes(`${runDir}/`)) out.push({ pid, cmd });
  }
  return out;
}

/**
 * Mounted cgroup hierarchies: the v1 ones (/sys/fs/cgroup/<controller>), and with `unified` the
 * v2 one of a hybrid host too (/sys/fs/cgroup/unified, controller-less: runc makes the
 * containers' cgroups there as well).
 */
export function cgroupHierarchies(unified = false): string[] {
  return mounts()
    .filter((m) => m.fstype === 'cgroup' || (unified && m.fstype === 'cgroup2'))
    .map((m) => m.mountPoint);
}

/** Folders of `cgroup` in every hierarchy (v1 and the unified one), deepest first. */
function cgroupFolders(cgroup: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
    out.push(dir);
  };
  for (const hierarchy of cgroupHierarchies(true)) {
    const root = join(hierarchy, cgroup);
    if (existsSync(root)) walk(root);
  }
  return out;
}

function cgroupProcesses(cgroup: string): number[] {
  const pids = new Set<number>();
  for (const folder of cgroupFolders(cgroup)) {
    try {
      for (const line of readFileSync(join(folder, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) pids.add(Number(line));
    } catch {
      // Gone meanwhile.
    }
  }
  return [...pids];
}

/** The kubelet's cgroupRoot, made in every hierarchy (cpuset needs its cpus and mems before a task can join). */
export function createCgroup(cgroup: string): void {
  for (const hierarchy of cgroupHierarchies()) {
    const dir = join(hierarchy, cgroup);
    mkdirSync(dir, { recursive: true });
    if (existsSync(join(hierarchy, 'cpuset.cpus'))) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, file), readFileSync(join(hierarchy, file), 'utf8').trim());
    }
  }
}

interface Mount {
  readonly mountPoint: string;
  readonly fstype: string;
}

function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      return { mountPoint: unescapeMount(fields[4]), fstype: fields[dash + 1] };
    });
}

export function mountsUnder(dir: string): string[] {
  return mounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

export function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function writeSysctl(log: Log, name: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, value);
  } catch (error) {
    log(`cannot restore ${name}=${value}: ${(error as Error).message}`);
  }
}

/** `<command>:<table>:<chain>` for every chain iptables (nft and legacy, v4 and v6) has. */
export function iptablesChains(): string[] {
  const out: string[] = [];
  for (const command of IPTABLES) {
    const saved = run(`${command}-save`, []);
    if (saved.code !== 0) continue;
    let table = '';
    for (const line of saved.stdout.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1).trim();
      else if (line.startsWith(':')) out.push(`${command}:${table}:${line.slice(1).split(' ')[0]}`);
    }
  }
  return out;
}

/** Removes KUBE-*, CNI-* chains not in `before`: first the rules jumping to them, then their rules, then them. */
function removeChains(log: Log, before: readonly string[]): string[] {
  const keep = new Set(before);
  const removed: string[] = [];
  for (const command of IPTABLES) {
    const saved = run(`${command}-save`, []);
    if (saved.code !== 0) continue;
    let table = '';
    const rules: { table: string; rule: string }[] = [];
    const chains: { table: string; chain: string }[] = [];
    for (const line of saved.stdout.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1).trim();
      else if (line.startsWith(':')) {
        const chain = line.slice(1).split(' ')[0];
        if (CHAIN.test(chain) && !keep.has(`${command}:${table}:${chain}`)) chains.push({ table, chain });
      } else if (line.startsWith('-A ')) rules.push({ table, rule: line });
    }
    for (const { table: t, chain } of chains) {
      for (const { rule } of rules.filter((r) => r.table === t && new RegExp(`\\s-[jg] ${chain}(\\s|$)`).test(r.rule))) {
        sh(log, command, ['-t', t, '-D', ...rule.slice(3).split(/\s+/)]);
      }
    }
    for (const { table: t, chain } of chains) sh(log, command, ['-t', t, '-F', chain]);
    for (const { table: t, chain } of chains) if (sh(log, command, ['-t', t, '-X', chain])) removed.push(`${command}:${t}:${chain}`);
  }
  return removed;
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Links enslaved to a bridge (the pods' veths). */
function portsOf(bridge: string): string[] {
  const dir = `/sys/class/net/${bridge}/brif`;
  return existsSync(dir) ? readdirSync(dir) : [];
}

// --- the shared host state ---------------------------------------------------------------------

interface HostState {
  readonly sysctls: Record<string, string>;
  readonly chains: string[];
  /** HOST_PATHS that did not exist before the first node: removed (when empty of others' files) by the last. */
  readonly absent: string[];
}

/** Holds NODE_RUNS/.lock for `fn` (a folder made atomically; one whose owner died is taken over). Bounded. */
export function withLock<T>(log: Log, fn: () => T): T {
  mkdirSync(NODE_RUNS, { recursive: true });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'owner'), String(process.pid));
      break;
    } catch {
      const owner = Number(readFileSync(join(LOCK, 'owner'), { encoding: 'utf8', flag: 'a+' }).trim());
      if (!(owner > 0 && alive(owner)) || owner === process.pid) {
        log(`taking over ${LOCK} from ${owner > 0 ? `dead pid ${owner}` : 'nobody'}`);
        rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${LOCK} held by pid ${owner} for 30 s`);
      log(`waiting for ${LOCK} (pid ${owner})`);
      sleep(200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export function readState(runDir: string): NodeRunState | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8')) as NodeRunState;
  } catch {
    return undefined;
  }
}

/** The node runs whose owner is alive, other than `except`. */
export function liveRuns(except?: string): NodeRunState[] {
  if (!existsSync(NODE_RUNS)) return [];
  return readdirSync(NODE_RUNS)
    .filter((name) => !name.startsWith('.') && !name.includes('.') && name !== except)
    .map((name) => readState(join(NODE_RUNS, name)))
    .filter((s): s is NodeRunState => s !== undefined && alive(s.owner));
}

/** Saves the shared host state when no other node is alive (call under the lock, before changing anything). */
export function saveHostState(log: Log, id: string): void {
  if (liveRuns(id).length > 0 && existsSync(HOST_FILE)) {
    log(
      `host state already saved by a live node run (${liveRuns(id)
        .map((r) => r.id)
        .join(', ')})`,
    );
    return;
  }
  const state: HostState = {
    sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, readSysctl(name)]).filter(([, v]) => v !== undefined)),
    chains: iptablesChains(),
    absent: Object.values(HOST_PATHS).filter((p) => !existsSync(p)),
  };
  writeFileSync(HOST_FILE, JSON.stringify(state, null, 2));
  log(`saved host state: ${JSON.stringify(state.sysctls)}, ${state.chains.length} iptables chains, absent ${state.absent.join(' ')}`);
}

/** The saved host state, for a test's "everything restored" check. */
export function savedHostState(): HostState | undefined {
  try {
    return JSON.parse(readFileSync(HOST_FILE, 'utf8')) as HostState;
  } catch {
    return undefined;
  }
}

/** Restores the shared host state when no other node is alive (call under the lock). */
function restoreHostState(log: Log, id: string): void {
  const others = liveRuns(id);
  if (others.length > 0) {
    log(`host state left for the live node runs ${others.map((r) => r.id).join(', ')}`);
    return;
  }
  const state = savedHostState();
  if (!state) return;
  for (const [name, value] of Object.entries(state.sysctls)) {
    if (readSysctl(name) !== value) {
      log(`sysctl ${name}: ${readSysctl(name)} -> ${value}`);
      writeSysctl(log, name, value);
    }
  }
  const removed = removeChains(log, state.chains);
  if (removed.length) log(`removed iptables chains ${removed.join(' ')}`);
  // The device manager's socket goes with the last kubelet; then folders that were not there before.
  rmSync(join(HOST_PATHS.devicePlugins, 'kubelet.sock'), { force: true });
  rmSync(join(HOST_PATHS.devicePlugins, 'kubelet_internal_checkpoint'), { force: true });
  for (const path of [HOST_PATHS.containerLogs, HOST_PATHS.devicePlugins, HOST_PATHS.kubeletDir, HOST_PATHS.cniResults, HOST_PATHS.cniDir]) {
    if (state.absent.includes(path) && existsSync(path)) {
      try {
        rmdirSync(path);
        log(`removed ${path}`);
      } catch (error) {
        log(`left ${path}: ${(error as NodeJS.ErrnoException).code} (something else wrote to it)`);
      }
    }
  }
  rmSync(HOST_FILE, { force: true });
}

// --- tearing a run down ------------------------------------------------------------------------

/** SIGTERM, and SIGKILL after `graceMs` (0: SIGKILL at once); waits (bounded) until they are gone. */
function killAll(log: Log, pids: readonly number[], what: string, graceMs: number): void {
  if (pids.length === 0) return;
  log(`${graceMs > 0 ? 'stopping' : 'killing'} ${what}: ${pids.join(' ')}`);
  for (const pid of pids) {
    try {
      process.kill(pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  const deadline = Date.now() + (graceMs || 10_000);
  while (pids.some(alive) && Date.now() < deadline) sleep(50);
  const left = pids.filter(alive);
  if (left.length && graceMs === 0) log(`${what} still there 10 s after SIGKILL: ${left.join(' ')}`);
  else if (left.length) {
    log(`${what} still running after ${graceMs} ms: SIGKILL ${left.join(' ')}`);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    const killDeadline = Date.now() + 10_000;
    while (left.some(alive) && Date.now() < killDeadline) sleep(50);
  }
}

function recordedPid(runDir: string, name: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(runDir, 'pids', `${name}.pid`), 'utf8').trim());
    // Only if it still is that process (pids are reused).
    return pid > 1 && alive(pid) && cmdline(pid).includes(`${runDir}/`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** libcni's cached results of the run: its network's, and any whose network namespace is in its folder. */
function cniResultsOf(state: NodeRunState): string[] {
  if (!existsSync(HOST_PATHS.cniResults)) return [];
  return readdirSync(HOST_PATHS.cniResults)
    .map((name) => join(HOST_PATHS.cniResults, name))
    .filter((file) => {
      if (file.slice(HOST_PATHS.cniResults.length + 1).startsWith(`${state.cniNetwork}-`)) return true;
      try {
        const { netns } = JSON.parse(readFileSync(file, 'utf8')) as { netns?: string };
        return typeof netns === 'string' && netns.startsWith(`${state.runDir}/`);
      } catch {
        return false;
      }
    });
}

/**
 * Undoes everything of a run: its processes (kubelet; every process in its cgroups; containerd;
 * the shims and anything else naming its folder), its mounts, cgroups, bridges and veths, the
 * host folders' entries it made, and (when it is the last node alive) the shared host state.
 * Removes its folder only when nothing is mounted under it any more. Returns what is left.
 */
export function teardown(state: NodeRunState, log: Log): string[] {
  const { runDir } = state;
  const kubelet = recordedPid(runDir, 'kubelet');
  if (kubelet) killAll(log, [kubelet], 'the kubelet', 10_000);
  for (let round = 0; round < 5; round++) {
    const pids = cgroupProcesses(state.cgroup);
    if (pids.length === 0) break;
    killAll(log, pids, `the processes in cgroup ${state.cgroup} (round ${round + 1})`, 0);
  }
  const containerd = recordedPid(runDir, 'containerd');
  if (containerd) killAll(log, [containerd], 'containerd', 10_000);
  killAll(
    log,
    processesOf(runDir).map((p) => p.pid),
    'the other processes of the run (shims, a database)',
    5_000,
  );

  const mounted = mountsUnder(runDir).sort((a, b) => b.length - a.length);
  if (mounted.length) {
    log(`unmounting ${mounted.length} mounts under ${runDir}`);
    for (const mountPoint of mounted) if (!sh(() => undefined, 'umount', [mountPoint])) sh(log, 'umount', ['-l', mountPoint]);
  }

  for (let round = 0; round < 50; round++) {
    const folders = cgroupFolders(state.cgroup);
    if (folders.length === 0) break;
    for (const folder of folders) {
      try {
        rmdirSync(folder);
      } catch (error) {
        if (round === 49) log(`cannot remove cgroup ${folder}: ${(error as NodeJS.ErrnoException).code}`);
      }
    }
    if (cgroupFolders(state.cgroup).length) {
      if (round % 10 === 9) log(`cgroup ${state.cgroup} still has folders; retrying (round ${round + 1})`);
      for (const pid of cgroupProcesses(state.cgroup)) killAll(log, [pid], 'a process still in the cgroup', 0);
      sleep(100);
    }
  }

  for (const port of portsOf(state.podBridge)) sh(log, 'ip', ['link', 'delete', port]);
  for (const bridge of [state.podBridge, state.nodeBridge]) if (linkExists(bridge)) sh(log, 'ip', ['link', 'delete', bridge]);

  // Host folders' entries of this run: container log links into it, the CNI results of its network.
  if (existsSync(HOST_PATHS.containerLogs)) {
    for (const name of readdirSync(HOST_PATHS.containerLogs)) {
      const path = join(HOST_PATHS.containerLogs, name);
      try {
        if (lstatSync(path).isSymbolicLink() && readlinkSync(path).startsWith(`${runDir}/`)) unlinkSync(path);
      } catch {
        // Gone meanwhile.
      }
    }
  }
  for (const file of cniResultsOf(state)) rmSync(file, { force: true });

  withLock(log, () => restoreHostState(log, state.id));

  const left = leftovers(state);
  // The harness log of the last run that went, for a look afterwards.
  try {
    copyFileSync(join(runDir, 'harness.log'), join(NODE_RUNS, 'last-run.log'));
  } catch {
    // No log (a run that died before writing one).
  }
  if (mountsUnder(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
  else log(`kept ${runDir}: mounts are left under it`);
  return left.filter((l) => !l.startsWith('folder '));
}

/** What of a run is still on the host (empty when it is all gone; its folder counts). */
export function leftovers(state: NodeRunState): string[] {
  const left: string[] = [];
  for (const p of processesOf(state.runDir)) left.push(`process ${p.pid}: ${p.cmd.slice(0, 200)}`);
  for (const pid of cgroupProcesses(state.cgroup)) left.push(`process ${pid} in cgroup ${state.cgroup}: ${cmdline(pid).slice(0, 200)}`);
  for (const m of mountsUnder(state.runDir)) left.push(`mount ${m}`);
  for (const f of cgroupFolders(state.cgroup)) left.push(`cgroup ${f}`);
  for (const link of [state.nodeBridge, state.podBridge]) if (linkExists(link)) left.push(`link ${link}`);
  if (existsSync(HOST_PATHS.containerLogs)) {
    for (const name of readdirSync(HOST_PATHS.containerLogs)) {
      try {
        if (readlinkSync(join(HOST_PATHS.containerLogs, name)).startsWith(`${state.runDir}/`)) left.push(`log link ${join(HOST_PATHS.containerLogs, name)}`);
      } catch {
        // Not a link.
      }
    }
  }
  for (const file of cniResultsOf(state)) left.push(`CNI result ${file}`);
  if (existsSync(state.runDir)) left.push(`folder ${state.runDir}`);
  return left;
}

/**
 * What the host shares that is not as before the first node (sysctls, KUBE-*, CNI-* chains,
 * folders), against `saved` (savedHostState() read while a node ran); empty when restored.
 */
export function hostLeftovers(saved: HostState): string[] {
  const left: string[] = [];
  for (const [name, value] of Object.entries(saved.sysctls)) if (readSysctl(name) !== value) left.push(`sysctl ${name}=${readSysctl(name)} (was ${value})`);
  const before = new Set(saved.chains);
  for (const chain of iptablesChains()) if (CHAIN.test(chain.split(':')[2]) && !before.has(chain)) left.push(`iptables chain ${chain}`);
  for (const path of saved.absent) if (existsSync(path)) left.push(`folder ${path}`);
  return left;
}

/** Tears down every node run whose owner is gone (before a new one starts). */
export function sweepDeadNodes(log: Log = (line) => process.stderr.write(`[real node] ${line}\n`)): string[] {
  if (!existsSync(NODE_RUNS)) return [];
  const swept: string[] = [];
  for (const name of readdirSync(NODE_RUNS)) {
    if (name.startsWith('.') || name.includes('.')) continue;
    const runDir = join(NODE_RUNS, name);
    const owner = Number(readFileSync(join(runDir, 'owner.pid'), { encoding: 'utf8', flag: 'a+' }).trim());
    if (owner > 0 && alive(owner)) continue;
    const state = readState(runDir);
    const sweepLog: Log = (line) => log(`sweep of dead run ${name}: ${line}`);
    if (state) teardown(state, sweepLog);
    else if (mountsUnder(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
    swept.push(runDir);
  }
  // A host state nobody alive saved (its run folder already gone): restore it now.
  if (existsSync(HOST_FILE) && liveRuns().length === 0) withLock(log, () => restoreHostState(log, ''));
  return swept;
}
