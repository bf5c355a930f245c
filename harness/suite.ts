import { stopAllCommands } from './command';
import { findToolchain, nodeMissing as findNodeMissing, type Toolchain } from './toolchain';

/**
 * What every cluster-suite file starts with: the toolchain, or the reason it is missing, in which
 * case the file's cases are skipped (counted as skipped, never as passed) and the reason printed.
 */
const found = findToolchain();

const missing: string | undefined = 'missing' in found ? found.missing : undefined;

/** describe, or describe.skip when the toolchain or a provider is missing. */
export const describeWithToolchain: jest.Describe = missing ? describe.skip : describe;

/**
 * describe for cases with a real node (node.ts): skipped, with the reason printed, when the
 * toolchain or the node's own pieces are missing (or this is not root on cgroup v1). Kwok-only
 * files use describeWithToolchain and still run there.
 */
export function describeWithNode(name: string, fn: () => void): void {
  const why = missing ?? findNodeMissing();
  if (why && !missing) console.warn(`real-node cases skipped: ${why}`);
  (why ? describe.skip : describe)(name, fn);
}

export function toolchain(): Toolchain {
  if ('missing' in found) throw new Error(found.missing);
  return found;
}

if (missing) console.warn(`cluster suite skipped: ${missing}`);

afterAll(() => stopAllCommands());
