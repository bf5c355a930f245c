// One real PostgreSQL 18 for the whole jest run; each test file creates its own database in
// it (test/support/database.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startPostgres } from '../../src/dev/postgres.mjs';

export default async function globalSetup() {
  const parent = mkdtempSync(join(tmpdir(), 'gpu-dev-test-pg-'));
  const server = await startPostgres({
    dataDir: join(parent, 'data'),
    port: await freePort(),
    password: 'test-only-password',
    persistent: false,
    // Durability is not under test; these make DDL-heavy tests several times faster.
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
  });
  globalThis.__GPU_DEV_TEST_PG__ = { server, parent };
  process.env.TEST_PG_ADMIN_URL = server.url('postgres');
}
