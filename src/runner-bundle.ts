import { buildSync } from 'esbuild';
import { join, resolve } from 'node:path';

/** Repository root: the one folder synth output and bundles are relative to. */
export const REPO_ROOT = resolve(__dirname, '..');

/**
 * Bundles the migration runner into one CommonJS file (its dependencies included), so the Job
 * runs it on a stock Node image. Paths in the output are relative to the repository, so the
 * bytes (and so the bundle hash) are the same in any checkout directory on any machine.
 */
export function buildRunnerBundle(): Buffer {
  const result = buildSync({
    absWorkingDir: REPO_ROOT,
    entryPoints: [join('src', 'migration', 'cli.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    charset: 'ascii',
    legalComments: 'eof',
    // pg loads its optional native binding only when asked for; the runner never asks.
    external: ['pg-native'],
    logLevel: 'silent',
  });
  return Buffer.from(result.outputFiles[0].contents);
}
