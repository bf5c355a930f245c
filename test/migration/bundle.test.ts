import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle } from '../../src/kernel/bundle';
import { loadSqlParser, splitStatements } from '../../src/kernel/sql-split';
import { copyOfDatabaseFolders } from '../support/runner';

describe('splitStatements', () => {
  beforeAll(loadSqlParser);

  it('when semicolons stand in quotes, dollar bodies and comments, then only real ends split, with each start line and column', () => {
    const sql = [
      '-- header; not a statement',
      "INSERT INTO t VALUES ('a;b', E'c\\';d', \"we;ird\");",
      'CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN x := 1; RETURN NEW; END; $body$ LANGUAGE plpgsql;',
      '  /* block; /* nested; */ still comment; */ SELECT $$;$$',
    ].join('\n');
    const statements = splitStatements(sql);
    expect(statements.map((s) => [s.line, s.column, s.text])).toEqual([
      [2, 1, "INSERT INTO t VALUES ('a;b', E'c\\';d', \"we;ird\")"],
      [3, 1, 'CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN x := 1; RETURN NEW; END; $body$ LANGUAGE plpgsql'],
      [4, 45, 'SELECT $$;$$'],
    ]);
  });
});

describe('loadBundle', () => {
  const load = (dirs: { schemaDir: string; fixturesDir: string }, runnerDigest = 'runner-1') => readBundle({ ...dirs, runnerDigest });

  it('when numbers have more than three digits, then files are ordered by number, schema before fixtures', () => {
    const root = mkdtempSync(join(tmpdir(), 'gpu-dev-order-'));
    const schemaDir = join(root, 'schema');
    const fixturesDir = join(root, 'fixtures');
    mkdirSync(schemaDir);
    mkdirSync(fixturesDir);
    for (const name of ['1000_late.sql', '999_early.sql', '010_first.sql']) writeFileSync(join(schemaDir, name), 'SELECT 1;');
    writeFileSync(join(fixturesDir, '001_rows.sql'), 'SELECT 2;');
    expect(load({ schemaDir, fixturesDir }).files.map((f) => `${f.folder}/${f.name}`)).toEqual([
      'schema/010_first.sql',
      'schema/999_early.sql',
      'schema/1000_late.sql',
      'fixtures/001_rows.sql',
    ]);
  });

  it('when anything hashed changes, then the hash changes; when nothing does, it stays', () => {
    const dirs = copyOfDatabaseFolders();
    const base = load(dirs).hash;
    expect(load(copyOfDatabaseFolders()).hash).toBe(base);
    expect(load(dirs, 'runner-2').hash).not.toBe(base);
    writeFileSync(join(dirs.root, 'README.md'), 'not part of the bundle');
    expect(load(dirs).hash).toBe(base);
    renameSync(join(dirs.schemaDir, '004_gpu_types.sql'), join(dirs.schemaDir, '004_gpu_type_settings.sql'));
    const renamed = load(dirs).hash;
    expect(renamed).not.toBe(base);
    writeFileSync(join(dirs.fixturesDir, '001_initial_gpu_types.sql'), ' ', { flag: 'a' });
    expect(load(dirs).hash).not.toBe(renamed);
  });

  it('when a file starts with the no-transaction marker, then it is marked to run outside the transaction', () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '006_concurrent.sql'), '-- migration: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON disks (size_gb);\n');
    const files = load(dirs).files;
    expect(files.filter((f) => !f.transactional).map((f) => f.name)).toEqual(['006_concurrent.sql']);
  });
});
