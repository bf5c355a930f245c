import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, PRODUCT_FILES, runRunner } from '../support/runner';

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

  it('when applied to an empty database, then it creates the five tables, their indexes, triggers and the ten GPU types', async () => {
    const result = await apply();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/schema\/001_users_and_keys\.sql\s+\d+ statements\s+\d+ ms/);
    expect(result.stdout).toMatch(/fixtures\/001_initial_gpu_types\.sql\s+1 statements/);
    expect(result.stdout).toMatch(/applied 6 files \(\d+ statements\) in \d+ ms; bundle [0-9a-f]{64}/);

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

    const indexes = await client.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`);
    expect(indexes.rows.map((r) => r.indexname)).toEqual(expect.arrayContaining(SPEC_INDEXES));
    const triggers = await client.query(
      `SELECT tgname, tgrelid::regclass::text AS tbl, tgfoid::regproc::text AS fn FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`,
    );
    expect(triggers.rows).toEqual([
      { tgname: 'trigger_reservations_updated_at', tbl: 'reservations', fn: 'update_reservations_updated_at' },
      { tgname: 'update_disks_last_updated', tbl: 'disks', fn: 'update_disks_last_updated_column' },
      { tgname: 'update_gpu_types_updated_at', tbl: 'gpu_types', fn: 'update_gpu_types_updated_at_column' },
    ]);
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
    const history = await client.query(`SELECT bundle_hash, file_count, forced FROM schema_migrations`);
    expect(history.rows).toEqual([{ bundle_hash: expect.stringMatching(/^[0-9a-f]{64}$/), file_count: 6, forced: false }]);
    const files = await client.query(`SELECT folder || '/' || file_name AS f FROM schema_migration_files ORDER BY position`);
    expect(files.rows.map((r) => r.f)).toEqual(PRODUCT_FILES);
  });

  it('when the same bundle is applied again, then it does nothing and the database is unchanged', async () => {
    const before = await snapshot(client);
    const result = await apply();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/already applied .*nothing to do/);
    expect(await snapshot(client)).toBe(before);
  });

  it('when --force re-applies the bundle, then every file runs again and only the history grows', async () => {
    const before = await client.query(`SELECT * FROM gpu_types ORDER BY gpu_type`);
    const result = await apply(['--force']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/applied 6 files/);
    const after = await client.query(`SELECT gpu_type, instance_type, max_gpus, description, created_at FROM gpu_types ORDER BY gpu_type`);
    expect(after.rows).toEqual(
      before.rows.map(({ gpu_type, instance_type, max_gpus, description, created_at }) => ({ gpu_type, instance_type, max_gpus, description, created_at })),
    );
    const history = await client.query(`SELECT forced FROM schema_migrations ORDER BY run_id`);
    expect(history.rows).toEqual([{ forced: false }, { forced: true }]);
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

  it('when the 3rd statement of a file fails, then it exits 13 naming file, line and column, and rolls back every earlier file', async () => {
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
    const before = await snapshot(client);
    const result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url });
    expect(result.code).toBe(13);
    expect(result.stderr).toContain('ERROR: schema/006_broken.sql line 8, column 10: type "txet" does not exist (SQLSTATE 42704)');
    expect(result.stderr).toContain('statement 3 of 3, from line 6: CREATE TABLE IF NOT EXISTS broken_three');
    expect(result.stderr).toContain('the run was rolled back: the database is as it was before');
    expect(result.stderr).toContain('exit code 13 (sqlPermanent)');
    // The five product files ran before it in the same transaction: nothing of them may remain.
    expect(await snapshot(client)).toBe(before);
    const tables = await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
    expect(tables.rows[0].n).toBe(0);
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
