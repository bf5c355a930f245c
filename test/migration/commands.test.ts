import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, type RunResult, runRunner } from '../support/runner';

describe('gpu-dev-db status, plan and verify', () => {
  let db: TestDatabase;
  let client: Client;
  let dirs: ReturnType<typeof copyOfDatabaseFolders>;
  const run = (args: string[]) => runRunner([...args, ...folderArgs(dirs)], { DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createTestDatabase('commands');
    client = await db.connect();
    dirs = copyOfDatabaseFolders();
  });
  afterAll(() => db.drop());

  describe('when nothing was applied', () => {
    let status: RunResult;
    let verify: RunResult;
    let tables: number;
    beforeAll(async () => {
      status = await run(['status']);
      verify = await run(['verify', '--skip-pgmq']);
      tables = (await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n;
    });

    it('then status exits 0', () => {
      expect(status.code).toBe(0);
    });

    it('then status says no migration has been applied', () => {
      expect(status.stdout).toContain('no migration has been applied to this database');
    });

    it('then verify exits 9', () => {
      expect(verify.code).toBe(9);
    });

    it("then verify names all five tables missing, and where the migration's logs are", () => {
      expect(verify.stderr).toContain('missing tables: api_users, api_keys, reservations, disks, gpu_types');
      expect(verify.stderr).toContain('kubectl logs -n gpu-controlplane -l app=database-migration');
    });

    it('then neither creates a table', () => {
      expect(tables).toBe(0);
    });
  });

  describe('when the bundle is applied', () => {
    let applied: RunResult;
    let status: RunResult;
    let plan: RunResult;
    beforeAll(async () => {
      applied = await run(['apply']);
      status = await run(['status']);
      plan = await run(['plan']);
    });

    it('then apply exits 0', () => {
      expect(applied.code).toBe(0);
    });

    it('then status says the files on disk are that bundle: up to date', () => {
      expect(status.stdout).toContain('the files on disk are that bundle: up to date');
    });

    it('then plan says apply would skip it', () => {
      expect(plan.stdout).toContain('apply would: skip (already applied)');
    });

    describe('when a file then changes and a new one is added', () => {
      let changed: RunResult;
      let columns: number | null;
      beforeAll(async () => {
        writeFileSync(join(dirs.fixturesDir, '001_initial_gpu_types.sql'), '\n-- edited\n', { flag: 'a' });
        writeFileSync(join(dirs.schemaDir, '006_add_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority INTEGER;\n');
        changed = await run(['status', '--json']);
        columns = (await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'reservations' AND column_name = 'priority'`)).rowCount;
      });

      it('then status names the changed file and the new one, and is not up to date', () => {
        const report = JSON.parse(changed.stdout);
        expect(report.upToDate).toBe(false);
        expect(report.files).toEqual([
          { name: 'schema/001_users_and_keys.sql', state: 'unchanged' },
          { name: 'schema/002_reservations.sql', state: 'unchanged' },
          { name: 'schema/003_disks.sql', state: 'unchanged' },
          { name: 'schema/004_gpu_types.sql', state: 'unchanged' },
          { name: 'schema/005_users_and_keys_as_deployed.sql', state: 'unchanged' },
          { name: 'schema/006_add_priority.sql', state: 'new' },
          { name: 'fixtures/001_initial_gpu_types.sql', state: 'changed' },
        ]);
      });

      it("then status runs nothing: the new file's column is not there", () => {
        expect(columns).toBe(0);
      });
    });
  });

  it('when a column the API reads is dropped, then verify names that column', async () => {
    await client.query('ALTER TABLE disks DROP COLUMN operation_status');
    const verify = await run(['verify', '--skip-pgmq']);
    expect(verify.code).toBe(9);
    expect(verify.stderr).toContain('missing columns: disks.operation_status');
    expect(verify.stderr).not.toContain('missing tables');
    await client.query('ALTER TABLE disks ADD COLUMN operation_status TEXT');
  });

  describe('when a file opts out of the transaction', () => {
    let plan: RunResult;
    beforeAll(async () => {
      writeFileSync(
        join(dirs.schemaDir, '007_concurrent_index.sql'),
        '-- migration: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_disks_size ON disks (size_gb);\n',
      );
      plan = await run(['plan']);
    });

    it('then plan exits 0', () => {
      expect(plan.code).toBe(0);
    });

    it('then plan does not count its index as drift', () => {
      expect(plan.stdout).toContain('drift:\n  none');
    });

    it('then plan lists it as not run, since it cannot be rolled back', () => {
      expect(plan.stdout).toContain('not run by plan (runs outside a transaction, cannot be rolled back): schema/007_concurrent_index.sql');
    });

    describe('when it is applied', () => {
      let result: RunResult;
      let index: unknown[];
      beforeAll(async () => {
        result = await run(['apply']);
        index = (await client.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_disks_size'::regclass`)).rows;
      });

      it('then apply exits 0', () => {
        expect(result.code).toBe(0);
      });

      it('then apply runs it on its own, outside the transaction, among the 8 files', () => {
        expect(result.stdout).toContain('schema/007_concurrent_index.sql: runs outside the transaction');
        expect(result.stdout).toMatch(/applied 8 files/);
      });

      it('then its index is built and valid', () => {
        expect(index).toEqual([{ indisvalid: true }]);
      });
    });
  });
});

describe('gpu-dev-db apply --timings', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('timings');
  });
  afterAll(() => db.drop());

  describe('when a fresh apply is asked for --timings and --json', () => {
    const phases = [
      'start-up (Node, the runner)',
      'files read and hashed',
      'SQL parser started',
      'files parsed and checked',
      'connected',
      'session set up',
      'migration lock taken',
      'history read',
      'files applied',
      'drift check',
      'history tables',
      'recorded and committed',
    ];
    let result: RunResult;
    let wall: number;
    beforeAll(async () => {
      const started = performance.now();
      result = await runRunner(['apply', '--timings', '--json', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: db.url });
      wall = performance.now() - started;
    });

    it('then it exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then it logs each phase in order with its milliseconds', () => {
      expect(result.stderr).toMatch(new RegExp(`timings: ${phases.map((p) => `${p.replace(/[()]/g, '\\$&')} \\d+\\.\\d ms`).join(', ')}, total \\d+\\.\\d ms`));
    });

    it('then --json carries the same phases, in order', () => {
      expect(Object.keys(JSON.parse(result.stdout).timings)).toEqual(phases);
    });

    // Each phase did some work, and together they fit in the process's own wall time.
    it("then each phase took some time, and together they fit in the run's wall time", () => {
      const spans = Object.values<number>(JSON.parse(result.stdout).timings);
      expect(spans).toHaveLength(phases.length);
      for (const ms of spans) expect(ms).toBeGreaterThan(0);
      expect(spans.reduce((a, b) => a + b, 0)).toBeLessThan(wall);
    });
  });
});
