// The node database's server process (node-database.ts): jest runs TypeScript as CommonJS, which
// cannot load src/dev/postgres.mjs. Usage: node node-postgres.mjs '<startPostgres options as JSON>'
// Prints "ready" when PostgreSQL accepts connections; SIGTERM stops it (fast shutdown) and exits.
import { startPostgres } from '../src/dev/postgres.mjs';

const server = await startPostgres(JSON.parse(process.argv[2]));
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await server.stop();
  process.exit(0);
});
