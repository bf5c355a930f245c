import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './repository';

/**
 * The migration runner as one CommonJS file (its dependencies and the SQL parser included),
 * so the Job runs it on a stock Node image. The same checkout gives the same bytes on any
 * machine and in any directory, so the bundle hash is stable. Built by bundle-runner.mjs in a
 * child process (esbuild plugins need the async API; synth and the tests want it synchronously).
 */
export function buildRunnerBundle(): Buffer {
  return execFileSync(process.execPath, [join(__dirname, 'bundle-runner.mjs')], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}
