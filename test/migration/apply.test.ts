import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, PRODUCT_FILES, type RunResult, runRunner } from '../support/runner';

const SPEC_INDEXES = [
  'idx_api_keys_hash',
  'idx_api_keys_user_id',
  'idx_api_keys_expires_at',
  'idx_api_users_username',
  'idx_reservations_user_id',
  'idx_reservations_user_status',
  'idx_reservations_status',
  'idx_reservations_gpu_type_status',
  'idx_reservations_created_at',
  'idx_reservations_expires_at',
  'idx_reservations_master_id',
  'idx_disks_user_id',
  'idx_disks_in_use',
  'idx_disks_is_deleted',
  'idx_disks_operation_id',
  'idx_disks_reservation_id',
  'idx_disks_delete_date',
  'idx_gpu_types_active',
];

describe('gpu-dev-db apply on the product bundle', () => {
  let db: TestDatabase;
  let client: Client;
  const apply = (extra: string[] = [], dirs?: { schemaDir: string; fixturesDir: string }) =>
    runRunner(['apply', ...(dirs ? folderArgs(dirs) : folderArgs(copyOfDatabaseFolders())), ...extra], { DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createTestDatabase('apply');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  describe('when applied to an empty database', () => {
    let result: RunResult;
    beforeAll(async () => {
      result = await apply();
    });

    it('then it exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then it writes nothing to stderr', () => {
      expect(result.stderr).toBe('');
    });

    it('then it logs each file with its statements and time, and the bundle it applied', () => {
      expect(result.stdout).toMatch(/schema\/001_users_and_keys\.sql\s+\d+ statements\s+\d+ ms/);
      expect(result.stdout).toMatch(/fixtures\/001_initial_gpu_types\.sql\s+1 statements/);
      expect(result.stdout).toMatch(/applied 6 files \(\d+ statements\) in \d+ ms; bundle [0-9a-f]{64}/);
    });

    it('then it creates the five tables, and the two of its history', async () => {
      const tables = await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
      expect(tables.rows.map((r) => r.tablename)).toEqual([
        'api_keys',
        'api_users',
        'disks',
        'gpu_types',
        'reservations',
        'schema_migration_files',
        'schema_migrations',
      ]);
    });

    it('then their columns have the declared types, defaults and NOT NULLs', async () => {
      const columns = await client.query(
        `SELECT table_name, column_name, data_type, column_default, is_nullable FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name IN ('api_users', 'reservations', 'disks')`,
      );
      const column = (t: string, c: string) => columns.rows.find((r) => r.table_name === t && r.column_name === c);
      expect(column('api_users', 'created_at')).toMatchObject({ data_type: 'timestamp without time zone', column_default: 'CURRENT_TIMESTAMP' });
      expect(column('reservations', 'duration_hours')).toMatchObject({ data_type: 'double precision', is_nullable: 'NO' });
      expect(column('reservations', 'status_history')).toMatchObject({ data_type: 'jsonb', column_default: "'[]'::jsonb" });
      expect(column('reservations', 'namespace')?.column_default).toBe("'default'::character varying");
      expect(column('disks', 'disk_id')).toMatchObject({ data_type: 'uuid', column_default: 'gen_random_uuid()' });
      expect(columns.rows.filter((r) => r.table_name === 'reservations')).toHaveLength(36);
    });

    it('then it creates their indexes', async () => {
      const indexes = await client.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`);
      expect(indexes.rows.map((r) => r.indexname)).toEqual(expect.arrayContaining(SPEC_INDEXES));
    });

    it('then it creates their three triggers', async () => {
      const triggers = await client.query(
        `SELECT tgname, tgrelid::regclass::text AS tbl, tgfoid::regproc::text AS fn FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`,
      );
      expect(triggers.rows).toEqual([
        { tgname: 'trigger_reservations_updated_at', tbl: 'reservations', fn: 'update_reservations_updated_at' },
        { tgname: 'update_disks_last_updated', tbl: 'disks', fn: 'update_disks_last_updated_column' },
        { tgname: 'update_gpu_types_updated_at', tbl: 'gpu_types', fn: 'update_gpu_types_updated_at_column' },
      ]);
    });

    it('then it inserts the ten GPU types', async () => {
      const gpus = await client.query(
        `SELECT gpu_type, instance_type, max_gpus, cpus, memory_gb, total_cluster_gpus, max_per_node, is_active FROM gpu_types ORDER BY gpu_type`,
      );
      expect(gpus.rows).toHaveLength(10);
      expect(gpus.rows.find((r) => r.gpu_type === 'h100')).toEqual({
        gpu_type: 'h100',
        instance_type: 'p5.48xlarge',
        max_gpus: 8,
        cpus: 192,
        memory_gb: 2048,
        total_cluster_gpus: 16,
        max_per_node: 8,
        is_active: true,
      });
    });

    it('then the history records one run of the 6 files, not forced', async () => {
      const history = await client.query(`SELECT bundle_hash, file_count, forced FROM schema_migrations`);
      expect(history.rows).toEqual([{ bundle_hash: expect.stringMatching(/^[0-9a-f]{64}$/), file_count: 6, forced: false }]);
    });

    it("then the history lists the bundle's files in the order they ran", async () => {
      const files = await client.query(`SELECT folder || '/' || file_name AS f FROM schema_migration_files ORDER BY position`);
      expect(files.rows.map((r) => r.f)).toEqual(PRODUCT_FILES);
    });
  });

  it('when the same bundle is applied again, then it does nothing and the database is unchanged', async () => {
    const before = await snapshot(client);
    const result = await apply();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/already applied .*nothing to do/);
    expect(await snapshot(client)).toBe(before);
  });

  describe('when --force re-applies the bundle', () => {
    let before: Record<string, unknown>[];
    let result: RunResult;
    let after: Record<string, unknown>[];
    let history: unknown[];
    beforeAll(async () => {
      before = (await client.query(`SELECT * FROM gpu_types ORDER BY gpu_type`)).rows;
      result = await apply(['--force']);
      after = (await client.query(`SELECT gpu_type, instance_type, max_gpus, description, created_at FROM gpu_types ORDER BY gpu_type`)).rows;
      history = (await client.query(`SELECT forced FROM schema_migrations ORDER BY run_id`)).rows;
    });

    it('then it exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then every file runs again', () => {
      expect(result.stdout).toMatch(/applied 6 files/);
    });

    it('then the rows the fixtures wrote are as they were', () => {
      expect(after).toEqual(
        before.map(({ gpu_type, instance_type, max_gpus, description, created_at }) => ({ gpu_type, instance_type, max_gpus, description, created_at })),
      );
    });

    it('then the history grows by a forced run', () => {
      expect(history).toEqual([{ forced: false }, { forced: true }]);
    });
  });

  it('when a fixture value is edited, then the next apply updates that row', async () => {
    const dirs = copyOfDatabaseFolders();
    const fixture = join(dirs.fixturesDir, '001_initial_gpu_types.sql');
    writeFileSync(
      fixture,
      readFileSync(fixture, 'utf8').replace(/\('h100',(\s*)'p5\.48xlarge',(\s*)8,(\s*)192,(\s*)2048,(\s*)16/, "('h100',$1'p5.48xlarge',$28,$3192,$42048,$532"),
    );
    const result = await apply([], dirs);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/applied 6 files/);
    const row = await client.query(`SELECT total_cluster_gpus FROM gpu_types WHERE gpu_type = 'h100'`);
    expect(row.rows).toEqual([{ total_cluster_gpus: 32 }]);
  });

  it('when the history was written by an older runner (no drift_overridden column), then the next run completes it and records', async () => {
    await client.query('ALTER TABLE schema_migrations DROP COLUMN drift_overridden');
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.fixturesDir, '001_initial_gpu_types.sql'), '\n-- touched\n', { flag: 'a' });
    const result = await apply([], dirs);
    expect(result.code).toBe(0);
    const { rows } = await client.query('SELECT drift_overridden FROM schema_migrations ORDER BY run_id DESC LIMIT 1');
    expect(rows).toEqual([{ drift_overridden: false }]);
  });
});

describe('gpu-dev-db apply when a statement fails', () => {
  let db: TestDatabase;
  let client: Client;

  beforeAll(async () => {
    db = await createTestDatabase('failing');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  describe('when the 3rd statement of a file fails', () => {
    let before: string;
    let result: RunResult;
    let after: string;
    let tables: number;
    beforeAll(async () => {
      const dirs = copyOfDatabaseFolders();
      writeFileSync(
        join(dirs.schemaDir, '006_broken.sql'),
        [
          '-- a file whose third statement is wrong',
          'CREATE TABLE IF NOT EXISTS broken_one (id int);',
          '',
          'CREATE TABLE IF NOT EXISTS broken_two (id int);',
          '',
          'CREATE TABLE IF NOT EXISTS broken_three (',
          '    id int,',
          '    name txet PRIMARY KEY',
          ');',
          '',
        ].join('\n'),
      );
      before = await snapshot(client);
      result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url });
      after = await snapshot(client);
      tables = (await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n;
    });

    it('then it exits 13 (sqlPermanent)', () => {
      expect(result.code).toBe(13);
      expect(result.stderr).toContain('exit code 13 (sqlPermanent)');
    });

    it('then it names the file, line and column, and the statement', () => {
      expect(result.stderr).toContain('ERROR: schema/006_broken.sql line 8, column 10: type "txet" does not exist (SQLSTATE 42704)');
      expect(result.stderr).toContain('statement 3 of 3, from line 6: CREATE TABLE IF NOT EXISTS broken_three');
    });

    it('then it says the run was rolled back', () => {
      expect(result.stderr).toContain('the run was rolled back: the database is as it was before');
    });

    // The five product files ran before it in the same transaction: nothing of them may remain.
    it('then every earlier file is rolled back: the database is as it was, without a table', () => {
      expect(after).toBe(before);
      expect(tables).toBe(0);
    });
  });

  it('when a statement fails with detail and hint, then both are in the message', async () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(
      join(dirs.fixturesDir, '002_bad_row.sql'),
      "INSERT INTO gpu_types (gpu_type, instance_type, max_gpus, cpus, memory_gb) VALUES ('x', 'y', 1, 1, NULL);\n",
    );
    const result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url });
    expect(result.code).toBe(13);
    expect(result.stderr).toContain(
      'fixtures/002_bad_row.sql line 1, column 1: null value in column "memory_gb" of relation "gpu_types" violates not-null constraint (SQLSTATE 23502)',
    );
    expect(result.stderr).toMatch(/detail: Failing row contains \(x, y, 1, 1, null/);
  });
});
