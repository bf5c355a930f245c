import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { REPO_ROOT } from '../../src/build/repository';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, runRunner, smallSchema } from '../support/runner';

const ITEMS_V1 = [
  '-- items',
  'CREATE TABLE IF NOT EXISTS items (',
  '    id integer PRIMARY KEY,',
  '    name text',
  ');',
  'CREATE INDEX IF NOT EXISTS idx_items_name ON items (name);',
  '',
].join('\n');

describe('drift: the database does not match what the files declare', () => {
  let db: TestDatabase;
  let client: Client;
  const apply = (dirs: { schemaDir: string; fixturesDir: string }, extra: string[] = []) =>
    runRunner(['apply', ...folderArgs(dirs), ...extra], { DATABASE_URL: db.url });

  beforeEach(async () => {
    db = await createTestDatabase('drift');
    client = await db.connect();
    expect((await apply(smallSchema({ 'schema/001_items.sql': ITEMS_V1 }))).code).toBe(0);
  });
  afterEach(() => db.drop());

  it('when convergence is off and a column is added by editing the old CREATE TABLE, then the run fails, rolls back, and names the column, file, line and remedy', async () => {
    const v2 = ITEMS_V1.replace('    name text\n', '    name text,\n    priority integer DEFAULT 0\n');
    const before = await snapshot(client);
    const result = await apply(
      smallSchema({ 'schema/001_items.sql': v2, 'schema/002_items_by_priority.sql': 'CREATE TABLE IF NOT EXISTS notes (id integer);\n' }),
      ['--converge', 'refuse'],
    );
    expect(result.code).toBe(11);
    expect(result.stderr).toContain(
      'column items.priority is missing: schema/001_items.sql line 5: it is declared inside CREATE TABLE IF NOT EXISTS items, but items already existed, so PostgreSQL skipped that whole statement and the column never arrived.',
    );
    expect(result.stderr).toContain('Remedy: add a new schema file, e.g. database/schema/003_add_items_priority.sql, with');
    expect(result.stderr).toContain('ALTER TABLE items ADD COLUMN IF NOT EXISTS priority integer DEFAULT 0;');
    expect(result.stderr).toContain('the run was rolled back: the database is as it was before');
    expect(result.stderr).toContain('exit code 11 (drift)');
    // notes, created by the second file in the same run, is gone with the rollback.
    expect(await snapshot(client)).toBe(before);
  });

  it('when the same column arrives as an ADD COLUMN IF NOT EXISTS file, then the run passes and the column exists', async () => {
    const result = await apply(
      smallSchema({
        'schema/001_items.sql': ITEMS_V1,
        'schema/002_add_items_priority.sql': 'ALTER TABLE items ADD COLUMN IF NOT EXISTS priority integer DEFAULT 0;\n',
      }),
    );
    expect(result.code).toBe(0);
    const column = await client.query(
      `SELECT data_type, column_default FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'priority'`,
    );
    expect(column.rows).toEqual([{ data_type: 'integer', column_default: '0' }]);
  });

  it('when convergence is off and a column type is edited in CREATE TABLE, then the run fails naming both types', async () => {
    const result = await apply(smallSchema({ 'schema/001_items.sql': ITEMS_V1.replace('name text', 'name varchar(100)') }), ['--converge', 'refuse']);
    expect(result.code).toBe(11);
    expect(result.stderr).toContain('column items.name is text in the database, but schema/001_items.sql line 4 declares it character varying(100)');
    expect(result.stderr).toContain('ALTER TABLE items ALTER COLUMN name TYPE character varying(100)');
  });

  it('when convergence is off and drift is set to warn, then the run commits, logs the drift loudly, and later checks keep the skipped-CREATE TABLE explanation', async () => {
    const v2 = smallSchema({ 'schema/001_items.sql': ITEMS_V1.replace('    name text\n', '    name text,\n    priority integer\n') });
    const result = await apply(v2, ['--drift', 'warn', '--converge', 'refuse']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('WARNING: DRIFT CHECK OVERRIDDEN (--drift warn): committing although the database does not match 1 declaration(s):');
    expect(result.stderr).toContain('WARNING: drift: column items.priority is missing');
    const history = await client.query('SELECT drift_overridden FROM schema_migrations ORDER BY run_id');
    expect(history.rows).toEqual([{ drift_overridden: false }, { drift_overridden: true }]);
    // The history shows the column's file applied, but by a run that did not check it: it never arrived.
    const again = await apply(v2, ['--converge', 'refuse']);
    expect(again.code).toBe(11);
    expect(again.stderr).toContain(
      'column items.priority is missing: schema/001_items.sql line 5: it is declared inside CREATE TABLE IF NOT EXISTS items, but items already existed, so PostgreSQL skipped that whole statement',
    );
    expect(again.stderr).not.toContain('changed outside migrations');
  });

  it('when convergence is off and an index is redefined under the same name, then the run warns and succeeds', async () => {
    const result = await apply(smallSchema({ 'schema/001_items.sql': ITEMS_V1.replace('ON items (name)', 'ON items (lower(name))') }), [
      '--converge',
      'refuse',
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('WARNING: drift: index idx_items_name exists with a different definition than schema/001_items.sql line 6 declares');
    expect(result.stderr).toContain('database: CREATE INDEX idx_items_name ON public.items USING btree (name)');
    expect(result.stdout).toMatch(/applied 1 files/);
  });

  it('when a concurrent index build fails, then the run names the INVALID index it left, and so does every later run', async () => {
    await client.query(`INSERT INTO items VALUES (1, 'same'), (2, 'same')`);
    const dirs = smallSchema({
      'schema/001_items.sql': ITEMS_V1,
      'schema/002_unique_name.sql': '-- migration: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_items_unique_name ON items (name);\n',
    });
    const first = await apply(dirs);
    expect(first.code).toBe(13);
    expect(first.stderr).toContain('could not create unique index "idx_items_unique_name" (SQLSTATE 23505)');
    expect(first.stderr).toContain('index idx_items_unique_name is INVALID');
    const second = await apply(dirs);
    expect(second.code).toBe(13);
    expect(second.stderr).toContain(
      'ERROR: schema/002_unique_name.sql: index idx_items_unique_name is INVALID: a CREATE INDEX CONCURRENTLY failed part-way and left it, and IF NOT EXISTS would skip it on every later run.',
    );
    expect(second.stderr).toContain('DROP INDEX CONCURRENTLY IF EXISTS idx_items_unique_name;');
  });
});

describe('drift after a successful apply: the database changed outside migrations', () => {
  let db: TestDatabase;
  let client: Client;
  let dirs: ReturnType<typeof copyOfDatabaseFolders>;
  const run = (args: string[]) => runRunner([...args, ...folderArgs(dirs)], { DATABASE_URL: db.url });

  beforeEach(async () => {
    db = await createTestDatabase('outside');
    client = await db.connect();
    dirs = copyOfDatabaseFolders();
    expect((await run(['apply'])).code).toBe(0);
  });
  afterEach(() => db.drop());

  it('when a column is dropped by hand, then apply of the same bundle exits 11 naming table, column, file and line, writes nothing, status reports it, and the remedy it names works', async () => {
    await client.query('ALTER TABLE reservations DROP COLUMN cli_version');
    const before = await snapshot(client);
    const result = await run(['apply']);
    expect(result.code).toBe(11);
    expect(result.stderr).toMatch(
      /bundle [0-9a-f]{64} was already applied by \S+ at \S+, but the database no longer has what its files declare \(schema drift\); nothing was run or written\./,
    );
    expect(result.stderr).toMatch(
      /column reservations\.cli_version is missing: schema\/002_reservations\.sql line 42: it was changed outside migrations: run 1 \(bundle [0-9a-f]{12}, \S+, by \S+\) applied this file as it is now and committed only with this in place, so it was dropped after that run, by hand or by another tool\./,
    );
    expect(result.stderr).toContain('Remedy: bring it back with a new schema file, e.g. database/schema/006_restore_reservations_cli_version.sql, with');
    expect(result.stderr).toContain('ALTER TABLE reservations ADD COLUMN IF NOT EXISTS cli_version VARCHAR(50);');
    expect(result.stderr).not.toContain('skipped');
    expect(result.stderr).toContain('exit code 11 (drift)');
    expect(result.stdout).not.toContain('nothing to do');
    expect(await snapshot(client)).toBe(before);

    const status = await run(['status']);
    expect(status.code).toBe(11);
    expect(status.stdout).toContain('the files on disk are that bundle, but the database no longer has what they declare (schema drift, exit 11):');
    expect(status.stdout).not.toContain('up to date');
    expect(status.stderr).toContain(
      'ERROR: drift: column reservations.cli_version is missing: schema/002_reservations.sql line 42: it was changed outside migrations',
    );

    writeFileSync(
      join(dirs.schemaDir, '006_restore_reservations_cli_version.sql'),
      'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS cli_version VARCHAR(50);\n',
    );
    expect((await run(['apply'])).code).toBe(0);
    const restored = await run(['status']);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain('the files on disk are that bundle: up to date');
  });

  it('when an index is dropped by hand, then apply of the same bundle exits 11 as changed outside migrations, status --json reports it, and the --force it names rebuilds it', async () => {
    await client.query('DROP INDEX idx_reservations_status');
    const before = await snapshot(client);
    const result = await run(['apply']);
    expect(result.code).toBe(11);
    expect(result.stderr).toContain(
      'index idx_reservations_status is missing: schema/002_reservations.sql line 51 creates it: it was changed outside migrations: run 1 (bundle ',
    );
    expect(result.stderr).toContain('Remedy: `gpu-dev-db apply --force` runs every file again, so this one builds it again');
    expect(result.stderr).toContain('      CREATE INDEX IF NOT EXISTS idx_reservations_status ON reservations(status)\n');
    expect(await snapshot(client)).toBe(before);

    const status = await run(['status', '--json']);
    expect(status.code).toBe(11);
    const report = JSON.parse(status.stdout);
    expect(report.upToDate).toBe(false);
    expect(report.drift).toEqual([
      expect.objectContaining({
        kind: 'missing-index',
        subject: 'idx_reservations_status',
        declaredAt: 'schema/002_reservations.sql line 51',
        changedOutsideMigrations: true,
      }),
    ]);

    expect((await run(['apply', '--force'])).code).toBe(0);
    const again = await run(['apply']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already applied .*nothing to do/);
  });

  it('when a column type is changed by hand, then apply of the same bundle exits 11 naming both types as changed outside migrations', async () => {
    await client.query('ALTER TABLE reservations ALTER COLUMN cli_version TYPE text');
    const result = await run(['apply']);
    expect(result.code).toBe(11);
    expect(result.stderr).toContain(
      'column reservations.cli_version is text in the database, but schema/002_reservations.sql line 42 declares it character varying(50). It was changed outside migrations: run 1 (bundle ',
    );
    expect(result.stderr).toContain(
      'so it was retyped after that run, by hand or by another tool. Remedy: a new schema file with ALTER TABLE reservations ALTER COLUMN cli_version TYPE character varying(50);',
    );
  });

  it('when drift is set to warn, then apply of the same bundle logs the drift loudly and exits 0', async () => {
    await client.query('ALTER TABLE reservations DROP COLUMN cli_version');
    const result = await run(['apply', '--drift', 'warn']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('WARNING: DRIFT CHECK OVERRIDDEN (--drift warn): exiting 0 although the database does not match 1 declaration(s):');
    expect(result.stderr).toContain('WARNING: drift: column reservations.cli_version is missing');
    expect(result.stdout).toMatch(/already applied .*nothing to do/);
  });

  it('when another session holds ACCESS EXCLUSIVE on reservations, then the check of an applied bundle does not wait for it', async () => {
    const blocker = await db.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE reservations IN ACCESS EXCLUSIVE MODE');
    const result = await run(['apply', '--lock-timeout', '100ms', '--lock-retries', '0']);
    await blocker.query('ROLLBACK');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/already applied .*nothing to do/);
  });
});

describe('plan: the bundle run in a transaction that is rolled back', () => {
  let db: TestDatabase;
  let client: Client;
  const dirs = copyOfDatabaseFolders();
  const plan = () => runRunner(['plan', '--json', ...folderArgs(dirs)], { DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createTestDatabase('plan');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  it('when the database is empty, then plan lists the 5 tables, their indexes and triggers, and 10 fixture rows inserted, and changes nothing', async () => {
    const before = await snapshot(client);
    const result = await plan();
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    const created = (kind: string) =>
      report.changes.filter((c: { change: string; kind: string }) => c.change === 'create' && c.kind === kind).map((c: { name: string }) => c.name);
    expect(created('table').sort()).toEqual(['api_keys', 'api_users', 'disks', 'gpu_types', 'reservations']);
    expect(created('index')).toEqual(
      expect.arrayContaining(['idx_reservations_user_status', 'idx_disks_delete_date', 'idx_gpu_types_active', 'api_users_pkey']),
    );
    expect(created('trigger').sort()).toEqual([
      'disks.update_disks_last_updated',
      'gpu_types.update_gpu_types_updated_at',
      'reservations.trigger_reservations_updated_at',
    ]);
    expect(report.fixtures).toEqual([
      { file: 'fixtures/001_initial_gpu_types.sql', statement: 1, line: 7, tables: { gpu_types: { inserted: 10, updated: 0, deleted: 0 } } },
    ]);
    expect(report.applyWould).toBe('apply');
    expect(report.drift).toEqual({ errors: [], warnings: [] });
    expect(result.stderr).toContain('+ table reservations (36 columns)');
    expect(result.stderr).toContain('fixtures/001_initial_gpu_types.sql statement 1 (line 7): gpu_types 10 inserted, 0 updated');
    expect(result.stderr).toContain('the database is unchanged (sequences may have advanced)');
    expect(await snapshot(client)).toBe(before);
  });

  it('when the database is up to date, then plan reports no schema change and 10 fixture rows upserted, and changes nothing', async () => {
    expect((await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url })).code).toBe(0);
    const before = await snapshot(client);
    const result = await plan();
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.changes).toEqual([]);
    expect(report.fixtures[0].tables).toEqual({ gpu_types: { inserted: 0, updated: 10, deleted: 0 } });
    expect(report.applyWould).toBe('skip (already applied)');
    expect(result.stderr).toContain('schema changes:\n  none');
    expect(await snapshot(client)).toBe(before);
  });
});

describe('stale bundles: an outdated checkout or an old Job must not roll the database back', () => {
  let db: TestDatabase;
  let client: Client;
  const apply = (dirs: { schemaDir: string; fixturesDir: string }, extra: string[] = []) =>
    runRunner(['apply', ...folderArgs(dirs), ...extra], { DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createTestDatabase('stale');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  it("when bundle 1 is applied after bundle 2, then it is refused with exit 10 and the fixture keeps bundle 2's value", async () => {
    const bundle1 = copyOfDatabaseFolders();
    const bundle2 = copyOfDatabaseFolders();
    const fixture = join(bundle2.fixturesDir, '001_initial_gpu_types.sql');
    writeFileSync(fixture, readFileSync(fixture, 'utf8').replace("'NVIDIA H100 80 GB, 8 per node'", "'H100, bundle 2'"));
    writeFileSync(join(bundle2.schemaDir, '006_add_reservations_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority integer;\n');
    expect((await apply(bundle1)).code).toBe(0);
    expect((await apply(bundle2)).code).toBe(0);
    const result = await apply(bundle1);
    expect(result.code).toBe(10);
    expect(result.stderr).toMatch(/refusing to apply an outdated bundle [0-9a-f]{64}: applying it would roll the database back/);
    expect(result.stderr).toMatch(/this bundle was applied \S+ and has been superseded by bundle [0-9a-f]{64}/);
    expect(result.stderr).toContain('it lacks a file the database has already applied');
    expect(result.stderr).toContain('schema/006_add_reservations_priority.sql');
    expect(result.stderr).toContain('fixtures/001_initial_gpu_types.sql is the version bundle');
    const row = await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 'h100'`);
    expect(row.rows).toEqual([{ description: 'H100, bundle 2' }]);

    const checkoutWithoutFile = copyOfDatabaseFolders();
    writeFileSync(join(checkoutWithoutFile.fixturesDir, '001_initial_gpu_types.sql'), readFileSync(fixture));
    const lacking = await apply(checkoutWithoutFile);
    expect(lacking.code).toBe(10);
    expect(lacking.stderr).toContain('it lacks a file the database has already applied');
    expect(lacking.stderr).toContain(': schema/006_add_reservations_priority.sql');
    expect(lacking.stderr).not.toContain('superseded');

    const forced = await apply(bundle1, ['--force']);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain('WARNING: --force: applying an outdated bundle anyway');
    const restored = await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 'h100'`);
    expect(restored.rows).toEqual([{ description: 'NVIDIA H100 80 GB, 8 per node' }]);
  });
});

describe('npm run lint:sql (squawk)', () => {
  const lint = (cwd: string) =>
    new Promise<{ code: number; output: string }>((resolve) => {
      execFile('npm', ['run', '--silent', 'lint:sql'], { cwd, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
      );
    });

  it('when the product SQL is linted, then it has zero findings', async () => {
    const result = await lint(REPO_ROOT);
    expect(result.output).toContain('Found 0 issues in 6 files');
    expect(result.code).toBe(0);
  });

  it('when a file has a CREATE TABLE without IF NOT EXISTS, then lint fails naming the file and the rule', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gpu-dev-lint-'));
    for (const file of ['package.json', '.squawk.toml']) copyFileSync(join(REPO_ROOT, file), join(root, file));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
    const dirs = copyOfDatabaseFolders();
    mkdirSync(join(root, 'database'));
    symlinkSync(dirs.schemaDir, join(root, 'database', 'schema'));
    symlinkSync(dirs.fixturesDir, join(root, 'database', 'fixtures'));
    writeFileSync(join(dirs.schemaDir, '006_api_logs.sql'), 'CREATE TABLE api_logs (log_id bigint PRIMARY KEY);\n');
    const result = await lint(root);
    rmSync(root, { recursive: true, force: true });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('prefer-robust-stmts');
    expect(result.output).toContain('006_api_logs.sql');
  });
});
