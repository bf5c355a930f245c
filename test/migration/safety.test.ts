import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { REPO_ROOT } from '../../src/build/repository';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, type RunResult, runRunner, smallSchema } from '../support/runner';

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
});

// The drift cases below check each outcome of one run in a test of their own, so each block sets
// up its database once, in beforeAll, the way the block above does before each test: inside that
// block, its beforeEach would set up a fresh database before every one of their tests.

/** Runs `gpu-dev-db apply` on these folders against this database. */
const applyTo = (db: TestDatabase, dirs: { schemaDir: string; fixturesDir: string }, extra: string[] = []) =>
  runRunner(['apply', ...folderArgs(dirs), ...extra], { DATABASE_URL: db.url });

describe('when convergence is off and a column is added by editing the old CREATE TABLE', () => {
  let db: TestDatabase;
  let client: Client;
  let before: string;
  let result: RunResult;
  let after: string;
  beforeAll(async () => {
    db = await createTestDatabase('drift');
    client = await db.connect();
    expect((await applyTo(db, smallSchema({ 'schema/001_items.sql': ITEMS_V1 }))).code).toBe(0);
    const v2 = ITEMS_V1.replace('    name text\n', '    name text,\n    priority integer DEFAULT 0\n');
    before = await snapshot(client);
    result = await applyTo(
      db,
      smallSchema({ 'schema/001_items.sql': v2, 'schema/002_items_by_priority.sql': 'CREATE TABLE IF NOT EXISTS notes (id integer);\n' }),
      ['--converge', 'refuse'],
    );
    after = await snapshot(client);
  });
  afterAll(() => db.drop());

  it('then the run exits 11 (drift)', () => {
    expect(result.code).toBe(11);
    expect(result.stderr).toContain('exit code 11 (drift)');
  });

  it('then it names the column, the file and line, and why PostgreSQL skipped it', () => {
    expect(result.stderr).toContain(
      'column items.priority is missing: schema/001_items.sql line 5: it is declared inside CREATE TABLE IF NOT EXISTS items, but items already existed, so PostgreSQL skipped that whole statement and the column never arrived.',
    );
  });

  it('then it names the remedy: a new file with ADD COLUMN IF NOT EXISTS', () => {
    expect(result.stderr).toContain('Remedy: add a new schema file, e.g. database/schema/003_add_items_priority.sql, with');
    expect(result.stderr).toContain('ALTER TABLE items ADD COLUMN IF NOT EXISTS priority integer DEFAULT 0;');
  });

  it("then it rolls back, the second file's table too", () => {
    expect(result.stderr).toContain('the run was rolled back: the database is as it was before');
    // notes, created by the second file in the same run, is gone with the rollback.
    expect(after).toBe(before);
  });
});

describe('when convergence is off and drift is set to warn', () => {
  let db: TestDatabase;
  let client: Client;
  let v2: { schemaDir: string; fixturesDir: string };
  let result: RunResult;
  let history: unknown[];
  beforeAll(async () => {
    db = await createTestDatabase('drift');
    client = await db.connect();
    expect((await applyTo(db, smallSchema({ 'schema/001_items.sql': ITEMS_V1 }))).code).toBe(0);
    v2 = smallSchema({ 'schema/001_items.sql': ITEMS_V1.replace('    name text\n', '    name text,\n    priority integer\n') });
    result = await applyTo(db, v2, ['--drift', 'warn', '--converge', 'refuse']);
    history = (await client.query('SELECT drift_overridden FROM schema_migrations ORDER BY run_id')).rows;
  });
  afterAll(() => db.drop());

  it('then the run commits and exits 0', () => {
    expect(result.code).toBe(0);
  });

  it('then it logs the drift loudly', () => {
    expect(result.stderr).toContain('WARNING: DRIFT CHECK OVERRIDDEN (--drift warn): committing although the database does not match 1 declaration(s):');
    expect(result.stderr).toContain('WARNING: drift: column items.priority is missing');
  });

  it('then the history marks the run as drift overridden', () => {
    expect(history).toEqual([{ drift_overridden: false }, { drift_overridden: true }]);
  });

  // The history shows the column's file applied, but by a run that did not check it: it never arrived.
  describe('when the same files are applied again without the override', () => {
    let again: RunResult;
    beforeAll(async () => {
      again = await applyTo(db, v2, ['--converge', 'refuse']);
    });

    it('then it exits 11', () => {
      expect(again.code).toBe(11);
    });

    it('then it keeps the skipped-CREATE TABLE explanation, not "changed outside migrations"', () => {
      expect(again.stderr).toContain(
        'column items.priority is missing: schema/001_items.sql line 5: it is declared inside CREATE TABLE IF NOT EXISTS items, but items already existed, so PostgreSQL skipped that whole statement',
      );
      expect(again.stderr).not.toContain('changed outside migrations');
    });
  });
});

describe('when a concurrent index build fails', () => {
  let db: TestDatabase;
  let client: Client;
  let dirs: { schemaDir: string; fixturesDir: string };
  let first: RunResult;
  beforeAll(async () => {
    db = await createTestDatabase('drift');
    client = await db.connect();
    expect((await applyTo(db, smallSchema({ 'schema/001_items.sql': ITEMS_V1 }))).code).toBe(0);
    await client.query(`INSERT INTO items VALUES (1, 'same'), (2, 'same')`);
    dirs = smallSchema({
      'schema/001_items.sql': ITEMS_V1,
      'schema/002_unique_name.sql': '-- migration: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_items_unique_name ON items (name);\n',
    });
    first = await applyTo(db, dirs);
  });
  afterAll(() => db.drop());

  it('then the run exits 13', () => {
    expect(first.code).toBe(13);
  });

  it('then it names the failure and the INVALID index it left', () => {
    expect(first.stderr).toContain('could not create unique index "idx_items_unique_name" (SQLSTATE 23505)');
    expect(first.stderr).toContain('index idx_items_unique_name is INVALID');
  });

  describe('when the run is repeated', () => {
    let second: RunResult;
    beforeAll(async () => {
      second = await applyTo(db, dirs);
    });

    it('then it exits 13 again', () => {
      expect(second.code).toBe(13);
    });

    it('then it names the INVALID index, why IF NOT EXISTS would skip it, and how to drop it', () => {
      expect(second.stderr).toContain(
        'ERROR: schema/002_unique_name.sql: index idx_items_unique_name is INVALID: a CREATE INDEX CONCURRENTLY failed part-way and left it, and IF NOT EXISTS would skip it on every later run.',
      );
      expect(second.stderr).toContain('DROP INDEX CONCURRENTLY IF EXISTS idx_items_unique_name;');
    });
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

// As above: each case below runs once, on a database of its own set up the way the block above
// sets one up before each test.

/** Runs `gpu-dev-db ARGS` on these folders against this database. */
const runOn = (db: TestDatabase, dirs: { schemaDir: string; fixturesDir: string }, args: string[]) =>
  runRunner([...args, ...folderArgs(dirs)], { DATABASE_URL: db.url });

/** A database the bundle was applied to, then `change` run on it by hand, then the same bundle applied again: that run, and the catalog before and after it. */
async function applyAfterChangeByHand(change: string) {
  const db = await createTestDatabase('outside');
  const client = await db.connect();
  const dirs = copyOfDatabaseFolders();
  expect((await runOn(db, dirs, ['apply'])).code).toBe(0);
  await client.query(change);
  const before = await snapshot(client);
  const result = await runOn(db, dirs, ['apply']);
  return { db, dirs, before, result, after: await snapshot(client) };
}

describe('when a column is dropped by hand after a successful apply', () => {
  let db: TestDatabase;
  let dirs: ReturnType<typeof copyOfDatabaseFolders>;
  let before: string;
  let result: RunResult;
  let after: string;
  beforeAll(async () => {
    ({ db, dirs, before, result, after } = await applyAfterChangeByHand('ALTER TABLE reservations DROP COLUMN cli_version'));
  });
  afterAll(() => db.drop());

  it('then apply of the same bundle exits 11 (drift)', () => {
    expect(result.code).toBe(11);
    expect(result.stderr).toContain('exit code 11 (drift)');
  });

  it('then it says the bundle was applied but the database no longer has what it declares, and runs nothing', () => {
    expect(result.stderr).toMatch(
      /bundle [0-9a-f]{64} was already applied by \S+ at \S+, but the database no longer has what its files declare \(schema drift\); nothing was run or written\./,
    );
    expect(result.stdout).not.toContain('nothing to do');
  });

  it('then it names the table, column, file and line, as changed outside migrations', () => {
    expect(result.stderr).toMatch(
      /column reservations\.cli_version is missing: schema\/002_reservations\.sql line 42: it was changed outside migrations: run 1 \(bundle [0-9a-f]{12}, \S+, by \S+\) applied this file as it is now and committed only with this in place, so it was dropped after that run, by hand or by another tool\./,
    );
    expect(result.stderr).not.toContain('skipped');
  });

  it('then it names the remedy: a new file that adds the column back', () => {
    expect(result.stderr).toContain('Remedy: bring it back with a new schema file, e.g. database/schema/006_restore_reservations_cli_version.sql, with');
    expect(result.stderr).toContain('ALTER TABLE reservations ADD COLUMN IF NOT EXISTS cli_version VARCHAR(50);');
  });

  it('then it writes nothing', () => {
    expect(after).toBe(before);
  });

  describe('when status is asked', () => {
    let status: RunResult;
    beforeAll(async () => {
      status = await runOn(db, dirs, ['status']);
    });

    it('then it exits 11', () => {
      expect(status.code).toBe(11);
    });

    it('then it says the database no longer has what the bundle declares, not that it is up to date', () => {
      expect(status.stdout).toContain('the files on disk are that bundle, but the database no longer has what they declare (schema drift, exit 11):');
      expect(status.stdout).not.toContain('up to date');
    });

    it('then it names the missing column as changed outside migrations', () => {
      expect(status.stderr).toContain(
        'ERROR: drift: column reservations.cli_version is missing: schema/002_reservations.sql line 42: it was changed outside migrations',
      );
    });
  });

  describe('when the remedy file it names is added and applied', () => {
    let fixed: RunResult;
    let restored: RunResult;
    beforeAll(async () => {
      writeFileSync(
        join(dirs.schemaDir, '006_restore_reservations_cli_version.sql'),
        'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS cli_version VARCHAR(50);\n',
      );
      fixed = await runOn(db, dirs, ['apply']);
      restored = await runOn(db, dirs, ['status']);
    });

    it('then apply exits 0', () => {
      expect(fixed.code).toBe(0);
    });

    it('then status exits 0', () => {
      expect(restored.code).toBe(0);
    });

    it('then status says the database is up to date', () => {
      expect(restored.stdout).toContain('the files on disk are that bundle: up to date');
    });
  });
});

describe('when an index is dropped by hand after a successful apply', () => {
  let db: TestDatabase;
  let dirs: ReturnType<typeof copyOfDatabaseFolders>;
  let before: string;
  let result: RunResult;
  let after: string;
  beforeAll(async () => {
    ({ db, dirs, before, result, after } = await applyAfterChangeByHand('DROP INDEX idx_reservations_status'));
  });
  afterAll(() => db.drop());

  it('then apply of the same bundle exits 11', () => {
    expect(result.code).toBe(11);
  });

  it('then it names the index, file and line, as changed outside migrations', () => {
    expect(result.stderr).toContain(
      'index idx_reservations_status is missing: schema/002_reservations.sql line 51 creates it: it was changed outside migrations: run 1 (bundle ',
    );
  });

  it('then the remedy it names is apply --force, quoting the statement that builds the index', () => {
    expect(result.stderr).toContain('Remedy: `gpu-dev-db apply --force` runs every file again, so this one builds it again');
    expect(result.stderr).toContain('      CREATE INDEX IF NOT EXISTS idx_reservations_status ON reservations(status)\n');
  });

  it('then it writes nothing', () => {
    expect(after).toBe(before);
  });

  describe('when status --json is asked', () => {
    let status: RunResult;
    beforeAll(async () => {
      status = await runOn(db, dirs, ['status', '--json']);
    });

    it('then it exits 11', () => {
      expect(status.code).toBe(11);
    });

    it('then the report is not up to date and lists the missing index as changed outside migrations', () => {
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
    });
  });

  describe('when apply --force is run, as the remedy says', () => {
    let forced: RunResult;
    let again: RunResult;
    beforeAll(async () => {
      forced = await runOn(db, dirs, ['apply', '--force']);
      again = await runOn(db, dirs, ['apply']);
    });

    it('then it exits 0', () => {
      expect(forced.code).toBe(0);
    });

    it('then the next apply finds the index rebuilt: it exits 0 with nothing to do', () => {
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/already applied .*nothing to do/);
    });
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

  describe('when the database is empty', () => {
    let before: string;
    let result: RunResult;
    let after: string;
    beforeAll(async () => {
      before = await snapshot(client);
      result = await plan();
      after = await snapshot(client);
    });
    const created = (kind: string) =>
      JSON.parse(result.stdout)
        .changes.filter((c: { change: string; kind: string }) => c.change === 'create' && c.kind === kind)
        .map((c: { name: string }) => c.name);

    it('then plan exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then it lists the 5 tables to create', () => {
      expect(created('table').sort()).toEqual(['api_keys', 'api_users', 'disks', 'gpu_types', 'reservations']);
      expect(result.stderr).toContain('+ table reservations (36 columns)');
    });

    it('then it lists their indexes', () => {
      expect(created('index')).toEqual(
        expect.arrayContaining(['idx_reservations_user_status', 'idx_disks_delete_date', 'idx_gpu_types_active', 'api_users_pkey']),
      );
    });

    it('then it lists their triggers', () => {
      expect(created('trigger').sort()).toEqual([
        'disks.update_disks_last_updated',
        'gpu_types.update_gpu_types_updated_at',
        'reservations.trigger_reservations_updated_at',
      ]);
    });

    it('then it lists the 10 fixture rows inserted, by file, statement and line', () => {
      expect(JSON.parse(result.stdout).fixtures).toEqual([
        { file: 'fixtures/001_initial_gpu_types.sql', statement: 1, line: 7, tables: { gpu_types: { inserted: 10, updated: 0, deleted: 0 } } },
      ]);
      expect(result.stderr).toContain('fixtures/001_initial_gpu_types.sql statement 1 (line 7): gpu_types 10 inserted, 0 updated');
    });

    it('then it says apply would apply the bundle', () => {
      expect(JSON.parse(result.stdout).applyWould).toBe('apply');
    });

    it('then it finds no drift', () => {
      expect(JSON.parse(result.stdout).drift).toEqual({ errors: [], warnings: [] });
    });

    it('then it changes nothing, and says so', () => {
      expect(result.stderr).toContain('the database is unchanged (sequences may have advanced)');
      expect(after).toBe(before);
    });
  });

  describe('when the database is up to date', () => {
    let before: string;
    let result: RunResult;
    let after: string;
    beforeAll(async () => {
      expect((await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url })).code).toBe(0);
      before = await snapshot(client);
      result = await plan();
      after = await snapshot(client);
    });

    it('then plan exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then it reports no schema change', () => {
      expect(JSON.parse(result.stdout).changes).toEqual([]);
      expect(result.stderr).toContain('schema changes:\n  none');
    });

    it('then it reports the 10 fixture rows as upserted', () => {
      expect(JSON.parse(result.stdout).fixtures[0].tables).toEqual({ gpu_types: { inserted: 0, updated: 10, deleted: 0 } });
    });

    it('then it says apply would skip the bundle, already applied', () => {
      expect(JSON.parse(result.stdout).applyWould).toBe('skip (already applied)');
    });

    it('then it changes nothing', () => {
      expect(after).toBe(before);
    });
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

  describe('when bundle 1 is applied after bundle 2', () => {
    let bundle1: ReturnType<typeof copyOfDatabaseFolders>;
    let fixture: string;
    let result: RunResult;
    let row: unknown[];
    beforeAll(async () => {
      bundle1 = copyOfDatabaseFolders();
      const bundle2 = copyOfDatabaseFolders();
      fixture = join(bundle2.fixturesDir, '001_initial_gpu_types.sql');
      writeFileSync(fixture, readFileSync(fixture, 'utf8').replace("'NVIDIA H100 80 GB, 8 per node'", "'H100, bundle 2'"));
      writeFileSync(join(bundle2.schemaDir, '006_add_reservations_priority.sql'), 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority integer;\n');
      expect((await apply(bundle1)).code).toBe(0);
      expect((await apply(bundle2)).code).toBe(0);
      result = await apply(bundle1);
      row = (await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 'h100'`)).rows;
    });

    it('then it is refused with exit 10', () => {
      expect(result.code).toBe(10);
    });

    it('then it says the bundle is outdated, superseded by bundle 2, and would roll the database back', () => {
      expect(result.stderr).toMatch(/refusing to apply an outdated bundle [0-9a-f]{64}: applying it would roll the database back/);
      expect(result.stderr).toMatch(/this bundle was applied \S+ and has been superseded by bundle [0-9a-f]{64}/);
    });

    it('then it names the file it lacks that the database has applied', () => {
      expect(result.stderr).toContain('it lacks a file the database has already applied');
      expect(result.stderr).toContain('schema/006_add_reservations_priority.sql');
    });

    it('then it names the fixture whose applied version is from another bundle', () => {
      expect(result.stderr).toContain('fixtures/001_initial_gpu_types.sql is the version bundle');
    });

    it("then the fixture keeps bundle 2's value", () => {
      expect(row).toEqual([{ description: 'H100, bundle 2' }]);
    });

    describe("when a checkout has bundle 2's fixture but lacks its new schema file", () => {
      let lacking: RunResult;
      beforeAll(async () => {
        const checkoutWithoutFile = copyOfDatabaseFolders();
        writeFileSync(join(checkoutWithoutFile.fixturesDir, '001_initial_gpu_types.sql'), readFileSync(fixture));
        lacking = await apply(checkoutWithoutFile);
      });

      it('then it is refused with exit 10', () => {
        expect(lacking.code).toBe(10);
      });

      it('then it names the file it lacks, without calling the bundle superseded', () => {
        expect(lacking.stderr).toContain('it lacks a file the database has already applied');
        expect(lacking.stderr).toContain(': schema/006_add_reservations_priority.sql');
        expect(lacking.stderr).not.toContain('superseded');
      });
    });

    describe('when bundle 1 is applied with --force', () => {
      let forced: RunResult;
      let restored: unknown[];
      beforeAll(async () => {
        forced = await apply(bundle1, ['--force']);
        restored = (await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 'h100'`)).rows;
      });

      it('then it exits 0', () => {
        expect(forced.code).toBe(0);
      });

      it('then it warns that it applies an outdated bundle', () => {
        expect(forced.stderr).toContain('WARNING: --force: applying an outdated bundle anyway');
      });

      it("then the fixture has bundle 1's value again", () => {
        expect(restored).toEqual([{ description: 'NVIDIA H100 80 GB, 8 per node' }]);
      });
    });
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
