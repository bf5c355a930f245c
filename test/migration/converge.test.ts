import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { catalogShape, createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { docsSample } from '../support/docs';
import { copyOfDatabaseFolders, folderArgs, killRunnerDuring, runRunner, smallSchema, type RunResult } from '../support/runner';

/**
 * Convergence in place, tested the way the platform's engineers edit their SQL: columns added
 * inside an old CREATE TABLE IF NOT EXISTS, with indexes, comments and fixture rows on them lower
 * in the same file, version after version.
 */

const OWNERS = `CREATE TABLE IF NOT EXISTS owners (
    owner_id integer PRIMARY KEY,
    login text NOT NULL
);
`;

/** The items table of version `v`, each version adding to the last inside the same CREATE TABLE. */
function itemsFile(v: number): string {
  const columns = ['    item_id integer PRIMARY KEY', v >= 4 ? '    name text NOT NULL' : '    name text', '    created_at timestamptz DEFAULT now()'];
  if (v >= 2) columns.push('    notes text', "    metadata JSONB DEFAULT '{}'::jsonb", '    archived BOOLEAN DEFAULT false NOT NULL');
  if (v >= 3) {
    columns.push(
      `    priority integer DEFAULT ${v >= 4 ? 1 : 0} NOT NULL CHECK (priority >= 0)`,
      '    owner_id integer REFERENCES owners (owner_id)',
      '    code text UNIQUE',
      "    CONSTRAINT items_code_format CHECK (code ~ '^[A-Z][0-9]+$')",
    );
  }
  const lines = ['-- items, edited in place version after version', 'CREATE TABLE IF NOT EXISTS items (', columns.join(',\n'), ');', ''];
  lines.push(`CREATE INDEX IF NOT EXISTS idx_items_name ON items (${v >= 4 ? 'lower(name)' : 'name'});`);
  if (v >= 2)
    lines.push(
      'CREATE INDEX IF NOT EXISTS idx_items_active ON items (item_id) WHERE archived = false;',
      "COMMENT ON COLUMN items.notes IS 'free text from the owner';",
    );
  if (v >= 3)
    lines.push(
      'CREATE INDEX IF NOT EXISTS idx_items_owner ON items (owner_id) WHERE owner_id IS NOT NULL;',
      "COMMENT ON COLUMN items.priority IS 'higher first';",
    );
  return `${lines.join('\n')}\n`;
}

function fixtureFile(v: number): string {
  const lines = [
    "INSERT INTO owners (owner_id, login) VALUES (1, 'ada'), (2, 'grace') ON CONFLICT (owner_id) DO NOTHING;",
    "INSERT INTO items (item_id, name) VALUES (1, 'one'), (2, 'two') ON CONFLICT (item_id) DO NOTHING;",
  ];
  if (v >= 2)
    lines.push(
      "INSERT INTO items (item_id, name, notes) VALUES (3, 'three', 'filled by the fixture') ON CONFLICT (item_id) DO UPDATE SET notes = EXCLUDED.notes;",
    );
  if (v >= 3) lines.push("UPDATE items SET owner_id = 1, code = 'A1' WHERE item_id = 1;");
  return `${lines.join('\n')}\n`;
}

const VERSIONS = [1, 2, 3, 4] as const;

function version(v: number, overrides: Record<string, string> = {}) {
  return smallSchema({ 'schema/001_owners.sql': OWNERS, 'schema/002_items.sql': itemsFile(v), 'fixtures/001_rows.sql': fixtureFile(v), ...overrides });
}

const applyTo = (db: TestDatabase, dirs: { schemaDir: string; fixturesDir: string }, extra: string[] = []) =>
  runRunner(['apply', ...folderArgs(dirs), '--json', ...extra], { DATABASE_URL: db.url });

const generated = (result: RunResult): { sql: string; declaredAt: string; lock: string; cost: string }[] => JSON.parse(result.stdout).converged;

describe("when a database is upgraded through versions written the platform's way", () => {
  const databases: TestDatabase[] = [];
  let upgraded: TestDatabase;
  let upgradedClient: Client;
  const steps = new Map<number, { result: RunResult; catalog: string[]; fresh: string[] }>();
  let rerun: RunResult;
  let statusAfter2: RunResult;

  beforeAll(async () => {
    upgraded = await createTestDatabase('converge_up');
    databases.push(upgraded);
    upgradedClient = await upgraded.connect();
    for (const v of VERSIONS) {
      const result = await applyTo(upgraded, version(v));
      if (v === 2) statusAfter2 = await runRunner(['status', ...folderArgs(version(2))], { DATABASE_URL: upgraded.url });
      const fresh = await createTestDatabase(`converge_v${v}`);
      databases.push(fresh);
      await applyTo(fresh, version(v));
      const freshClient = await fresh.connect();
      steps.set(v, { result, catalog: await catalogShape(upgradedClient), fresh: await catalogShape(freshClient) });
    }
    rerun = await applyTo(upgraded, version(4), ['--force']);
  });
  afterAll(() => Promise.all(databases.map((db) => db.drop())));

  it.each(VERSIONS)('then the step to version %i exits 0', (v) => {
    expect(steps.get(v)?.result.code).toBe(0);
  });

  it.each(VERSIONS)('then after version %i the upgraded catalog equals a fresh install of it', (v) => {
    const step = steps.get(v);
    expect(step?.catalog).toEqual(step?.fresh);
  });

  it('then version 2 generated its three columns as catalog-only ADD COLUMNs, each naming its line', () => {
    expect(generated(steps.get(2)?.result as RunResult)).toEqual([
      {
        sql: 'ALTER TABLE items ADD COLUMN notes text',
        declaredAt: 'schema/002_items.sql line 6',
        subject: 'items.notes',
        lock: 'ACCESS EXCLUSIVE',
        cost: 'catalog-only',
        durationMs: expect.any(Number),
      },
      {
        sql: "ALTER TABLE items ADD COLUMN metadata jsonb DEFAULT '{}'::jsonb",
        declaredAt: 'schema/002_items.sql line 7',
        subject: 'items.metadata',
        lock: 'ACCESS EXCLUSIVE',
        cost: 'catalog-only',
        durationMs: expect.any(Number),
      },
      {
        sql: 'ALTER TABLE items ADD COLUMN archived boolean DEFAULT false NOT NULL',
        declaredAt: 'schema/002_items.sql line 8',
        subject: 'items.archived',
        lock: 'ACCESS EXCLUSIVE',
        cost: 'catalog-only',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('then version 3 generated the CHECK, the FOREIGN KEY and the UNIQUE (its index first), flagged with their cost', () => {
    const sql = generated(steps.get(3)?.result as RunResult).map((g) => `${g.sql} [${g.lock}; ${g.cost}]`);
    expect(sql).toEqual([
      'ALTER TABLE items ADD COLUMN priority integer DEFAULT 0 NOT NULL [ACCESS EXCLUSIVE; catalog-only]',
      'ALTER TABLE items ADD COLUMN owner_id integer [ACCESS EXCLUSIVE; catalog-only]',
      'ALTER TABLE items ADD COLUMN code text [ACCESS EXCLUSIVE; catalog-only]',
      'ALTER TABLE items ADD CONSTRAINT items_priority_check CHECK ((priority >= 0)) [ACCESS EXCLUSIVE; scans the table under a lock held until commit]',
      'ALTER TABLE items ADD CONSTRAINT items_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES owners(owner_id) [SHARE ROW EXCLUSIVE on both tables; scans the table under a lock held until commit]',
      'CREATE UNIQUE INDEX items_code_key ON items USING btree (code) [SHARE; blocks writes while the index builds]',
      'ALTER TABLE items ADD CONSTRAINT items_code_key UNIQUE USING INDEX items_code_key [ACCESS EXCLUSIVE; catalog-only]',
      "ALTER TABLE items ADD CONSTRAINT items_code_format CHECK ((code ~ '^[A-Z][0-9]+$'::text)) [ACCESS EXCLUSIVE; scans the table under a lock held until commit]",
    ]);
  });

  it('then version 4 generated the changed default, the NOT NULL and the index rebuild', () => {
    expect(generated(steps.get(4)?.result as RunResult).map((g) => g.sql)).toEqual([
      'ALTER TABLE items ALTER COLUMN name SET NOT NULL',
      'ALTER TABLE items ALTER COLUMN priority SET DEFAULT 1',
      'CREATE INDEX idx_items_name_converging ON items (lower(name))',
      'DROP INDEX idx_items_name',
      'ALTER INDEX idx_items_name_converging RENAME TO idx_items_name',
    ]);
  });

  it('then status after version 2 lists what that run generated, with its lock and cost', () => {
    expect(statusAfter2.stdout).toContain(
      '  convergence generated: schema/002_items.sql line 8: ALTER TABLE items ADD COLUMN archived boolean DEFAULT false NOT NULL [ACCESS EXCLUSIVE; catalog-only]',
    );
  });

  it('then a forced re-run of the last version exits 0 and generates nothing', () => {
    expect({ code: rerun.code, converged: generated(rerun) }).toEqual({ code: 0, converged: [] });
  });

  it("then the rows written before the upgrade are still there, with the fixture's values in the new columns", async () => {
    const { rows } = await upgradedClient.query('SELECT item_id, name, notes, archived, priority, owner_id, code FROM items ORDER BY item_id');
    expect(rows).toEqual([
      { item_id: 1, name: 'one', notes: null, archived: false, priority: 0, owner_id: 1, code: 'A1' },
      { item_id: 2, name: 'two', notes: null, archived: false, priority: 0, owner_id: null, code: null },
      { item_id: 3, name: 'three', notes: 'filled by the fixture', archived: false, priority: 0, owner_id: null, code: null },
    ]);
  });

  it('then the history records the statements each run generated', async () => {
    const { rows } = await upgradedClient.query(`SELECT jsonb_array_length(converged) AS n FROM schema_migrations ORDER BY run_id`);
    expect(rows.map((r) => r.n)).toEqual([0, 3, 8, 5, 0]);
  });
});

describe('when a declaration cannot converge safely', () => {
  const cases: [string, (sql: string) => string, string[]][] = [
    [
      "a column's type is changed",
      (sql) => sql.replace('    name text', '    name varchar(100)'),
      [
        'column items.name is text in the database, but schema/002_items.sql line 4 declares it character varying(100)',
        'Convergence never changes the type of an existing column',
        'Remedy: a new schema file with ALTER TABLE items ALTER COLUMN name TYPE character varying(100)',
      ],
    ],
    [
      'a NOT NULL column without a default is added to a table with rows',
      (sql) => sql.replace('    name text', '    name text,\n    flag boolean NOT NULL'),
      ['convergence refused items.flag (schema/002_items.sql line 5): NOT NULL without a default, on a table with rows', 'Remedy: give it a default'],
    ],
    [
      'a column with a volatile default is added',
      (sql) => sql.replace('    name text', '    name text,\n    seen timestamptz DEFAULT clock_timestamp()'),
      [
        'convergence refused items.seen (schema/002_items.sql line 5): its default clock_timestamp() is volatile',
        'a rewrite of the table under ACCESS EXCLUSIVE',
      ],
    ],
    [
      'a stored generated column is added',
      (sql) => sql.replace('    name text', "    name text,\n    label text GENERATED ALWAYS AS (name || '!') STORED"),
      ['convergence refused items.label (schema/002_items.sql line 5): a stored generated column', 'Remedy: add it by hand'],
    ],
    [
      'a column is removed from the declaration',
      (sql) => sql.replace('    name text,\n', ''),
      [
        'convergence refused items.name (schema/002_items.sql line 2): the column is in the database (text) but no statement of the bundle declares it',
        'Remedy: declare it again',
      ],
    ],
  ];

  // Each case runs once, on a database of its own with version 1 applied, and each outcome is a test.
  describe.each(cases)('when %s', (_, edit, expected) => {
    let db: TestDatabase;
    let result: RunResult;
    let before: string;
    let after: string;
    beforeAll(async () => {
      db = await createTestDatabase('converge_refuse');
      const client = await db.connect();
      expect((await applyTo(db, version(1))).code).toBe(0);
      before = await snapshot(client);
      result = await applyTo(db, version(1, { 'schema/002_items.sql': edit(itemsFile(1)) }));
      after = await snapshot(client);
    });
    afterAll(() => db.drop());

    it('then the run exits 11 (drift)', () => {
      expect(result.code).toBe(11);
    });

    it("then it names the column, the declaration's line and the remedy", () => {
      for (const text of expected) expect(result.stderr).toContain(text);
    });

    it('then the database is unchanged', () => {
      expect(after).toBe(before);
    });
  });
});

describe('when a generated statement meets rows that break it', () => {
  const cases: [string, string, (sql: string) => string, string[]][] = [
    [
      'a CHECK fails on existing rows',
      '',
      (sql) => sql.replace('    name text', "    name text CHECK (name <> 'two')"),
      ['check constraint "items_name_check"', 'convergence generated, for items_name_check declared at schema/002_items.sql line 4'],
    ],
    [
      'a UNIQUE meets duplicates',
      "UPDATE items SET name = 'same';",
      (sql) => sql.replace('    name text', '    name text UNIQUE'),
      ['could not create unique index "items_name_key"', 'Key (name)=(same) is duplicated.', 'CREATE UNIQUE INDEX items_name_key ON items USING btree (name)'],
    ],
    [
      'NOT NULL meets NULL rows',
      'UPDATE items SET name = NULL WHERE item_id = 2;',
      (sql) => sql.replace('    name text', '    name text NOT NULL'),
      ['column "name" of relation "items" contains null values', 'ALTER TABLE items ALTER COLUMN name SET NOT NULL'],
    ],
  ];

  // Each case runs once, on a database of its own with version 1 applied, and each outcome is a test.
  describe.each(cases)('when %s', (_, setup, edit, expected) => {
    let db: TestDatabase;
    let result: RunResult;
    let before: string;
    let after: string;
    beforeAll(async () => {
      db = await createTestDatabase('converge_rows');
      const client = await db.connect();
      expect((await applyTo(db, version(1))).code).toBe(0);
      if (setup) await client.query(setup);
      before = await snapshot(client);
      result = await applyTo(db, version(1, { 'schema/002_items.sql': edit(itemsFile(1)) }));
      after = await snapshot(client);
    });
    afterAll(() => db.drop());

    it('then the run exits 13 (permanent)', () => {
      expect(result.code).toBe(13);
    });

    it('then it names the constraint or column and the generated statement', () => {
      for (const text of expected) expect(result.stderr).toContain(text);
    });

    it('then it says the run was rolled back', () => {
      expect(result.stderr).toContain('the run was rolled back: the database is as it was before');
    });

    it('then the database is as it was before', () => {
      expect(after).toBe(before);
    });
  });
});

describe('when convergence is off (--converge refuse) and a later statement of the file needs the new column', () => {
  let db: TestDatabase;
  let result: RunResult;
  beforeAll(async () => {
    db = await createTestDatabase('converge_off');
    expect((await applyTo(db, version(1))).code).toBe(0);
    result = await applyTo(db, version(2), ['--converge', 'refuse']);
  });
  afterAll(() => db.drop());

  it('then it exits 11', () => {
    expect(result.code).toBe(11);
  });

  it('then the failure names the statement that needs the column, by file, line and column', () => {
    expect(result.stderr).toContain('ERROR: schema/002_items.sql line 12, column 70: column "archived" does not exist (SQLSTATE 42703)');
  });

  it('then the cause names the declaration and why PostgreSQL skipped it', () => {
    expect(result.stderr).toContain(
      'cause: column items.archived is declared at schema/002_items.sql line 8, inside CREATE TABLE IF NOT EXISTS items (schema/002_items.sql line 2), which PostgreSQL skipped because items already exists; convergence is off (--converge refuse, MIGRATION_CONVERGE=refuse).',
    );
  });

  it('then the remedy says to turn convergence on or add the column right after that CREATE TABLE', () => {
    expect(result.stderr).toContain(
      'remedy: turn convergence on (--converge apply, MIGRATION_CONVERGE=apply), or add ALTER TABLE items ADD COLUMN IF NOT EXISTS archived BOOLEAN DEFAULT false NOT NULL; right after that CREATE TABLE',
    );
  });

  it("then docs/runner.md's example is what it printed, line for line", () => {
    const printed = result.stderr.split('\n');
    const example = docsSample('runner.md', 'converge refuse example');
    const from = printed.indexOf(example[0]);
    expect(printed.slice(from, from + example.length)).toEqual(example);
  });
});

describe('when convergence refuses a column and a later statement of the file needs it', () => {
  let db: TestDatabase;
  let result: RunResult;
  beforeAll(async () => {
    db = await createTestDatabase('converge_refused_later');
    expect((await applyTo(db, version(1))).code).toBe(0);
    const edited =
      itemsFile(1).replace('    name text', '    name text,\n    seen timestamptz DEFAULT clock_timestamp()') +
      'CREATE INDEX IF NOT EXISTS idx_items_seen ON items (seen);\n';
    result = await applyTo(db, version(1, { 'schema/002_items.sql': edited }));
  });
  afterAll(() => db.drop());

  it("then the statement's failure names the refused declaration and why, and exits 11", () => {
    expect(result.code).toBe(11);
    expect(result.stderr).toContain('column "seen" does not exist (SQLSTATE 42703)');
    expect(result.stderr).toContain(
      'cause: column items.seen is declared at schema/002_items.sql line 5, inside CREATE TABLE IF NOT EXISTS items (schema/002_items.sql line 2), which PostgreSQL skipped because items already exists; convergence refused it: its default clock_timestamp() is volatile',
    );
  });
});

describe('when plan meets an edited CREATE TABLE', () => {
  let db: TestDatabase;
  let client: Client;
  let result: RunResult;
  let before: string;
  beforeAll(async () => {
    db = await createTestDatabase('converge_plan');
    client = await db.connect();
    expect((await applyTo(db, version(1))).code).toBe(0);
    before = await snapshot(client);
    result = await runRunner(['plan', ...folderArgs(version(2))], { DATABASE_URL: db.url });
  });
  afterAll(() => db.drop());

  it('then it lists each generated statement with its declaration, lock and cost', () => {
    expect(result.stdout).toContain(
      [
        'generated by convergence (existing tables and indexes brought to what the files declare; every lock is held until the run commits):',
        '  schema/002_items.sql line 6: ALTER TABLE items ADD COLUMN notes text',
        '      lock ACCESS EXCLUSIVE; catalog-only',
        "  schema/002_items.sql line 7: ALTER TABLE items ADD COLUMN metadata jsonb DEFAULT '{}'::jsonb",
        '      lock ACCESS EXCLUSIVE; catalog-only',
        '  schema/002_items.sql line 8: ALTER TABLE items ADD COLUMN archived boolean DEFAULT false NOT NULL',
        '      lock ACCESS EXCLUSIVE; catalog-only',
      ].join('\n'),
    );
  });

  it('then it exits 0 and the database is unchanged', async () => {
    expect(result.code).toBe(0);
    expect(await snapshot(client)).toBe(before);
  });
});

describe('when the runner is killed with SIGKILL while a generated statement runs', () => {
  let db: TestDatabase;
  let client: Client;
  /** Version 3 with its CHECK calling a function that sleeps `seconds` per row. */
  const slowCheck = (seconds: number) =>
    version(3, {
      'schema/001_owners.sql': `${OWNERS}CREATE OR REPLACE FUNCTION items_priority_ok(p integer) RETURNS boolean LANGUAGE sql AS $$ SELECT pg_sleep(${seconds}) IS NOT NULL AND p >= 0 $$;\n`,
      'schema/002_items.sql': itemsFile(3).replace('CHECK (priority >= 0)', 'CHECK (items_priority_ok(priority))'),
    });
  beforeAll(async () => {
    db = await createTestDatabase('converge_kill');
    client = await db.connect();
    expect((await applyTo(db, version(1))).code).toBe(0);
  });
  afterAll(() => db.drop());

  it('then nothing is half converged, and the next run converges', async () => {
    const before = await snapshot(client);
    const killed = await killRunnerDuring(client, ['apply', ...folderArgs(slowCheck(30))], { DATABASE_URL: db.url }, 'ADD CONSTRAINT items_priority_check');
    expect(killed.signal).toBe('SIGKILL');
    expect(await snapshot(client)).toBe(before);
    const next = await applyTo(db, slowCheck(0));
    expect({ code: next.code, generated: generated(next).length }).toEqual({ code: 0, generated: 11 });
  });
});

describe("when plan meets the platform's edit of 002_reservations.sql on a database the product's files built", () => {
  let db: TestDatabase;
  let result: RunResult;
  beforeAll(async () => {
    db = await createTestDatabase('converge_readme');
    const dirs = copyOfDatabaseFolders();
    expect((await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url })).code).toBe(0);
    const file = join(dirs.schemaDir, '002_reservations.sql');
    const sql = readFileSync(file, 'utf8')
      .replace('    cli_version VARCHAR(50)\n', '    cli_version VARCHAR(50),\n    priority INTEGER NOT NULL DEFAULT 0\n')
      .replace(
        'CREATE OR REPLACE FUNCTION',
        "CREATE INDEX IF NOT EXISTS idx_reservations_queued_priority\n    ON reservations(priority DESC) WHERE status = 'queued';\n\nCREATE OR REPLACE FUNCTION",
      );
    writeFileSync(file, sql);
    result = await runRunner(['plan', ...folderArgs(dirs)], { DATABASE_URL: db.url });
  });
  afterAll(() => db.drop());

  it("then docs/runner.md's example is the section it printed", () => {
    const printed = result.stdout.split('\n');
    const from = printed.findIndex((line) => line.startsWith('generated by convergence'));
    const to = printed.indexOf('', from);
    expect(printed.slice(from, to)).toEqual(docsSample('runner.md', 'converge plan example'));
  });

  it('then it exits 0: the index on the new column finds it', () => {
    expect(result.code).toBe(0);
  });
});
