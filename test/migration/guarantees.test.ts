import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { applyProductSchema } from '../support/api';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, type RunResult, runRunner, spawnRunner } from '../support/runner';
import { waitFor } from '../support/wait';

/**
 * The runner's promises hold whatever the files contain: one transaction, a read-only plan,
 * one runner at a time, the runner's own settings for every file, bounded waits.
 */

type Dirs = ReturnType<typeof copyOfDatabaseFolders>;

/** The product's files plus `extra` ("schema/006_x.sql" → SQL). */
function bundleWith(extra: Record<string, string>): Dirs {
  const dirs = copyOfDatabaseFolders();
  for (const [name, sql] of Object.entries(extra)) {
    const [folder, file] = name.split('/');
    writeFileSync(join(folder === 'schema' ? dirs.schemaDir : dirs.fixturesDir, file), sql);
  }
  return dirs;
}

/** A fresh database and a client on it, for each test of the block or shared by all of them; dropped after. */
function emptyDatabase(prefix: string, scope: 'each' | 'all', prepare?: (db: TestDatabase) => Promise<void>): { db: () => TestDatabase; client: () => Client } {
  let db: TestDatabase | undefined;
  let client: Client | undefined;
  (scope === 'each' ? beforeEach : beforeAll)(async () => {
    db = await createTestDatabase(prefix);
    client = await db.connect();
    await prepare?.(db);
  });
  (scope === 'each' ? afterEach : afterAll)(() => db?.drop());
  return { db: () => db as TestDatabase, client: () => client as Client };
}

/** The same, with the product bundle applied, as a deployed database has it. */
function appliedDatabase(prefix: string, scope: 'each' | 'all'): ReturnType<typeof emptyDatabase> {
  return emptyDatabase(prefix, scope, applyProductSchema);
}

describe('statements that would break the run are refused before connecting', () => {
  const { db, client } = appliedDatabase('refuse', 'all');

  const NO_TX = '-- migration: no-transaction\n';
  const cases: [string, Record<string, string>, string][] = [
    [
      'a file wrapped in BEGIN … COMMIT',
      {
        'schema/006_wrapped.sql': 'BEGIN;\nALTER TABLE gpu_types ADD COLUMN IF NOT EXISTS note text;\nCOMMIT;\n',
        'fixtures/002_change.sql': "UPDATE gpu_types SET max_per_node = 99 WHERE gpu_type = 't4';\n",
      },
      "006_wrapped.sql:1:1: BEGIN is not allowed: every file already runs in the run's one transaction",
    ],
    ['START TRANSACTION', { 'schema/006_x.sql': 'SELECT 1;\n  START TRANSACTION;\n' }, '006_x.sql:2:3: START TRANSACTION is not allowed'],
    ['a SAVEPOINT', { 'schema/006_x.sql': 'SAVEPOINT before_change;\n' }, '006_x.sql:1:1: SAVEPOINT before_change is not allowed'],
    ['END', { 'fixtures/002_x.sql': "UPDATE gpu_types SET max_per_node = 99 WHERE gpu_type = 't4';\nEND;\n" }, '002_x.sql:2:1: END is not allowed'],
    ['PREPARE TRANSACTION', { 'schema/006_x.sql': "PREPARE TRANSACTION 'x';\n" }, "006_x.sql:1:1: PREPARE TRANSACTION 'x' is not allowed"],
    [
      'SET ROLE',
      { 'schema/006_x.sql': 'SET ROLE some_role;\nCREATE TABLE owned (id int);\n' },
      "006_x.sql:1:1: SET ROLE some_role is not allowed: the tables this run creates, and the runner's own history, would belong to another role",
    ],
    [
      'SET LOCAL ROLE',
      { 'schema/006_x.sql': 'SET LOCAL ROLE some_role;\n' },
      '006_x.sql:1:1: SET LOCAL ROLE some_role is not allowed: the tables this run creates',
    ],
    [
      'SET SESSION AUTHORIZATION',
      { 'schema/006_x.sql': 'SET SESSION AUTHORIZATION some_role;\n' },
      '006_x.sql:1:1: SET SESSION AUTHORIZATION some_role is not allowed',
    ],
    ['RESET ALL', { 'schema/006_x.sql': 'RESET ALL;\n' }, "006_x.sql:1:1: RESET ALL is not allowed: it would reset the runner's lock_timeout"],
    [
      'DISCARD ALL in a no-transaction file',
      { 'schema/006_x.sql': `${NO_TX}DISCARD ALL;\n` },
      "006_x.sql:2:1: DISCARD ALL is not allowed: it throws away the runner's session state, and DISCARD ALL also releases the migration lock",
    ],
    [
      'a session-wide SET search_path in the last fixture',
      { 'fixtures/002_x.sql': 'SET search_path = elsewhere;\n' },
      '002_x.sql:1:1: SET search_path changes the setting for the whole session',
    ],
    ["a session-wide SET of the runner's lock_timeout", { 'schema/006_x.sql': 'SET lock_timeout = 0;\n' }, "lock_timeout is the runner's own setting"],
    [
      'pg_advisory_unlock_all()',
      { 'schema/006_x.sql': `${NO_TX}SELECT pg_advisory_unlock_all();\n` },
      "006_x.sql:2:1: pg_advisory_unlock_all() is not allowed: it can release the runner's migration lock",
    ],
    [
      'a session-wide set_config',
      { 'schema/006_x.sql': "SELECT set_config('search_path', '', false);\n" },
      "006_x.sql:1:1: set_config('search_path', ..., false) changes the setting for the whole session",
    ],
    ['COPY FROM STDIN', { 'fixtures/002_x.sql': 'COPY gpu_types FROM STDIN;\n' }, '002_x.sql:1:1: COPY ... FROM STDIN is not allowed'],
    [
      'COPY FROM a server file',
      { 'fixtures/002_x.sql': "COPY gpu_types FROM '/etc/passwd';\n" },
      "002_x.sql:1:1: COPY ... FROM a server file ('/etc/passwd') is not allowed: it reads a file on the database server; migrations are reviewed as SQL",
    ],
    [
      'COPY TO PROGRAM',
      { 'schema/006_x.sql': "COPY (SELECT 1) TO PROGRAM 'curl example.invalid';\n" },
      "006_x.sql:1:1: COPY ... TO PROGRAM ('curl example.invalid') is not allowed: it runs a shell command on the database server",
    ],
    [
      'pg_read_file() inside an INSERT',
      { 'fixtures/002_x.sql': "INSERT INTO gpu_types (gpu_type) SELECT pg_read_file('/etc/hostname');\n" },
      '002_x.sql:1:1: pg_read_file() is not allowed: it reaches files on the database server; migrations are reviewed as SQL',
    ],
    [
      'a syntax error',
      { 'schema/006_x.sql': 'SELECT 1;\n\nSELEC 2;\n' },
      '006_x.sql:3:1: PostgreSQL\'s parser refuses this file: syntax error at or near "SELEC"',
    ],
    [
      'a psql meta-command',
      { 'schema/006_x.sql': 'SELECT 1;\n\\connect other\n' },
      '006_x.sql:2:1: PostgreSQL\'s parser refuses this file: syntax error at or near "\\" (a line starting with a backslash is a psql meta-command, not SQL: remove it)',
    ],
    ['a comment-only file', { 'schema/006_x.sql': '-- TODO; later\n/* nothing; */\n' }, '006_x.sql: is empty (no SQL statement)'],
  ];

  it.each(cases)(
    'when a file has %s, then apply and plan exit 3 naming file, line, column and the remedy, and the database is unchanged',
    async (_, files, message) => {
      const before = await snapshot(client());
      const dirs = bundleWith(files);
      for (const command of ['apply', 'plan']) {
        const result = await runRunner([command, ...folderArgs(dirs)], { DATABASE_URL: db().url });
        expect({ command, code: result.code }).toEqual({ command, code: 3 });
        expect(result.stderr).toContain(message);
        expect(result.stderr).toContain('exit code 3 (badInput)');
      }
      expect(await snapshot(client())).toBe(before);
    },
  );

  it('when a file is a symbolic link out of the folder, then exit 3 names it and nothing of the target is read', async () => {
    const dirs = copyOfDatabaseFolders();
    symlinkSync('/etc/passwd', join(dirs.schemaDir, '006_passwd.sql'));
    const result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db().url });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `${join(dirs.schemaDir, '006_passwd.sql')}: is a symbolic link to /etc/passwd, outside the folder; bundle files must be inside it (nothing of the target was read)`,
    );
    expect(result.stderr).not.toContain('root:');
  });

  it('when a file is a dangling symbolic link, then exit 3 names it, without a stack trace', async () => {
    const dirs = copyOfDatabaseFolders();
    symlinkSync(join(dirs.root, 'gone.sql'), join(dirs.fixturesDir, '002_gone.sql'));
    const result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db().url });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`${join(dirs.fixturesDir, '002_gone.sql')}: is a symbolic link to something that does not exist; fix or remove the link`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("when links resolve inside the folder (the kubelet's ConfigMap layout), then they are read", async () => {
    const dirs = copyOfDatabaseFolders();
    const linked = join(mkdtempSync(join(tmpdir(), 'gpu-dev-links-')), 'fixtures');
    const name = '001_initial_gpu_types.sql';
    mkdirSync(join(linked, '..2026_12_01'), { recursive: true });
    copyFileSync(join(dirs.fixturesDir, name), join(linked, '..2026_12_01', name));
    symlinkSync('..2026_12_01', join(linked, '..data'));
    symlinkSync(join('..data', name), join(linked, name));
    const result = await runRunner(['apply', '--schema-dir', dirs.schemaDir, '--fixtures-dir', linked], { DATABASE_URL: db().url });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('was already applied');
  });
});

describe('what a file sets lasts for that file only', () => {
  const { db, client } = emptyDatabase('local', 'each');

  it("when a file sets SET LOCAL lock_timeout, search_path, work_mem and a custom setting, then the next file starts from the runner's own values", async () => {
    const dirs = bundleWith({
      'schema/006_patient.sql':
        "SET LOCAL lock_timeout = '1min';\nSET LOCAL search_path = pg_catalog;\nSET LOCAL work_mem = '77MB';\nSELECT set_config('app.mode', 'x', true);\n",
      'schema/007_probe.sql':
        "CREATE TABLE IF NOT EXISTS public.probe AS SELECT current_setting('lock_timeout') AS lock_timeout, current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem, current_setting('app.mode', true) AS custom, current_user::text AS who;\n",
      // The last fixture's SET LOCAL must not blind the drift check to the product's tables.
      'fixtures/002_last.sql': 'SET LOCAL search_path = pg_catalog;\nSELECT 1;\n',
    });
    const result = await runRunner(['apply', ...folderArgs(dirs), '--lock-timeout', '2s'], { DATABASE_URL: db().url });
    expect(result.stderr).not.toContain('drift');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { rows } = await client().query('SELECT lock_timeout, search_path, work_mem, custom, who = session_user AS same_user FROM probe');
    expect(rows).toEqual([{ lock_timeout: '2s', search_path: '"$user", public', work_mem: '4MB', custom: '', same_user: true }]);
  });
});

describe("what the rules cannot see, the run's guard catches", () => {
  describe('when dynamic SQL releases the migration lock', () => {
    const { db, client } = appliedDatabase('guard', 'all');
    const runs: { command: string; rolledBack: string; result: RunResult }[] = [];
    let before: string;
    let after: string;

    beforeAll(async () => {
      const dirs = bundleWith({
        'schema/006_unlock.sql': "CREATE TABLE IF NOT EXISTS sneaky (id int);\nDO $$ BEGIN EXECUTE 'SELECT pg_advisory_unlock_all()'; END $$;\n",
      });
      before = await snapshot(client());
      for (const [command, rolledBack] of [
        ['apply', 'The run was rolled back: the database is as it was before'],
        ['plan', 'The plan was rolled back: the database is unchanged'],
      ]) {
        runs.push({ command, rolledBack, result: await runRunner([command, ...folderArgs(dirs)], { DATABASE_URL: db().url }) });
      }
      after = await snapshot(client());
    });

    it('then apply and plan exit 12 (guardFailed)', () => {
      expect(runs.map((r) => r.command)).toEqual(['apply', 'plan']);
      for (const { command, result } of runs) {
        expect({ command, code: result.code }).toEqual({ command, code: 12 });
        expect(result.stderr).toContain('exit code 12 (guardFailed)');
      }
    });

    it('then they say the file left the runner without the migration lock', () => {
      expect(runs).toHaveLength(2);
      for (const { result } of runs) expect(result.stderr).toContain('after schema/006_unlock.sql ran, this runner no longer held the migration lock');
    });

    it('then they say the run was rolled back', () => {
      expect(runs).toHaveLength(2);
      for (const { result, rolledBack } of runs) expect(result.stderr).toContain(rolledBack);
    });

    it('then the database is unchanged', () => {
      expect(after).toBe(before);
    });
  });

  describe('when dynamic SQL changes the role', () => {
    let role: string | undefined;
    // Declared before the database so that it runs first: the role goes while the database is still there.
    afterAll(async () => {
      if (role === undefined) return;
      await client().query(`REVOKE ALL ON SCHEMA public FROM ${role}`);
      await client().query(`DROP ROLE ${role}`);
    });
    const { db, client } = appliedDatabase('guard', 'all');
    let result: RunResult;
    let before: string;
    let after: string;

    beforeAll(async () => {
      const name = `other_${db().name}`;
      await client().query(`CREATE ROLE ${name}`);
      role = name;
      await client().query(`GRANT CREATE ON SCHEMA public TO ${role}`);
      const dirs = bundleWith({
        'schema/006_role.sql': `DO $$ BEGIN EXECUTE 'SET ROLE ${role}'; END $$;\nCREATE TABLE IF NOT EXISTS owned_by_other (id int);\n`,
      });
      before = await snapshot(client());
      result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db().url });
      after = await snapshot(client());
    });

    it('then apply exits 12', () => {
      expect(result.code).toBe(12);
    });

    it('then it names the role the session ran as instead of its own', () => {
      expect(result.stderr).toMatch(new RegExp(`after schema/006_role.sql ran, the session ran as ${role} \\(session user \\w+\\) instead of \\w+`));
    });

    it('then it says the run was rolled back', () => {
      expect(result.stderr).toContain('The run was rolled back: the database is as it was before');
    });

    it('then nothing is owned by that role: the database is unchanged', () => {
      expect(after).toBe(before);
    });
  });
});

describe('statements PostgreSQL accepts, the runner splits as PostgreSQL does', () => {
  const { db, client } = appliedDatabase('split', 'all');

  const tricky = [
    'CREATE OR REPLACE FUNCTION atomic_total() RETURNS integer LANGUAGE sql',
    'BEGIN ATOMIC',
    '  SELECT 1;',
    '  SELECT count(*)::integer FROM gpu_types;',
    'END;',
    'CREATE TABLE IF NOT EXISTS audit_a (n int);',
    'CREATE TABLE IF NOT EXISTS audit_b (n int);',
    'CREATE OR REPLACE RULE audit_both AS ON INSERT TO audit_a DO ALSO (INSERT INTO audit_b VALUES (NEW.n); INSERT INTO audit_b VALUES (NEW.n + 1));',
    'SELECT $é$ a ; dollar body $é$ AS body;',
    '',
  ];

  describe('when a file has BEGIN ATOMIC, a two-action rule and a non-ASCII dollar tag', () => {
    let plan: RunResult;
    let apply: RunResult;

    beforeAll(async () => {
      const good = bundleWith({ 'schema/006_tricky.sql': tricky.join('\n') });
      plan = await runRunner(['plan', ...folderArgs(good)], { DATABASE_URL: db().url });
      apply = await runRunner(['apply', ...folderArgs(good)], { DATABASE_URL: db().url });
    });

    it('then plan runs it', () => {
      expect(plan.stderr).not.toContain('ERROR');
      expect(plan.code).toBe(0);
    });

    it('then apply runs it', () => {
      expect(apply.code).toBe(0);
    });

    it('then a row inserted into audit_a reaches audit_b through both actions of the rule', async () => {
      await client().query('INSERT INTO audit_a VALUES (10)');
      expect((await client().query('SELECT n FROM audit_b ORDER BY n')).rows).toEqual([{ n: 10 }, { n: 11 }]);
    });

    it('then the BEGIN ATOMIC function answers', async () => {
      expect((await client().query('SELECT atomic_total() AS n')).rows).toEqual([{ n: 10 }]);
    });

    describe('when a later file fails after the same statements', () => {
      let result: RunResult;
      let before: string;
      let after: string;

      beforeAll(async () => {
        const bad = bundleWith({ 'schema/006_tricky.sql': tricky.join('\n'), 'schema/007_after.sql': `${tricky.join('\n')}SELECT 1/0;\n` });
        before = await snapshot(client());
        result = await runRunner(['apply', ...folderArgs(bad)], { DATABASE_URL: db().url });
        after = await snapshot(client());
      });

      it('then apply exits 13', () => {
        expect(result.code).toBe(13);
      });

      it('then the error names its real line and statement number', () => {
        expect(result.stderr).toContain('schema/007_after.sql line 10, column 1: division by zero (SQLSTATE 22012)');
        expect(result.stderr).toContain('statement 6 of 6, from line 10');
      });

      it('then the database is unchanged', () => {
        expect(after).toBe(before);
      });
    });
  });
});

describe('when a runner hangs inside its transaction (SIGSTOP)', () => {
  let frozen: ReturnType<typeof spawnRunner> | undefined;
  // The stopped runner is killed by its PID, also when a step failed; declared before the
  // database so that it runs before the database is dropped.
  afterAll(async () => {
    if (frozen === undefined) return;
    frozen.child.kill('SIGKILL');
    await frozen.result;
  });
  const { db, client } = appliedDatabase('frozen', 'all');
  let dirs: Dirs;
  let heldWhenStopped: number;
  let freedAfterMs: number;

  const held = async () =>
    (
      await client().query(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE a.application_name LIKE 'gpu-dev-db%' AND (l.locktype = 'advisory' OR l.relation = 'reservations'::regclass)`,
      )
    ).rows[0].n;

  beforeAll(async () => {
    dirs = bundleWith({ 'schema/006_hold.sql': 'LOCK TABLE reservations IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(1);\n' });
    frozen = spawnRunner(['apply', ...folderArgs(dirs), '--idle-timeout', '2s'], { DATABASE_URL: db().url });
    await waitFor('the runner to hold reservations', async () => {
      const { rows } = await client().query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1)%' AND state = 'active' AND pid <> pg_backend_pid()`);
      return rows.length === 1;
    });
    frozen.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    heldWhenStopped = await held();
    // pg_sleep(1) ends, the session sits idle in its transaction, and 2 s later PostgreSQL ends it.
    await waitFor("the frozen runner's locks to be freed", async () => (await held()) === 0, 20_000);
    freedAfterMs = Date.now() - stoppedAt;
  });

  it('then, stopped, it holds the migration lock and its table lock', () => {
    expect(heldWhenStopped).toBeGreaterThan(0);
  });

  it('then its session, the migration lock and its table locks end after the idle timeout', () => {
    expect(freedAfterMs).toBeGreaterThan(2000);
  });

  describe('when the next runner applies', () => {
    let next: RunResult;

    beforeAll(async () => {
      next = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db().url });
    });

    it('then it exits 0', () => {
      expect(next.code).toBe(0);
    });

    it('then its bundle is recorded once', async () => {
      expect(
        (await client().query('SELECT count(*)::int AS n FROM schema_migrations WHERE bundle_hash = $1', [/bundle ([0-9a-f]{64})/.exec(next.stdout)?.[1]]))
          .rows[0].n,
      ).toBe(1);
    });
  });
});
