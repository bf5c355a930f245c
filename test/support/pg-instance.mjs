// A PostgreSQL 18 of its own for fault tests that stop and restart the server, which the
// shared one (global-setup.mjs) must not do. Usage: node pg-instance.mjs DATA_DIR PORT
// Prints "ready" when it accepts connections; SIGTERM stops it (fast shutdown) and exits.
import { startPostgres } from '../../src/dev/postgres.mjs';

const [dataDir, port] = process.argv.slice(2);
const server = await startPostgres({ dataDir, port: Number(port), password: 'test-only-password', flags: ['-c', 'fsync=off'] });
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await server.stop();
  process.exit(0);
});
