import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { ownPostgres, type OwnPostgres } from '../support/own-postgres';
import { copyOfDatabaseFolders, folderArgs, killRunnerDuring, type RunResult, runRunner, spawnRunner } from '../support/runner';
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
  let killed: RunResult;
  let advisoryLocks: number;
  let before: string;
  let after: string;
  afterAll(() => db.drop());

  // One hook (biome allows one per block): the database, then the run; the budget is the two that
  // the old beforeAll and it had.
  beforeAll(async () => {
    db = await createTestDatabase('kill');
    client = await db.connect();
    before = await snapshot(client);
    killed = await killRunnerDuring(client, ['apply', ...folderArgs(sleepingBundle(60))], { DATABASE_URL: db.url }, 'pg_sleep(60)');
    // This database's advisory locks only: other test files' runs hold theirs in their own databases.
    const locks = await client.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    advisoryLocks = locks.rows[0].n;
    after = await snapshot(client);
  }, 240_000);

  it('then it died of the SIGKILL, inside its transaction', () => {
    expect(killed.signal).toBe('SIGKILL');
  });

  it('then the migration lock is free', () => {
    expect(advisoryLocks).toBe(0);
  });

  it('then the database is unchanged', () => {
    expect(after).toBe(before);
  });

  describe('when the next run starts', () => {
    let next: RunResult;
    beforeAll(async () => {
      next = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders()), '--lock-wait', '5s'], { DATABASE_URL: db.url });
    });

    it('then it exits 0', () => {
      expect(next.code).toBe(0);
    });

    it('then it applies the 6 files', () => {
      expect(next.stdout).toMatch(/applied 6 files/);
    });
  });
});

describe('when PostgreSQL restarts while the runner works', () => {
  let pg: OwnPostgres;
  let runner: ReturnType<typeof spawnRunner> | undefined;
  let watcher: Client | undefined;
  let failed: RunResult;
  const url = () => pg.url();
  // The runner is killed by its PID if it is still running, also when a step failed, before its
  // PostgreSQL goes.
  afterAll(async () => {
    await watcher?.end().catch(() => undefined);
    if (runner !== undefined) {
      runner.child.kill('SIGKILL');
      await runner.result;
    }
    await pg?.remove();
  });

  // One hook: PostgreSQL, then the run; the budget is the two that the old beforeAll and it had.
  beforeAll(async () => {
    pg = await ownPostgres('restart');
    await pg.start();
    runner = spawnRunner(['apply', ...folderArgs(sleepingBundle(60))], { DATABASE_URL: url() });
    const observer = new Client({ connectionString: url() });
    watcher = observer;
    await observer.connect();
    await waitFor('the runner to sleep inside its transaction', async () => {
      const { rows } = await observer.query(
        `SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()`,
      );
      return rows.length === 1;
    });
    observer.on('error', () => undefined);
    await pg.stop();
    failed = await runner.result;
    await observer.end().catch(() => undefined);
    watcher = undefined;
  }, 240_000);

  it('then the runner exits with the connection-lost code, 4 (cannotConnect)', () => {
    expect(failed.code).toBe(4);
    expect(failed.stderr).toContain('exit code 4 (cannotConnect)');
  });

  it('then it says which file lost the connection and to run again once the database is back', () => {
    expect(failed.stderr).toContain('ERROR: schema/006_slow.sql: lost the database connection (terminating connection due to administrator command)');
    expect(failed.stderr).toContain('Run again once the database is back');
  });

  describe('when PostgreSQL is back and the next run starts', () => {
    let next: RunResult;
    let marker: { t: string | null; gpus: number }[];
    beforeAll(async () => {
      await pg.start();
      next = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: url() });
      const check = new Client({ connectionString: url() });
      await check.connect();
      try {
        marker = (await check.query(`SELECT to_regclass('slow_marker') AS t, (SELECT count(*)::int FROM gpu_types) AS gpus`)).rows;
      } finally {
        await check.end();
      }
    });

    it('then it exits 0', () => {
      expect(next.code).toBe(0);
    });

    it('then it applies the 6 files', () => {
      expect(next.stdout).toMatch(/applied 6 files/);
    });

    it("then the interrupted run left nothing and the product's rows are in", () => {
      expect(marker).toEqual([{ t: null, gpus: 10 }]);
    });
  });
});

describe('when 16 runners start at once, 8 on the old bundle and 8 on a new one', () => {
  let db: TestDatabase;
  let results: RunResult[];
  let history: { bundle_hash: string }[];
  let t4: { description: string }[];
  afterAll(() => db.drop());

  // One hook: the database, then the runs; the budget is the two that the old beforeAll and it had.
  beforeAll(async () => {
    db = await createTestDatabase('sixteen');
    const oldBundle = copyOfDatabaseFolders();
    const newBundle = copyOfDatabaseFolders();
    const fixture = join(newBundle.fixturesDir, '001_initial_gpu_types.sql');
    writeFileSync(fixture, readFileSync(fixture, 'utf8').replace("'NVIDIA T4 16 GB, 4 per node'", "'T4, new bundle'"));
    writeFileSync(join(newBundle.schemaDir, '006_add_reservations_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority integer;\n');
    const runs = [oldBundle, newBundle].flatMap((dirs) =>
      Array.from({ length: 8 }, () => runRunner(['apply', '--json', ...folderArgs(dirs)], { DATABASE_URL: db.url })),
    );
    results = await Promise.all(runs);
    const client = await db.connect();
    history = (await client.query(`SELECT bundle_hash FROM schema_migrations ORDER BY run_id`)).rows;
    t4 = (await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 't4'`)).rows;
  }, 240_000);

  it('then each runner on the old bundle exits 0 or 10 (stale)', () => {
    expect(results).toHaveLength(16);
    for (const result of results.slice(0, 8)) expect([0, 10]).toContain(result.code);
  });

  it('then every runner on the new bundle exits 0', () => {
    // Nothing is newer than the new bundle: none of its runners may be refused.
    expect(results.slice(8).map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('then the history ends on the new bundle, applied once', () => {
    const newHash = JSON.parse(results[8].stdout).bundleHash;
    expect(newHash).toMatch(/^[0-9a-f]{64}$/);
    expect(history[history.length - 1].bundle_hash).toBe(newHash);
    expect(history.filter((r) => r.bundle_hash === newHash)).toHaveLength(1);
  });

  it('then at most two runs are recorded', () => {
    expect(history.length).toBeLessThanOrEqual(2);
  });

  it("then the tables hold the new bundle's rows", () => {
    expect(t4).toEqual([{ description: 'T4, new bundle' }]);
  });
});
