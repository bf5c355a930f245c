import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The toolchain harness/toolchain/build.sh built (OpenTofu, the control plane, etcd, kwok)
 * and the providers in its mirror. `findToolchain` never builds: .ci/run and `npm run toolchain`
 * do; a suite without one is skipped with the reason. `nodeMissing` says, the same way, why a
 * real node (node.ts) cannot run here: its pieces are built last and only its cases need them.
 */

export interface Toolchain {
  /** `<cache>/<key>`: bin/, tofurc, kwokctl.yaml, kwok-stages.yaml. */
  readonly dir: string;
  /** The filesystem mirror, `<cache>/providers`. */
  readonly providers: string;
  readonly versions: Readonly<Record<string, string>>;
  bin(name: string): string;
}

const BUILD_SCRIPT = join(__dirname, 'toolchain', 'build.sh');

function readVersions(): Record<string, string> {
  const text = readFileSync(join(__dirname, 'toolchain', 'versions.env'), 'utf8');
  return Object.fromEntries([...text.matchAll(/^([A-Z0-9_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
}

function providerBinary(providers: string, name: string, version: string): string {
  return join(providers, 'registry.opentofu.org', 'hashicorp', name, version, 'linux_amd64', `terraform-provider-${name}_v${version}`);
}

/** The toolchain, or why the cluster suite cannot run here (one line). */
export function findToolchain(): Toolchain | { readonly missing: string } {
  let dir: string;
  try {
    dir = execFileSync('bash', [BUILD_SCRIPT, '--print-dir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    const printed = String((error as { stdout?: string }).stdout ?? '').trim();
    return { missing: `the cluster toolchain is not built${printed ? ` in ${printed}` : ''} (npm run toolchain builds it, about 20 minutes cold)` };
  }
  const versions = readVersions();
  const providers = join(process.env.GPU_DEV_TOOLCHAIN_DIR || join(homedir(), '.cache', 'gpu-dev-toolchain'), 'providers');
  for (const [name, version] of [
    ['kubernetes', versions.PROVIDER_KUBERNETES_VERSION],
    ['random', versions.PROVIDER_RANDOM_VERSION],
  ]) {
    if (!existsSync(providerBinary(providers, name, version))) {
      return {
        missing: `no hashicorp/${name} ${version} provider binary in ${providers} (no registry here serves it; see harness/README.md)`,
      };
    }
  }
  if (dirname(providers) !== dirname(dir)) return { missing: `the toolchain folder ${dir} is not beside its mirror ${providers}` };
  return { dir, providers, versions, bin: (name) => join(dir, 'bin', name) };
}

/** Why a real node (node.ts) cannot run here, in one line; undefined when it can. */
export function nodeMissing(): string | undefined {
  let pieces: string[] = [];
  try {
    execFileSync('bash', [BUILD_SCRIPT, '--node-missing'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    pieces = String((error as { stdout?: string }).stdout ?? '')
      .trim()
      .split('\n')
      .filter(Boolean);
    if (pieces.length === 0) pieces = ['(build.sh --node-missing failed)'];
  }
  if (pieces.length)
    return `the node's toolchain pieces are missing: ${pieces.join(', ')} (npm run toolchain builds them; runc, the CNI plugins and iptables are Debian packages it installs as root)`;
  if (process.getuid?.() !== 0) return 'a real node needs root (bridges, cgroups, mounts)';
  if (!/^v20\./.test(process.version))
    return `the node's images are built from this host's Node, which is ${process.version}; the stack's runner image is Node 20`;
  if (!existsSync('/sys/fs/cgroup/memory/tasks') && !existsSync('/sys/fs/cgroup/memory/cgroup.procs'))
    return 'a real node here needs cgroup v1 hierarchies under /sys/fs/cgroup (node.ts is written for cgroup v1)';
  return undefined;
}
