import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScratchDatabase } from '../review';

/**
 * An embedded PostgreSQL 18 of the review's own, in a temporary folder. `onCleanup` gets each
 * clean-up as soon as there is something to clean (the folder before the server starts), so a
 * Ctrl-C during start-up still removes it; `release` stops the server once, however often called.
 */
export async function scratchPostgres(onCleanup: (cleanup: () => Promise<void> | void) => void): Promise<ScratchDatabase> {
  const { freePort, startPostgres } = await import('../../dev/postgres.mjs');
  const root = mkdtempSync(join(tmpdir(), 'gpu-dev-review-pg-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  const port = await freePort();
  let server: Awaited<ReturnType<typeof startPostgres>>;
  try {
    server = await startPostgres({
      dataDir: join(root, 'data'),
      port,
      password: 'review-only-password',
      persistent: false,
      flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    });
  } catch (cause) {
    throw new Error(`the scratch PostgreSQL 18 did not start on port ${port}: ${(cause as Error).message}`, { cause });
  }
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= server.stop());
  onCleanup(stop);
  return { url: server.url('postgres'), release: stop };
}
