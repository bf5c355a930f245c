import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, type RunResult, runRunner } from '../support/runner';
import { waitFor } from '../support/wait';

/** A fresh database and a client on it for the block's tests, dropped after. */
function freshDatabase(): { db: () => TestDatabase; client: () => Client } {
  let db: TestDatabase | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    db = await createTestDatabase('concurrent');
    client = await db.connect();
  });
  afterAll(() => db?.drop());
  return { db: () => db as TestDatabase, client: () => client as Client };
}

describe('gpu-dev-db apply under concurrency and locks', () => {
  describe('when 8 runners start at once on an empty database', () => {
    const { db, client } = freshDatabase();
    let results: RunResult[];
    let history: { runs: number; bundles: number }[];
    let gpus: number;

    beforeAll(async () => {
      const args = ['apply', ...folderArgs(copyOfDatabaseFolders())];
      results = await Promise.all(Array.from({ length: 8 }, () => runRunner(args, { DATABASE_URL: db().url })));
      history = (await client().query(`SELECT count(*)::int AS runs, count(DISTINCT bundle_hash)::int AS bundles FROM schema_migrations`)).rows;
      gpus = (await client().query(`SELECT count(*)::int AS n FROM gpu_types`)).rows[0].n;
    });

    it('then all exit 0', () => {
      expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    });

    it('then one applies the 6 files and the other 7 find them already applied', () => {
      expect(results.filter((r) => /applied 6 files/.test(r.stdout))).toHaveLength(1);
      expect(results.filter((r) => /already applied/.test(r.stdout))).toHaveLength(7);
    });

    it('then the history shows the bundle applied once', () => {
      expect(history).toEqual([{ runs: 1, bundles: 1 }]);
    });

    it("then the fixtures' 10 GPU types are in", () => {
      expect(gpus).toBe(10);
    });
  });

  describe('when another session holds a lock on reservations and a new file alters it', () => {
    /** The product applied, a new file that alters reservations, and a transaction that reads it and stays open. */
    function blockedReservations(): {
      db: () => TestDatabase;
      client: () => Client;
      dirs: () => ReturnType<typeof copyOfDatabaseFolders>;
      blocker: () => Client;
    } {
      const { db, client } = freshDatabase();
      let dirs: ReturnType<typeof copyOfDatabaseFolders> | undefined;
      let blocker: Client | undefined;
      beforeAll(async () => {
        dirs = copyOfDatabaseFolders();
        expect((await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db().url })).code).toBe(0);
        writeFileSync(join(dirs.schemaDir, '006_add_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority INTEGER DEFAULT 0;\n');
        blocker = await db().connect();
        await blocker.query(`SET application_name = 'long-report'`);
        await blocker.query('BEGIN');
        await blocker.query('SELECT count(*) FROM reservations');
      });
      return { db, client, dirs: () => dirs as ReturnType<typeof copyOfDatabaseFolders>, blocker: () => blocker as Client };
    }

    describe('when the lock goes after the runner has waited for it', () => {
      const { db, client, dirs, blocker } = blockedReservations();
      let result: RunResult;
      let column: { column_default: string }[];

      beforeAll(async () => {
        const run = runRunner(['apply', ...folderArgs(dirs()), '--lock-timeout', '200ms', '--lock-retries', '10'], { DATABASE_URL: db().url });
        // Let the runner time out at least once, then end the blocking transaction.
        await waitFor('the runner to wait for the lock', async () => (await lockWaits(client())) > 0, 10_000);
        await new Promise((resolve) => setTimeout(resolve, 700));
        await blocker().query('COMMIT');
        result = await run;
        column = (await client().query(`SELECT column_default FROM information_schema.columns WHERE table_name = 'reservations' AND column_name = 'priority'`))
          .rows;
      });

      it('then each statement gives up after lock_timeout and retries, saying so', () => {
        expect(result.stderr).toMatch(
          /WARNING: schema\/002_reservations\.sql line \d+: lock_timeout reached waiting for a table lock \(retry 1\/10 in 1\.0s\)/,
        );
      });

      it('then it exits 0', () => {
        expect(result.code).toBe(0);
      });

      it('then it applies the 7 files', () => {
        expect(result.stdout).toMatch(/applied 7 files/);
      });

      it('then the new column is there', () => {
        expect(column).toEqual([{ column_default: '0' }]);
      });
    });

    describe('when the lock never goes', () => {
      const { db, client, dirs, blocker } = blockedReservations();
      let result: RunResult;
      let elapsed: number;
      let before: string;
      let after: string;

      beforeAll(async () => {
        before = await snapshot(client());
        const started = Date.now();
        result = await runRunner(['apply', ...folderArgs(dirs()), '--lock-timeout', '100ms', '--lock-retries', '2'], { DATABASE_URL: db().url });
        elapsed = Date.now() - started;
        await blocker().query('ROLLBACK');
        after = await snapshot(client());
      });

      it('then it exits 6 (tableLockTimeout)', () => {
        expect(result.code).toBe(6);
        expect(result.stderr).toContain('exit code 6 (tableLockTimeout)');
      });

      it('then it names the statement and SQLSTATE 55P03', () => {
        expect(result.stderr).toMatch(/ERROR: schema\/002_reservations\.sql line \d+, column \d+: canceling statement due to lock timeout \(SQLSTATE 55P03\)/);
      });

      it('then it names the table and the session holding it', () => {
        expect(result.stderr).toMatch(/table reservations is locked \(AccessShareLock\) by pid \d+ \(long-report\), idle in transaction/);
      });

      it('then it retries exactly its 2 times', () => {
        expect(result.stderr.match(/lock_timeout reached/g)).toHaveLength(2);
      });

      it('then it gives up within its bounded retries', () => {
        // Two retries with 1s and 2s back-off, plus connection and process start.
        expect(elapsed).toBeLessThan(20_000);
      });

      it('then the database is unchanged', () => {
        expect(after).toBe(before);
      });
    });
  });
});

async function lockWaits(client: Client): Promise<number> {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name LIKE 'gpu-dev-db%'`);
  return rows[0].n;
}
