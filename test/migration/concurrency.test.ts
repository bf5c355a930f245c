import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, runRunner } from '../support/runner';
import { waitFor } from '../support/wait';

describe('gpu-dev-db apply under concurrency and locks', () => {
  let db: TestDatabase;
  let client: Client;

  beforeEach(async () => {
    db = await createTestDatabase('concurrent');
    client = await db.connect();
  });
  afterEach(() => db.drop());

  it('when 8 runners start at once on an empty database, then all exit 0 and the history shows the bundle applied once', async () => {
    const args = ['apply', ...folderArgs(copyOfDatabaseFolders())];
    const results = await Promise.all(Array.from({ length: 8 }, () => runRunner(args, { DATABASE_URL: db.url })));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(results.filter((r) => /applied 6 files/.test(r.stdout))).toHaveLength(1);
    expect(results.filter((r) => /already applied/.test(r.stdout))).toHaveLength(7);
    const history = await client.query(`SELECT count(*)::int AS runs, count(DISTINCT bundle_hash)::int AS bundles FROM schema_migrations`);
    expect(history.rows).toEqual([{ runs: 1, bundles: 1 }]);
    const gpus = await client.query(`SELECT count(*)::int AS n FROM gpu_types`);
    expect(gpus.rows[0].n).toBe(10);
  });

  describe('when another session holds a lock on reservations and a new file alters it', () => {
    let dirs: ReturnType<typeof copyOfDatabaseFolders>;
    let blocker: Client;

    beforeEach(async () => {
      dirs = copyOfDatabaseFolders();
      expect((await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url })).code).toBe(0);
      writeFileSync(join(dirs.schemaDir, '006_add_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority INTEGER DEFAULT 0;\n');
      blocker = await db.connect();
      await blocker.query(`SET application_name = 'long-report'`);
      await blocker.query('BEGIN');
      await blocker.query('SELECT count(*) FROM reservations');
    });

    it('then each statement gives up after lock_timeout, retries, and succeeds once the lock is gone', async () => {
      const run = runRunner(['apply', ...folderArgs(dirs), '--lock-timeout', '200ms', '--lock-retries', '10'], { DATABASE_URL: db.url });
      // Let the runner time out at least once, then end the blocking transaction.
      await waitFor('the runner to wait for the lock', async () => (await lockWaits(client)) > 0, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 700));
      await blocker.query('COMMIT');
      const result = await run;
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/WARNING: schema\/002_reservations\.sql line \d+: lock_timeout reached waiting for a table lock \(retry 1\/10 in 1\.0s\)/);
      expect(result.stdout).toMatch(/applied 7 files/);
      const column = await client.query(`SELECT column_default FROM information_schema.columns WHERE table_name = 'reservations' AND column_name = 'priority'`);
      expect(column.rows).toEqual([{ column_default: '0' }]);
    });

    it('then, when the lock never goes, it exits 6 naming the table and the session holding it, within its bounded retries', async () => {
      const before = await snapshot(client);
      const started = Date.now();
      const result = await runRunner(['apply', ...folderArgs(dirs), '--lock-timeout', '100ms', '--lock-retries', '2'], { DATABASE_URL: db.url });
      const elapsed = Date.now() - started;
      await blocker.query('ROLLBACK');
      expect(result.code).toBe(6);
      expect(result.stderr).toMatch(/ERROR: schema\/002_reservations\.sql line \d+, column \d+: canceling statement due to lock timeout \(SQLSTATE 55P03\)/);
      expect(result.stderr).toMatch(/table reservations is locked \(AccessShareLock\) by pid \d+ \(long-report\), idle in transaction/);
      expect(result.stderr).toContain('exit code 6 (tableLockTimeout)');
      expect(result.stderr.match(/lock_timeout reached/g)).toHaveLength(2);
      // Two retries with 1s and 2s back-off, plus connection and process start.
      expect(elapsed).toBeLessThan(20_000);
      expect(await snapshot(client)).toBe(before);
    });
  });
});

async function lockWaits(client: Client): Promise<number> {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name LIKE 'gpu-dev-db%'`);
  return rows[0].n;
}
