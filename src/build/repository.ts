import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Repository root: the one folder synth output and bundles are relative to. */
export const REPO_ROOT = resolve(__dirname, '..', '..');

/** This checkout's SQL: what the stack ships and the local stack, the bench and the tests apply by default. */
export const DATABASE_FOLDERS = {
  schemaDir: join(REPO_ROOT, 'database', 'schema'),
  fixturesDir: join(REPO_ROOT, 'database', 'fixtures'),
} as const;

/**
 * Gives `root` this checkout's node_modules as its own: hard links (cp -al), or a copy across
 * filesystems. Not a symbolic link: through one the runner's bundler resolves every package to a
 * path outside `root`, which changes the runner's bytes, and so the bundle hash and the Job's name.
 */
export function linkNodeModules(root: string, timeoutMs: number): 'hard links' | 'a copy' {
  const modules = join(root, 'node_modules');
  const from = join(REPO_ROOT, 'node_modules');
  const linked = spawnSync('cp', ['-al', from, modules], { encoding: 'utf8', timeout: timeoutMs });
  if (!linked.error && linked.status === 0) return 'hard links';
  rmSync(modules, { recursive: true, force: true });
  const copied = spawnSync('cp', ['-a', from, modules], { encoding: 'utf8', timeout: timeoutMs });
  if (copied.error || copied.status !== 0) {
    rmSync(modules, { recursive: true, force: true });
    throw new Error(`cannot give ${root} this checkout's node_modules (cp -al, then cp -a): ${copied.error?.message ?? copied.stderr.trim()}`, {
      cause: copied.error,
    });
  }
  return 'a copy';
}
