import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, runRunner } from '../support/runner';

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

  it('when nothing was applied, then status says so and verify exits 9 naming all five tables', async () => {
    const status = await run(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('no migration has been applied to this database');
    const verify = await run(['verify', '--skip-pgmq']);
    expect(verify.code).toBe(9);
    expect(verify.stderr).toContain('missing tables: api_users, api_keys, reservations, disks, gpu_types');
    expect(verify.stderr).toContain('kubectl logs -n gpu-controlplane -l app=database-migration');
    const tables = await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
    expect(tables.rows[0].n).toBe(0);
  });

  it('when the bundle is applied and a file then changes, then status names the changed file and the new one', async () => {
    expect((await run(['apply'])).code).toBe(0);
    expect((await run(['status'])).stdout).toContain('the files on disk are that bundle: up to date');
    expect((await run(['plan'])).stdout).toContain('apply would: skip (already applied)');
    writeFileSync(join(dirs.fixturesDir, '001_initial_gpu_types.sql'), '\n-- edited\n', { flag: 'a' });
    writeFileSync(join(dirs.schemaDir, '006_add_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority INTEGER;\n');
    const status = await run(['status', '--json']);
    const report = JSON.parse(status.stdout);
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
    const columns = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'reservations' AND column_name = 'priority'`);
    expect(columns.rowCount).toBe(0);
  });

  it('when a column the API reads is dropped, then verify names that column', async () => {
    await client.query('ALTER TABLE disks DROP COLUMN operation_status');
    const verify = await run(['verify', '--skip-pgmq']);
    expect(verify.code).toBe(9);
    expect(verify.stderr).toContain('missing columns: disks.operation_status');
    expect(verify.stderr).not.toContain('missing tables');
    await client.query('ALTER TABLE disks ADD COLUMN operation_status TEXT');
  });

  it('when a file opts out of the transaction, then plan lists it without counting its index as drift, and apply runs it on its own', async () => {
    writeFileSync(
      join(dirs.schemaDir, '007_concurrent_index.sql'),
      '-- migration: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_disks_size ON disks (size_gb);\n',
    );
    const plan = await run(['plan']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('drift:\n  none');
    expect(plan.stdout).toContain('not run by plan (runs outside a transaction, cannot be rolled back): schema/007_concurrent_index.sql');
    const result = await run(['apply']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('schema/007_concurrent_index.sql: runs outside the transaction');
    expect(result.stdout).toMatch(/applied 8 files/);
    const index = await client.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_disks_size'::regclass`);
    expect(index.rows).toEqual([{ indisvalid: true }]);
  });
});

describe('gpu-dev-db apply --timings', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('timings');
  });
  afterAll(() => db.drop());

  it('when asked, then a fresh apply logs each phase in order with its milliseconds, and --json carries them', async () => {
    const started = performance.now();
    const result = await runRunner(['apply', '--timings', '--json', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: db.url });
    const wall = performance.now() - started;
    expect(result.code).toBe(0);
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
    expect(result.stderr).toMatch(new RegExp(`timings: ${phases.map((p) => `${p.replace(/[()]/g, '\\$&')} \\d+\\.\\d ms`).join(', ')}, total \\d+\\.\\d ms`));
    const report = JSON.parse(result.stdout);
    expect(Object.keys(report.timings)).toEqual(phases);
    // Each phase did some work, and together they fit in the process's own wall time.
    const spans = Object.values<number>(report.timings);
    for (const ms of spans) expect(ms).toBeGreaterThan(0);
    expect(spans.reduce((a, b) => a + b, 0)).toBeLessThan(wall);
  });
});
