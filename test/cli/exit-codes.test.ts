import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_FOLDERS, REPO_ROOT } from '../../src/build/repository';
import { applyProductSchema } from '../support/api';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { temporaryFolder } from '../support/temporary';

/**
 * Every command-line entry point run as CI and users run it, `npm run -s …` or `npx …`, as a
 * process: its exit code is what a workflow step, a Job or a shell sees, including after an
 * embedded PostgreSQL was started and stopped in the same process.
 */

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `npm run -s SCRIPT -- ARGS` or `npx ARGS` in the repository, with PATH and `env` only; killed
 * after 90 s, before jest's 120 s test timeout, so a hung command ends with the test.
 */
function run(command: 'npm' | 'npx', args: readonly string[], env: Record<string, string> = {}, cwd = REPO_ROOT): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, timeout: 90_000, maxBuffer: 16 * 2 ** 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
      },
    );
  });
}

/** A folder holding database/ as the product has it, for --base-dir and --head-dir. */
function databaseCopy(): string {
  const root = temporaryFolder('gpu-dev-cli-');
  mkdirSync(join(root, 'database'));
  cpSync(DATABASE_FOLDERS.schemaDir, join(root, 'database', 'schema'), { recursive: true });
  cpSync(DATABASE_FOLDERS.fixturesDir, join(root, 'database', 'fixtures'), { recursive: true });
  return root;
}

function editReservations(root: string, from: string, to: string): void {
  const file = join(root, 'database', 'schema', '002_reservations.sql');
  writeFileSync(file, execFileSync('cat', [file], { encoding: 'utf8' }).replace(from, to));
}

describe('npm run -s review, as the workflow runs it', () => {
  describe('when the head is the base', () => {
    it('then it exits 0 (nothing to review)', async () => {
      const side = databaseCopy();
      expect((await run('npm', ['run', '-s', 'review', '--', '--base-dir', side, '--head-dir', side])).code).toBe(0);
    });
  });

  describe('when the head edits a column type in a committed CREATE TABLE (drift), with the base given as a git ref', () => {
    let result: Run;
    beforeAll(async () => {
      const repo = databaseCopy();
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=ci', '-c', 'user.email=ci@example.invalid', ...args], { cwd: repo });
      git('init', '-q', '-b', 'main');
      git('add', '.');
      git('commit', '-q', '-m', 'base');
      editReservations(repo, '    cli_version VARCHAR(50)', '    cli_version VARCHAR(80)');
      result = await run('npm', ['run', '-s', 'review', '--', '--base', 'main', '--head-dir', repo]);
    });

    it('then it exits 1', () => {
      expect(result.code).toBe(1);
    });

    it('then the report on stdout says fail and names the drift', () => {
      expect(result.stdout).toMatch(/^<!-- .* -->\n## ❌ gpu-dev review: fail: 1 problem to fix before merging/);
      expect(result.stdout).toContain('column reservations.cli_version is character varying(50) in the database');
    });
  });

  describe('when the base folder does not exist', () => {
    it('then it exits 2 naming it', async () => {
      const result = await run('npm', ['run', '-s', 'review', '--', '--base-dir', '/nonexistent/base']);
      expect({ code: result.code, named: result.stderr.includes('--base-dir /nonexistent/base: no such folder') }).toEqual({ code: 2, named: true });
    });
  });

  describe("when the base's SQL does not parse", () => {
    it('then it exits 3 (the review could not run), saying why', async () => {
      const base = databaseCopy();
      const head = databaseCopy();
      writeFileSync(join(base, 'database', 'schema', '006_broken.sql'), 'CREATE TABLE (;\n');
      writeFileSync(join(head, 'database', 'schema', '006_fine.sql'), 'CREATE TABLE IF NOT EXISTS fine (id integer);\n');
      const result = await run('npm', ['run', '-s', 'review', '--', '--base-dir', base, '--head-dir', head]);
      expect({ code: result.code, said: /the review could not run: Error: base \S+ does not synthesize/.test(result.stderr) }).toEqual({ code: 3, said: true });
    });
  });
});

describe('npx gpu-dev-db, as users run the runner', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('cli_runner');
    await applyProductSchema(db);
  });
  afterAll(() => db.drop());

  const runner = (args: readonly string[], env: Record<string, string> = {}) => run('npx', ['gpu-dev-db', ...args], env);

  it.each<{ when: string; args: string[]; env: Record<string, string>; code: number }>([
    { when: '--help is asked for', args: ['--help'], env: {}, code: 0 },
    { when: 'the command is unknown', args: ['migrate'], env: {}, code: 2 },
    { when: 'a file name breaks the rule', args: ['status', '--schema-dir', '__bad__'], env: {}, code: 3 },
    { when: 'the database cannot be reached', args: ['status', '--connect-attempts', '1'], env: { DATABASE_URL: 'postgres://x:y@127.0.0.1:1/z' }, code: 4 },
  ])('when $when, then it exits $code', async ({ args: given, env, code }) => {
    let args = given;
    if (args.includes('__bad__')) {
      const dir = temporaryFolder('gpu-dev-cli-schema-');
      writeFileSync(join(dir, 'not-a-migration.sql'), 'SELECT 1;\n');
      args = args.map((a) => (a === '__bad__' ? dir : a));
    }
    expect((await runner(args, env)).code).toBe(code);
  });

  it('when plan meets a type edited in CREATE TABLE, then it exits 11 (drift)', async () => {
    const root = databaseCopy();
    editReservations(root, '    cli_version VARCHAR(50)', '    cli_version VARCHAR(80)');
    const result = await runner(['plan', '--schema-dir', join(root, 'database', 'schema'), '--fixtures-dir', join(root, 'database', 'fixtures')], {
      DATABASE_URL: db.url,
    });
    expect(result.code).toBe(11);
  });

  it('when verify meets an empty database, then it exits 9', async () => {
    const empty = await createTestDatabase('cli_empty');
    try {
      expect((await runner(['verify'], { DATABASE_URL: empty.url })).code).toBe(9);
    } finally {
      await empty.drop();
    }
  });
});

describe('npm run api and npm run api:admin', () => {
  it('when the API meets a database without its schema, then npm run api exits 9', async () => {
    const empty = await createTestDatabase('cli_api');
    try {
      expect((await run('npm', ['run', '-s', 'api'], { DATABASE_URL: empty.url, PORT: '0' })).code).toBe(9);
    } finally {
      await empty.drop();
    }
  });

  it('when npm run api:admin is given an unknown command, then it exits 2', async () => {
    expect((await run('npm', ['run', '-s', 'api:admin', '--', 'frobnicate'], { DATABASE_URL: 'postgres://x:y@127.0.0.1:1/z' })).code).toBe(2);
  });
});

describe('npm run local', () => {
  it("when the migration fails, then npm run local exits with the runner's code and stops its PostgreSQL", async () => {
    const local = temporaryFolder('gpu-dev-cli-local-');
    // PostgreSQL runs as its own user, which must reach the data folder inside.
    chmodSync(local, 0o755);
    const root = databaseCopy();
    writeFileSync(join(root, 'database', 'schema', '006_fails.sql'), 'SELECT 1 / 0;\n');
    const result = await run(
      'npm',
      [
        'run',
        '-s',
        'local',
        '--',
        '--port',
        '0',
        '--db-port',
        '0',
        '--schema-dir',
        join(root, 'database', 'schema'),
        '--fixtures-dir',
        join(root, 'database', 'fixtures'),
      ],
      { GPU_DEV_LOCAL_DIR: local },
    );
    expect({ code: result.code, stopped: result.stdout.includes('the migration failed (exit 13') }).toEqual({ code: 13, stopped: true });
  });
});
