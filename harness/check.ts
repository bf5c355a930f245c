// `npx tsx harness/check.ts`: exit 0 when the cluster suite can run here, else print why (one line) and exit 1.
import { findToolchain } from './toolchain';

const found = findToolchain();
if ('missing' in found) {
  process.stdout.write(`${found.missing}\n`);
  process.exitCode = 1;
}
