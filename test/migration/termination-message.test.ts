import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminationSummary } from '../../src/runner/cli/termination-message';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { docsSample } from '../support/docs';
import { copyOfDatabaseFolders, folderArgs, runRunner } from '../support/runner';

/** The summary the runner leaves where the kubelet reads a container's termination message. */
describe('the termination message (MIGRATION_TERMINATION_LOG)', () => {
  // A database only for the cases that run the runner, each its own, dropped at the end.
  const databases: TestDatabase[] = [];
  const freshDatabase = async () => {
    const db = await createTestDatabase('termination');
    databases.push(db);
    return db;
  };
  afterAll(() => Promise.all(databases.map((db) => db.drop())));

  const messageFile = () => join(mkdtempSync(join(tmpdir(), 'gpu-dev-termination-')), 'termination-log');

  describe('when a file fails with a permanent error', () => {
    let failed: TestDatabase;
    let code: number | null;
    let message: string;
    beforeAll(async () => {
      failed = await freshDatabase();
      const dirs = copyOfDatabaseFolders();
      writeFileSync(join(dirs.schemaDir, '006_broken.sql'), 'SELECT 1;\nSELECT count(*) FROM table_that_does_not_exist;\n');
      const file = messageFile();
      code = (await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: failed.url, MIGRATION_TERMINATION_LOG: file })).code;
      message = readFileSync(file, 'utf8');
    });

    it('then the run exits 13', () => {
      expect(code).toBe(13);
    });

    it('then the message names the exit code, file, line, SQLSTATE and what to do, within the 4096 bytes the kubelet keeps', () => {
      expect(message.split('\n')[0]).toBe(
        'exit 13 (sqlPermanent): schema/006_broken.sql line 2, column 22: relation "table_that_does_not_exist" does not exist (SQLSTATE 42P01)',
      );
      expect(message).toMatch(/\nwhat to do: fix the file: a retry would fail the same way\n$/);
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(4096);
    });

    it("then docs/deploy.md's sample is this message, line for line", () => {
      expect(docsSample('deploy.md', 'termination message sample')).toEqual(message.trimEnd().split('\n'));
    });
  });

  it('when the run succeeds, then the message says what was applied', async () => {
    const db = await freshDatabase();
    const file = messageFile();
    const result = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: db.url, MIGRATION_TERMINATION_LOG: file });
    expect(result.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^exit 0 \(ok\): apply: applied bundle [0-9a-f]{64}\nwhat to do: nothing to do\n$/);
  });

  it('when the variable names a place that cannot be written, then the run still ends with its own exit code and says why the message is missing', async () => {
    const db = await freshDatabase();
    const result = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders())], {
      DATABASE_URL: db.url,
      MIGRATION_TERMINATION_LOG: '/nonexistent/dir/termination-log',
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('could not write the termination message to /nonexistent/dir/termination-log (MIGRATION_TERMINATION_LOG)');
  });

  it('when a failure message is longer than the kubelet keeps, then the summary is cut to 4096 bytes and keeps its last line', () => {
    const summary = terminationSummary(7, 'sqlFailure', `x: ${'é'.repeat(5000)}`);
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(4096);
    expect(summary).toMatch(/…\nwhat to do: it may pass on a retry/);
  });
});
