import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

/** Repository root: the one folder synth output and bundles are relative to. */
export const REPO_ROOT = resolve(__dirname, '..');

/**
 * The migration runner as one CommonJS file (its dependencies and the SQL parser included),
 * so the Job runs it on a stock Node image. The same checkout gives the same bytes on any
 * machine and in any directory, so the bundle hash is stable. Built by
 * scripts/bundle-runner.mjs in a child process (esbuild plugins need the async API).
 */
export function buildRunnerBundle(): Buffer {
  return execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'bundle-runner.mjs')], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}
