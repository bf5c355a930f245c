import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { describeRetry, isPermanentSqlState, SQLSTATE_RULES } from '../../src/runner/sqlstate';
import { applyProductSchema } from '../support/api';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, type RunResult, runRunner } from '../support/runner';

/** Every SQLSTATE the task and README.md name, with what a retry can do about it. */
const CLASSIFIED: [string, 'permanent' | 'transient'][] = [
  ['42601', 'permanent'],
  ['42P01', 'permanent'],
  ['42703', 'permanent'],
  ['42883', 'permanent'],
  ['42P07', 'permanent'],
  ['42710', 'permanent'],
  ['42701', 'permanent'],
  ['42804', 'permanent'],
  ['42704', 'permanent'],
  ['42501', 'permanent'],
  ['22012', 'permanent'],
  ['22P02', 'permanent'],
  ['22001', 'permanent'],
  ['23505', 'permanent'],
  ['23503', 'permanent'],
  ['23514', 'permanent'],
  ['23502', 'permanent'],
  ['2BP01', 'permanent'],
  ['0A000', 'permanent'],
  ['44000', 'permanent'],
  ['3F000', 'permanent'],
  ['40001', 'transient'],
  ['40P01', 'transient'],
  ['08006', 'transient'],
  ['08003', 'transient'],
  ['57P01', 'transient'],
  ['57P02', 'transient'],
  ['57P03', 'transient'],
  ['55P03', 'transient'],
  ['57014', 'transient'],
  ['53100', 'transient'],
  ['53200', 'transient'],
  ['53300', 'transient'],
  ['58030', 'transient'],
  ['XX000', 'transient'],
];

describe('the SQLSTATE table', () => {
  it.each(CLASSIFIED)('when PostgreSQL fails with %s, then it is %s', (code, kind) => {
    expect(isPermanentSqlState(code)).toBe(kind === 'permanent');
    expect(describeRetry(code)).toMatch(new RegExp(`^${kind} \\(SQLSTATE `));
  });

  it('when a SQLSTATE is in no row (or there is none), then it is transient and the sentence says it is unclassified', () => {
    for (const code of ['P0001', '55006', '25006', undefined]) {
      expect(isPermanentSqlState(code)).toBe(false);
      expect(describeRetry(code)).toMatch(/is not one the runner classifies, so it counts as transient: it may succeed on a retry$/);
    }
  });

  it("when a SQLSTATE has its own row, then that row wins over its class's", () => {
    expect(describeRetry('55P03')).toBe('transient (SQLSTATE 55P03, lock not available): it may succeed on a retry');
    expect(describeRetry('55000')).toMatch(/is not one the runner classifies/);
  });

  it('when every row is read, then each is a class of two characters or one SQLSTATE of five, listed once', () => {
    const codes = SQLSTATE_RULES.map((rule) => rule.code);
    expect(codes.filter((code) => !/^[0-9A-Z]{2}([0-9A-Z]{3})?$/.test(code))).toEqual([]);
    expect(new Set(codes).size).toBe(codes.length);
  });
});

describe('gpu-dev-db apply when PostgreSQL refuses a statement', () => {
  let db: TestDatabase;
  let client: Client;

  beforeAll(async () => {
    db = await createTestDatabase('sqlstate');
    await applyProductSchema(db);
    client = await db.connect();
  });
  afterAll(() => db.drop());

  /** The product's files plus `extra` ("schema/006_x.sql" → SQL). */
  function bundleWith(extra: Record<string, string>): ReturnType<typeof copyOfDatabaseFolders> {
    const dirs = copyOfDatabaseFolders();
    for (const [name, sql] of Object.entries(extra)) {
      const [folder, file] = name.split('/');
      writeFileSync(join(folder === 'schema' ? dirs.schemaDir : dirs.fixturesDir, file), sql);
    }
    return dirs;
  }

  const permanent: [string, Record<string, string>, string][] = [
    [
      "a syntax error in a PL/pgSQL body (which the runner's parser does not read)",
      {
        'schema/006_count.sql': [
          '-- a function with a typo in its body',
          'CREATE OR REPLACE FUNCTION gpu_type_count() RETURNS bigint LANGUAGE plpgsql AS $$',
          'BEGIN',
          '  SELEC count(*) FROM gpu_types;',
          'END',
          '$$;',
          '',
        ].join('\n'),
      },
      'schema/006_count.sql line 4, column 3: syntax error at or near "SELEC" (SQLSTATE 42601)',
    ],
    [
      'an undefined column',
      { 'fixtures/002_h100.sql': "-- a misspelt column\nUPDATE gpu_types SET max_gpu = 8 WHERE gpu_type = 'h100';\n" },
      'fixtures/002_h100.sql line 2, column 22: column "max_gpu" of relation "gpu_types" does not exist (SQLSTATE 42703)',
    ],
    [
      'a fixture row that violates a unique constraint',
      {
        'fixtures/002_more.sql': [
          '-- a plain INSERT of a GPU type the first fixture already has',
          "INSERT INTO gpu_types (gpu_type, instance_type, max_gpus, cpus, memory_gb) VALUES ('h100-small', 'p5.4xlarge', 1, 16, 256);",
          "INSERT INTO gpu_types (gpu_type, instance_type, max_gpus, cpus, memory_gb) VALUES ('h100', 'p5.48xlarge', 8, 192, 2048);",
          '',
        ].join('\n'),
      },
      'fixtures/002_more.sql line 3, column 1: duplicate key value violates unique constraint "gpu_types_pkey" (SQLSTATE 23505)',
    ],
  ];

  describe.each(permanent)('when a file has %s', (_, files, message) => {
    const runs: { command: string; result: RunResult }[] = [];
    let before: string;
    let after: string;
    beforeAll(async () => {
      const dirs = bundleWith(files);
      before = await snapshot(client);
      for (const command of ['apply', 'plan']) runs.push({ command, result: await runRunner([command, ...folderArgs(dirs)], { DATABASE_URL: db.url }) });
      after = await snapshot(client);
    });

    it('then apply and plan exit 13 (sqlPermanent)', () => {
      expect(runs.map((r) => r.command)).toEqual(['apply', 'plan']);
      for (const { command, result } of runs) {
        expect({ command, code: result.code }).toEqual({ command, code: 13 });
        expect(result.stderr).toContain('exit code 13 (sqlPermanent)');
      }
    });

    it('then they name file, line and SQLSTATE', () => {
      expect(runs).toHaveLength(2);
      for (const { result } of runs) expect(result.stderr).toContain(`ERROR: ${message}`);
    });

    it('then they say it is permanent: fix the file', () => {
      expect(runs).toHaveLength(2);
      for (const { result } of runs)
        expect(result.stderr).toMatch(/\n {2}permanent \(SQLSTATE class \w\w, [^)]+\): a retry would fail the same way: fix the file\n/);
    });

    it('then the database is unchanged', () => {
      expect(after).toBe(before);
    });
  });

  const transient: [string, string, string][] = [
    ['40001', 'serialization failure', 'transient (SQLSTATE class 40, transaction rollback): it may succeed on a retry'],
    ['40P01', 'deadlock detected', 'transient (SQLSTATE class 40, transaction rollback): it may succeed on a retry'],
    ['P0001', 'a check in the file failed', 'SQLSTATE P0001 is not one the runner classifies, so it counts as transient: it may succeed on a retry'],
  ];

  describe.each(transient)('when a statement fails with SQLSTATE %s (%s)', (code, text, sentence) => {
    let result: RunResult;
    let before: string;
    let after: string;
    beforeAll(async () => {
      const dirs = bundleWith({
        'schema/006_raise.sql': [
          'CREATE TABLE IF NOT EXISTS raise_marker (id int);',
          `DO $$ BEGIN RAISE EXCEPTION '${text}' USING ERRCODE = '${code}'; END $$;`,
          '',
        ].join('\n'),
      });
      before = await snapshot(client);
      result = await runRunner(['apply', ...folderArgs(dirs)], { DATABASE_URL: db.url });
      after = await snapshot(client);
    });

    it('then apply exits 7 (sqlFailure)', () => {
      expect(result.code).toBe(7);
      expect(result.stderr).toContain('exit code 7 (sqlFailure)');
    });

    it('then it names file, line and SQLSTATE', () => {
      expect(result.stderr).toContain(`ERROR: schema/006_raise.sql line 2, column 1: ${text} (SQLSTATE ${code})`);
    });

    it('then it says a retry may succeed and the run was rolled back', () => {
      expect(result.stderr).toContain(`\n  ${sentence}\n  the run was rolled back: the database is as it was before`);
    });

    it('then the database is unchanged', () => {
      expect(after).toBe(before);
    });
  });
});
