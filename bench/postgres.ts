import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/** A throwaway embedded PostgreSQL 18 for the benchmarks; `stop()` removes its data. */
export async function startBenchPostgres(): Promise<{
  url: (database: string) => string;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}> {
  const { freePort, startPostgres } = await import('../src/dev/postgres.mjs');
  const parent = mkdtempSync(join(tmpdir(), 'gpu-dev-bench-pg-'));
  // Many tables in one transaction need many lock slots (the 5,000-file bundle).
  const server = await startPostgres({
    dataDir: join(parent, 'data'),
    port: await freePort(),
    password: 'bench-only-password',
    persistent: false,
    flags: ['-c', 'max_locks_per_transaction=256'],
  });
  return {
    url: server.url,
    async createDatabase(name) {
      const admin = new Client({ connectionString: server.url('postgres') });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      return server.url(name);
    },
    async stop() {
      await server.stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
