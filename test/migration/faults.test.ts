import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { ownPostgres, type OwnPostgres } from '../support/own-postgres';
import { copyOfDatabaseFolders, folderArgs, killRunnerDuring, runRunner, spawnRunner } from '../support/runner';
import { waitFor } from '../support/wait';

/** A bundle whose new file sleeps inside the run's transaction, after real DDL. */
function sleepingBundle(seconds: number) {
  const dirs = copyOfDatabaseFolders();
  writeFileSync(join(dirs.schemaDir, '006_slow.sql'), `CREATE TABLE IF NOT EXISTS slow_marker (id integer);\nSELECT pg_sleep(${seconds});\n`);
  return dirs;
}

describe('when the runner is killed with SIGKILL in the middle of its transaction', () => {
  let db: TestDatabase;
  let client: Client;
  beforeAll(async () => {
    db = await createTestDatabase('kill');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  it('then the database is unchanged, the migration lock is free, and the next run succeeds', async () => {
    const before = await snapshot(client);
    const killed = await killRunnerDuring(client, ['apply', ...folderArgs(sleepingBundle(60))], { DATABASE_URL: db.url }, 'pg_sleep(60)');
    expect(killed.signal).toBe('SIGKILL');
    // This database's advisory locks only: other test files' runs hold theirs in their own databases.
    const locks = await client.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(locks.rows[0].n).toBe(0);
    expect(await snapshot(client)).toBe(before);

    const next = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders()), '--lock-wait', '5s'], { DATABASE_URL: db.url });
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/applied 6 files/);
  });
});

describe('when PostgreSQL restarts while the runner works', () => {
  let pg: OwnPostgres;
  const url = () => pg.url();
  beforeAll(async () => {
    pg = await ownPostgres('restart');
    await pg.start();
  });
  afterAll(() => pg.remove());

  it('then the runner exits with the connection-lost code and a clear message, and the next run succeeds', async () => {
    const { result } = spawnRunner(['apply', ...folderArgs(sleepingBundle(60))], { DATABASE_URL: url() });
    const watcher = new Client({ connectionString: url() });
    await watcher.connect();
    await waitFor('the runner to sleep inside its transaction', async () => {
      const { rows } = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()`);
      return rows.length === 1;
    });
    watcher.on('error', () => undefined);
    await pg.stop();
    const failed = await result;
    expect(failed.code).toBe(4);
    expect(failed.stderr).toContain('ERROR: schema/006_slow.sql: lost the database connection (terminating connection due to administrator command)');
    expect(failed.stderr).toContain('Run again once the database is back');
    expect(failed.stderr).toContain('exit code 4 (cannotConnect)');
    await watcher.end().catch(() => undefined);

    await pg.start();
    const next = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: url() });
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/applied 6 files/);
    const check = new Client({ connectionString: url() });
    await check.connect();
    const marker = await check.query(`SELECT to_regclass('slow_marker') AS t, (SELECT count(*)::int FROM gpu_types) AS gpus`);
    await check.end();
    expect(marker.rows).toEqual([{ t: null, gpus: 10 }]);
  });
});

describe('when 16 runners start at once, 8 on the old bundle and 8 on a new one', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('sixteen');
  });
  afterAll(() => db.drop());

  it('then each exits 0 or 10 (stale), and the database ends on the new bundle, applied once', async () => {
    const oldBundle = copyOfDatabaseFolders();
    const newBundle = copyOfDatabaseFolders();
    const fixture = join(newBundle.fixturesDir, '001_initial_gpu_types.sql');
    writeFileSync(fixture, readFileSync(fixture, 'utf8').replace("'NVIDIA T4 16 GB, 4 per node'", "'T4, new bundle'"));
    writeFileSync(join(newBundle.schemaDir, '006_add_reservations_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority integer;\n');
    const runs = [oldBundle, newBundle].flatMap((dirs) =>
      Array.from({ length: 8 }, () => runRunner(['apply', '--json', ...folderArgs(dirs)], { DATABASE_URL: db.url })),
    );
    const results = await Promise.all(runs);
    for (const result of results.slice(0, 8)) expect([0, 10]).toContain(result.code);
    // Nothing is newer than the new bundle: none of its runners may be refused.
    expect(results.slice(8).map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const newHash = JSON.parse(results[8].stdout).bundleHash;
    expect(newHash).toMatch(/^[0-9a-f]{64}$/);
    const client = await db.connect();
    const history = await client.query(`SELECT bundle_hash FROM schema_migrations ORDER BY run_id`);
    expect(history.rows[history.rows.length - 1].bundle_hash).toBe(newHash);
    expect(history.rows.filter((r) => r.bundle_hash === newHash)).toHaveLength(1);
    expect(history.rows.length).toBeLessThanOrEqual(2);
    const t4 = await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 't4'`);
    expect(t4.rows).toEqual([{ description: 'T4, new bundle' }]);
  });
});
