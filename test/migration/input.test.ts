import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, PRODUCT_FILES, type RunResult, runRunner } from '../support/runner';

/** A database URL nothing listens on: reaching it would take the can't-connect path. */
const NOWHERE = 'postgres://nobody:secret-value@127.0.0.1:9/none';

describe('gpu-dev-db before it connects', () => {
  const badInput = async (prepare: (dirs: ReturnType<typeof copyOfDatabaseFolders>) => void) => {
    const dirs = copyOfDatabaseFolders();
    prepare(dirs);
    const result = await runRunner(['apply', ...folderArgs(dirs), '--connect-attempts', '1'], { DATABASE_URL: NOWHERE });
    return { ...result, dirs };
  };

  it('when a file name does not match NNN_name.sql, then it exits 3 naming the file and the rule', async () => {
    const { code, stderr, dirs } = await badInput((d) => writeFileSync(join(d.schemaDir, '5_Extra.sql'), 'SELECT 1;'));
    expect(code).toBe(3);
    expect(stderr).toContain(`ERROR: ${join(dirs.schemaDir, '5_Extra.sql')}: file name does not match NNN_name.sql (three or more digits`);
    expect(stderr).not.toContain('connect');
  });

  it('when two files share a number, then it exits 3 naming both', async () => {
    const { code, stderr, dirs } = await badInput((d) => writeFileSync(join(d.schemaDir, '002_more_reservations.sql'), 'SELECT 1;'));
    expect(code).toBe(3);
    expect(stderr).toContain(
      `${join(dirs.schemaDir, '002_reservations.sql')}: number 002 is already used by ${join(dirs.schemaDir, '002_more_reservations.sql')}`,
    );
  });

  it('when a file is empty or holds only comments, then it exits 3 naming it', async () => {
    const empty = await badInput((d) => writeFileSync(join(d.fixturesDir, '002_nothing.sql'), ''));
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain(`${join(empty.dirs.fixturesDir, '002_nothing.sql')}: is empty (no SQL statement)`);
    const comments = await badInput((d) => writeFileSync(join(d.fixturesDir, '002_comments.sql'), '-- todo\n/* later; */\n'));
    expect(comments.code).toBe(3);
    expect(comments.stderr).toContain('002_comments.sql: is empty (no SQL statement)');
  });

  it('when a file holds bytes that are not UTF-8, then it exits 3 naming the file and the line', async () => {
    const { code, stderr, dirs } = await badInput((d) =>
      writeFileSync(
        join(d.schemaDir, '006_latin1.sql'),
        Buffer.concat([Buffer.from("-- ok\nCOMMENT ON TABLE disks IS 'caf"), Buffer.from([0xe9]), Buffer.from("';\n")]),
      ),
    );
    expect(code).toBe(3);
    expect(stderr).toContain(`${join(dirs.schemaDir, '006_latin1.sql')}: line 2 holds bytes that are not UTF-8 (byte offset 36, value 0xe9)`);
  });

  it('when a folder is missing, then it exits 3 naming the folder', async () => {
    const { code, stderr, dirs } = await badInput((d) => rmSync(d.fixturesDir, { recursive: true }));
    expect(code).toBe(3);
    expect(stderr).toContain(`ERROR: fixtures folder ${dirs.fixturesDir} does not exist`);
  });

  it('when an option has a bad value, then it exits 2 naming the option and the value', async () => {
    const result = await runRunner(['apply', '--lock-timeout', '3'], { DATABASE_URL: NOWHERE });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--lock-timeout must be a duration such as 500ms, 3s or 5m, got "3"');
    const fromEnv = await runRunner(['apply'], { DATABASE_URL: NOWHERE, MIGRATION_LOCK_RETRIES: 'many' });
    expect(fromEnv.stderr).toContain('MIGRATION_LOCK_RETRIES must be a whole number from 0 to 100, got "many"');
  });

  it('when no database is configured, then it exits 2 naming the variables to set', async () => {
    const result = await runRunner(['status', ...folderArgs(copyOfDatabaseFolders())], { POSTGRES_USER: 'gpudev' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('set DATABASE_URL, or POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB (missing: POSTGRES_PASSWORD, POSTGRES_DB)');
  });

  describe('when the database cannot be reached', () => {
    let result: RunResult;
    let elapsed: number;
    beforeAll(async () => {
      const started = Date.now();
      result = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders()), '--connect-attempts', '3'], { DATABASE_URL: NOWHERE });
      elapsed = Date.now() - started;
    });

    it('then it exits 4 (cannotConnect)', () => {
      expect(result.code).toBe(4);
      expect(result.stderr).toContain('exit code 4 (cannotConnect)');
    });

    it('then it logs each failed attempt with the wait before the next', () => {
      expect(result.stderr).toMatch(
        /WARNING: connect: nobody@127\.0\.0\.1:9\/none not reachable \(attempt 1\/3\): connect ECONNREFUSED 127\.0\.0\.1:9; next attempt in 0\.5s/,
      );
      expect(result.stderr).toMatch(/attempt 2\/3\).*next attempt in 1\.0s/);
    });

    it('then it gives up after 3 attempts, saying so', () => {
      expect(result.stderr).toContain('ERROR: cannot connect to nobody@127.0.0.1:9/none after 3 attempts');
    });

    it('then it prints the password nowhere', () => {
      expect(result.stdout + result.stderr).not.toContain('secret-value');
    });

    it('then it stops within its bounded back-off', () => {
      // 0.5s + 1s of back-off: bounded, not an endless loop.
      expect(elapsed).toBeLessThan(15_000);
    });
  });
});

describe('gpu-dev-db with an expected bundle hash', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('hash');
  });
  afterAll(() => db.drop());

  it('when the files on disk hash differently, then it exits 8 and changes nothing', async () => {
    const client = await db.connect();
    const before = await snapshot(client);
    const result = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders()), '--expected-hash', 'a'.repeat(64)], { DATABASE_URL: db.url });
    expect(result.code).toBe(8);
    expect(result.stderr).toMatch(/the files on disk hash to [0-9a-f]{64}, but this run expects a{64}/);
    expect(result.stderr).toContain('nothing was applied');
    expect(await snapshot(client)).toBe(before);
  });

  it('when POD_NAMESPACE is not a Kubernetes name, then it is a usage error (exit 2) naming the variable and the rule', async () => {
    const result = await runRunner(['plan', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: db.url, POD_NAMESPACE: 'Not_A_Namespace' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('POD_NAMESPACE must be a Kubernetes namespace name: it must be a DNS-1123 label');
  });

  it('when MIGRATION_RUNNER_DIGEST is not a sha256, then it is a usage error (exit 2) naming the variable', async () => {
    const result = await runRunner(['plan', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: db.url, MIGRATION_RUNNER_DIGEST: 'abc' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('MIGRATION_RUNNER_DIGEST must be a sha256 hex digest (64 characters 0-9a-f), got "abc"');
  });

  it('when the runner image is given, then it is part of the bundle hash: another image, another hash', async () => {
    const dirs = copyOfDatabaseFolders();
    const hashWith = async (env: Record<string, string>) =>
      JSON.parse((await runRunner(['plan', '--json', ...folderArgs(dirs)], { DATABASE_URL: db.url, ...env })).stdout).bundleHash;
    const none = await hashWith({});
    const one = await hashWith({ MIGRATION_RUNNER_IMAGE: 'gpu-dev-api:0.1.0' });
    const other = await hashWith({ MIGRATION_RUNNER_IMAGE: 'gpu-dev-api:0.2.0' });
    expect(new Set([none, one, other]).size).toBe(3);
  });

  it('when the hash matches, then it applies, and --json reports the outcome and the files', async () => {
    const dirs = copyOfDatabaseFolders();
    const plan = await runRunner(['plan', '--json', ...folderArgs(dirs)], { DATABASE_URL: db.url });
    expect(plan.code).toBe(0);
    const { bundleHash } = JSON.parse(plan.stdout);
    const result = await runRunner(['apply', '--json', ...folderArgs(dirs), '--expected-hash', bundleHash], { DATABASE_URL: db.url });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ command: 'apply', outcome: 'applied', bundleHash });
    expect(report.files.map((f: { file: string }) => f.file)).toEqual(PRODUCT_FILES);
  });
});

describe("gpu-dev-db by hand on a database a Job migrated (the Job's hash covers its image)", () => {
  let db: TestDatabase;
  let dirs: ReturnType<typeof copyOfDatabaseFolders>;
  const runs = async () => Number((await (await db.connect()).query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n);
  beforeAll(async () => {
    db = await createTestDatabase('by_hand');
    dirs = copyOfDatabaseFolders();
    const job = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url, MIGRATION_RUNNER_IMAGE: 'gpu-dev-api:0.1.0' });
    expect(job.code).toBe(0);
  });
  afterAll(() => db.drop());

  it('when the same files are planned, then apply would skip them: already applied', async () => {
    const plan = await runRunner(['plan', ...folderArgs(dirs)], { DATABASE_URL: db.url });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('apply would: skip (already applied)');
  });

  it('when the same files are applied, then nothing runs and no run is recorded', async () => {
    const apply = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url });
    expect(apply.code).toBe(0);
    expect(apply.stdout).toContain('was already applied by');
    expect(await runs()).toBe(1);
  });

  it('when a file differs, then apply would apply', async () => {
    const changed = copyOfDatabaseFolders();
    writeFileSync(join(changed.fixturesDir, '002_more.sql'), 'SELECT 1;\n');
    const plan = await runRunner(['plan', ...folderArgs(changed)], { DATABASE_URL: db.url });
    expect(plan.stdout).toContain('apply would: apply');
  });
});

describe('bundle folders as Kubernetes mounts them', () => {
  it('when a folder outside a pod holds a file named like a kubelet entry (..005_x.sql), then it exits 3 naming it, where a pod would have skipped it', async () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '..006_x.sql'), 'CREATE TABLE IF NOT EXISTS x (id integer);\n');
    const result = await runRunner(['plan', ...folderArgs(dirs), '--connect-attempts', '1'], { DATABASE_URL: NOWHERE });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `${join(dirs.schemaDir, '..006_x.sql')}: a name starting with ".." is what the kubelet calls its own entries in a ConfigMap mount, so inside a pod the runner would skip this file`,
    );
  });

  it('when COPY FROM a server file is allowed by MIGRATION_ALLOW_SERVER_FILES=true, then the file passes the checks (and fails only to connect)', async () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.fixturesDir, '002_from_file.sql'), "COPY gpu_types FROM '/nonexistent.csv';\n");
    const result = await runRunner(['plan', ...folderArgs(dirs), '--connect-attempts', '1'], { DATABASE_URL: NOWHERE, MIGRATION_ALLOW_SERVER_FILES: 'true' });
    expect(result.code).toBe(4);
  });

  it('when a folder holds the kubelet ..data entries, then they are ignored and the files load', async () => {
    const dirs = copyOfDatabaseFolders();
    mkdirSync(join(dirs.schemaDir, '..2026_11_25_09_00_00.000000001'));
    symlinkSync('..2026_11_25_09_00_00.000000001', join(dirs.schemaDir, '..data'));
    const result = await runRunner(['plan', ...folderArgs(dirs), '--connect-attempts', '1'], { DATABASE_URL: NOWHERE });
    expect(result.stdout).toMatch(/bundle [0-9a-f]{64}: 6 files/);
    expect(result.code).toBe(4);
  });
});
