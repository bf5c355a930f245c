import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, folderArgs, type RunResult, runRunner } from '../support/runner';

/**
 * The platform's deployed schema as PostgreSQL 18 prints it: a byte-for-byte copy of
 * shared/reference/platform-catalog.txt, in the repository so a clean clone can run this.
 * Its header gives the five queries; they are written out here, not taken from the runner.
 */
const REFERENCE = readFileSync(join(__dirname, '..', 'support', 'platform-catalog.txt'), 'utf8');
const NOT_THE_RUNNER = `NOT LIKE 'schema\\_migration%'`;
const SECTIONS: [string, string][] = [
  [
    'columns',
    `SELECT table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
            || coalesce(' default ' || column_default, '') || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name ${NOT_THE_RUNNER}
      ORDER BY table_name, ordinal_position`,
  ],
  ['indexes', `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename ${NOT_THE_RUNNER} ORDER BY indexname COLLATE "C"`],
  [
    'constraints',
    `SELECT line FROM (SELECT conrelid::regclass || ' ' || contype::text || ' ' || pg_get_constraintdef(oid) AS line FROM pg_constraint
                        WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text ${NOT_THE_RUNNER}) c ORDER BY line COLLATE "C"`,
  ],
  [
    'triggers',
    `SELECT line FROM (SELECT tgrelid::regclass || ' ' || tgname || ' -> ' || tgfoid::regproc AS line FROM pg_trigger WHERE NOT tgisinternal) t
      ORDER BY line COLLATE "C"`,
  ],
  [
    'gpu_types',
    `SELECT concat_ws('|', gpu_type, instance_type, max_gpus, cpus, memory_gb, total_cluster_gpus, max_per_node, is_active::text)
       FROM gpu_types ORDER BY gpu_type COLLATE "C"`,
  ],
];

async function catalogDump(client: Client): Promise<string[]> {
  const lines: string[] = [];
  for (const [section, sql] of SECTIONS) {
    lines.push(`## ${section}`);
    const { rows } = await client.query({ text: sql, rowMode: 'array' });
    lines.push(...rows.map((row) => String(row[0])));
  }
  return lines;
}

/** The reference without its header (the lines starting with a single '#'). */
function referenceLines(): string[] {
  return REFERENCE.split('\n').filter((line) => line !== '' && !/^#(?!#)/.test(line));
}

describe('the schema as the platform deployed it (reference/platform-catalog.txt)', () => {
  let db: TestDatabase;
  let client: Client;
  const apply = (dirs: { schemaDir: string; fixturesDir: string }, extra: string[] = []) =>
    runRunner(['apply', ...folderArgs(dirs), ...extra], { DATABASE_URL: db.url });

  // Each block below builds its own database once, in beforeAll, and checks each outcome in a
  // test of its own; a beforeEach here would build one before every test.
  async function freshDatabase() {
    db = await createTestDatabase('platform');
    client = await db.connect();
  }

  /** The product's folders with 001 as it was before it matched the platform (now() defaults, a predicate without is_active) and no 005. */
  function earlierFolders() {
    const earlier = copyOfDatabaseFolders();
    const schema001 = join(earlier.schemaDir, '001_users_and_keys.sql');
    const current001 = readFileSync(schema001, 'utf8');
    writeFileSync(
      schema001,
      current001
        .replaceAll('DEFAULT CURRENT_TIMESTAMP', 'DEFAULT NOW()')
        .replace('WHERE is_active = true AND expires_at IS NOT NULL', 'WHERE expires_at IS NOT NULL'),
    );
    const path005 = join(earlier.schemaDir, '005_users_and_keys_as_deployed.sql');
    const file005 = readFileSync(path005);
    rmSync(path005);
    return { earlier, editTo001: () => writeFileSync(schema001, current001), restore005: () => writeFileSync(path005, file005) };
  }

  describe("when a fresh database is built by the project's files", () => {
    let catalog: string[];
    beforeAll(async () => {
      await freshDatabase();
      expect((await apply(copyOfDatabaseFolders())).code).toBe(0);
      catalog = await catalogDump(client);
    });
    afterAll(() => db.drop());

    it('then its catalog prints the reference line for line', () => {
      expect(catalog).toEqual(referenceLines());
    });
  });

  describe('when a database built by the earlier 001 gets the edited 001', () => {
    let edited: RunResult;
    let catalog: string[];
    beforeAll(async () => {
      await freshDatabase();
      const { earlier, editTo001 } = earlierFolders();
      expect((await apply(earlier)).code).toBe(0);
      editTo001();
      edited = await apply(earlier);
      catalog = await catalogDump(client);
    });
    afterAll(() => db.drop());

    it('then the apply exits 0', () => {
      expect(edited.code).toBe(0);
    });

    it('then convergence brings the created_at default to CURRENT_TIMESTAMP', () => {
      expect(edited.stdout).toContain(
        'converge: schema/001_users_and_keys.sql line 10: ALTER TABLE api_users ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP [ACCESS EXCLUSIVE; catalog-only]',
      );
    });

    it('then convergence rebuilds the expires_at index with the new predicate', () => {
      expect(edited.stdout).toMatch(
        /converge: schema\/001_users_and_keys\.sql line 32: CREATE INDEX idx_api_keys_expires_at_converging ON api_keys\(expires_at\)\s+WHERE is_active = true AND expires_at IS NOT NULL \[SHARE; blocks writes while the index builds\]/,
      );
    });

    it('then the catalog equals the reference', () => {
      expect(catalog).toEqual(referenceLines());
    });
  });

  describe('when convergence is off and a database built by the earlier 001 gets the edited 001', () => {
    const refuse = ['--converge', 'refuse'];
    let earlier: ReturnType<typeof earlierFolders>['earlier'];
    let restore005: () => void;
    let edited: RunResult;
    beforeAll(async () => {
      await freshDatabase();
      const folders = earlierFolders();
      ({ earlier, restore005 } = folders);
      expect((await apply(earlier, refuse)).code).toBe(0);
      folders.editTo001();
      edited = await apply(earlier, refuse);
    });
    afterAll(() => db.drop());

    it('then the apply exits 0', () => {
      expect(edited.code).toBe(0);
    });

    it('then the predicate difference is a drift warning naming both definitions', () => {
      expect(edited.stderr).toContain(
        'WARNING: drift: index idx_api_keys_expires_at exists with a different definition than schema/001_users_and_keys.sql line 32 declares; CREATE INDEX IF NOT EXISTS kept the old one.',
      );
      expect(edited.stderr).toContain(
        'database: CREATE INDEX idx_api_keys_expires_at ON public.api_keys USING btree (expires_at) WHERE (expires_at IS NOT NULL)',
      );
    });

    describe('when 005 comes back and rebuilds the index', () => {
      let upgraded: RunResult;
      let catalog: string[];
      beforeAll(async () => {
        restore005();
        upgraded = await apply(earlier, refuse);
        catalog = await catalogDump(client);
      });

      it('then the apply exits 0', () => {
        expect(upgraded.code).toBe(0);
      });

      it('then it warns of nothing', () => {
        expect(upgraded.stderr).toBe('');
      });

      it('then the catalog equals the reference', () => {
        expect(catalog).toEqual(referenceLines());
      });
    });
  });
});
