import { stopAllCommands } from './command';
import { findToolchain, type Toolchain } from './toolchain';

/**
 * What every cluster-suite file starts with: the toolchain, or the reason it is missing, in which
 * case the file's cases are skipped (counted as skipped, never as passed) and the reason printed.
 */
const found = findToolchain();

export const missing: string | undefined = 'missing' in found ? found.missing : undefined;

/** describe, or describe.skip when the toolchain or a provider is missing. */
export const describeWithToolchain: jest.Describe = missing ? describe.skip : describe;

export function toolchain(): Toolchain {
  if ('missing' in found) throw new Error(found.missing);
  return found;
}

if (missing) console.warn(`cluster suite skipped: ${missing}`);

afterAll(() => stopAllCommands());
