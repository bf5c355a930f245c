import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { buildRunnerBundle } from '../../src/build/runner-bundle';
import { DATABASE_FOLDERS } from '../../src/build/repository';
import { ReviewInputError } from '../../src/review/errors';
import { MAX_COMMENT, toJson, toMarkdown } from '../../src/review/report';
import { REVIEW_MARKER, reviewChange, type Review, type ReviewOptions } from '../../src/review/review';
import { applyProductSchema } from '../support/api';
import { createTestDatabase, snapshot, type TestDatabase } from '../support/database';
import { temporaryFolder } from '../support/temporary';

/**
 * The review of prepared changes, section by section, driven through the library with two
 * project folders (database/ only: both are synthesized with this checkout's code) and a fresh
 * database of the test run's PostgreSQL as the scratch database.
 */

let runnerBytes: Buffer;
beforeAll(() => {
  runnerBytes = buildRunnerBundle();
});

/** A project folder holding a copy of this checkout's database/ folders. */
function project(name: string): string {
  const root = join(temporaryFolder(`gpu-dev-review-${name}-`), name);
  mkdirSync(join(root, 'database'), { recursive: true });
  cpSync(DATABASE_FOLDERS.schemaDir, join(root, 'database', 'schema'), { recursive: true });
  cpSync(DATABASE_FOLDERS.fixturesDir, join(root, 'database', 'fixtures'), { recursive: true });
  return root;
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function review(
  change: (head: string) => void,
  options: Partial<ReviewOptions> & { baseEnv?: Record<string, string>; headEnv?: Record<string, string> } = {},
): Promise<{ review: Review; scratchAsked: number }> {
  const base = project('base');
  const head = project('head');
  change(head);
  let scratchAsked = 0;
  const result = await reviewChange({
    base: { label: 'base', root: base, env: options.baseEnv ?? {} },
    head: { label: 'head', root: head, env: options.headEnv ?? {} },
    scratch: async () => {
      scratchAsked++;
      const db = await createTestDatabase('review');
      return { url: db.url, release: () => db.drop() };
    },
    log: silent,
    runnerBytes,
    ...options,
  });
  return { review: result, scratchAsked };
}

const schema = (root: string, name: string) => join(root, 'database', 'schema', name);
const fixtures = (root: string, name: string) => join(root, 'database', 'fixtures', name);

describe('npm run review, section by section', () => {
  describe('when the head adds a table', () => {
    let r: Review;
    beforeAll(async () => {
      ({ review: r } = await review((head) =>
        writeFileSync(
          schema(head, '006_audit_log.sql'),
          '-- 006_audit_log.sql\n-- Who did what through the API.\nCREATE TABLE IF NOT EXISTS audit_log (\n    audit_id BIGSERIAL PRIMARY KEY,\n    username VARCHAR(255) NOT NULL,\n    action TEXT NOT NULL,\n    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()\n);\n\nCREATE INDEX IF NOT EXISTS idx_audit_log_username ON audit_log(username);\n',
        ),
      ));
    });
    const suffix = (name?: string) => name?.replace('db-migration-', '');

    it('then the migration Job is replaced: the bundle runs on the next apply', () => {
      expect(r.deploy.effect?.migrationRuns).toBe(true);
      expect(r.deploy.effect?.job.before).not.toEqual(r.deploy.effect?.job.after);
      expect(r.deploy.effect?.sentences[0]).toBe(`The migration Job is replaced (${r.base.jobName} → ${r.head.jobName}): the bundle runs on the next apply.`);
    });

    it("then the API rolls out: its pod template's bundle hash changed", () => {
      expect(r.deploy.effect?.sentences).toContain(
        "The API rolls out: its pod template's bundle hash changed (new pods start, and re-verify the schema, after the migration).",
      );
    });

    it("then the bundle's ConfigMaps are replaced, each with what differs in it, and so is the Job; the Deployment is updated", () => {
      // The bundle's ConfigMaps are its own (named with its hash): each replaced, with what differs in it.
      expect(r.deploy.changes.map((c) => [c.action, c.kind, c.name])).toEqual([
        ['replace', 'ConfigMap', `gpu-controlplane/database-fixtures-${suffix(r.head.jobName)}`],
        ['replace', 'ConfigMap', `gpu-controlplane/database-schema-${suffix(r.head.jobName)}`],
        ['replace', 'Job', `gpu-controlplane/${r.head.jobName}`],
        ['update', 'Deployment', 'gpu-controlplane/gpu-dev-api'],
      ]);
      expect(r.deploy.changes[1].attributes.map((a) => a.path)).toEqual(['metadata.name', 'data["006_audit_log.sql"]']);
      expect(r.deploy.effect?.sentences).toContain(
        `ConfigMap gpu-controlplane/database-fixtures-${suffix(r.head.jobName)} replaces gpu-controlplane/database-fixtures-${suffix(r.base.jobName)} (the bundle's own ConfigMap), its files unchanged.`,
      );
    });

    it('then the SQL effect lists the new file, and the plan creates the table and its indexes', () => {
      expect(r.sql.files).toEqual([{ file: 'schema/006_audit_log.sql', change: 'added' }]);
      const plan = r.sql.scratch?.plan;
      expect(plan?.applyWould).toBe('apply');
      expect(
        plan?.changes
          .filter((c) => c.kind === 'table' || c.kind === 'index')
          .map((c) => `${c.change} ${c.kind} ${c.name}`)
          .sort(),
      ).toEqual(['create index audit_log_pkey', 'create index idx_audit_log_username', 'create table audit_log']);
    });

    it('then the plan finds no drift', () => {
      expect(r.sql.scratch?.plan?.drift.errors).toEqual([]);
    });

    it("then no lock lands on an existing table: the new table is nobody else's yet", () => {
      const file = r.locks.files.find((f) => f.file === 'schema/006_audit_log.sql');
      expect(file).toMatchObject({ change: 'added', locks: [], rewrites: [], observed: true });
      expect(file?.durationMs).toBeGreaterThan(0);
      expect(r.locks.tables.map((t) => t.table)).not.toContain('audit_log');
    });

    it('then squawk lints the new file and has nothing to say', () => {
      expect(r.lint.result?.files).toEqual(['database/schema/006_audit_log.sql']);
      expect(r.lint.result?.findings).toEqual([]);
    });

    it('then the review passes (exit 0)', () => {
      expect(r.verdict).toMatchObject({ level: 'pass', exitCode: 0, reasons: [] });
      expect(r.verdict.line).toBe('pass: the migration runs, the API rolls out; no drift, no lint finding, no new lock on a hot table');
    });
  });

  describe('when a column is added by editing the old CREATE TABLE', () => {
    let r: Review;
    beforeAll(async () => {
      ({ review: r } = await review((head) => {
        const file = schema(head, '002_reservations.sql');
        writeFileSync(
          file,
          readFileSync(file, 'utf8').replace('    cli_version VARCHAR(50)\n', '    cli_version VARCHAR(50),\n    priority INTEGER DEFAULT 0\n'),
        );
      }));
    });

    it('then the SQL effect shows the statement convergence generates, with its lock and cost', () => {
      expect(r.sql.files).toEqual([{ file: 'schema/002_reservations.sql', change: 'changed' }]);
      expect(r.sql.scratch?.exitCode).toBe(0);
      expect(r.sql.scratch?.plan?.converged).toEqual([
        expect.objectContaining({
          sql: 'ALTER TABLE reservations ADD COLUMN priority integer DEFAULT 0',
          declaredAt: expect.stringMatching(/^schema\/002_reservations\.sql line \d+$/),
          lock: 'ACCESS EXCLUSIVE',
          cost: 'catalog-only',
        }),
      ]);
    });

    it('then the Markdown shows that statement in the SQL effect and in the lock section', () => {
      const markdown = toMarkdown(r);
      const row =
        /\| `schema\/002_reservations\.sql line \d+` \| `ALTER TABLE reservations ADD COLUMN priority integer DEFAULT 0` \| ACCESS EXCLUSIVE \| catalog-only \|/g;
      expect(markdown.match(row)).toHaveLength(2);
      expect(markdown).toContain('- Generated by convergence (existing tables brought to their edited CREATE TABLE): 1 statement.');
      expect(markdown).toContain('Statements convergence generates take these locks, each held until the run commits:');
    });

    it("then the file's lock is not new: its base version took the same", () => {
      // Editing 002 does not make its locks new: its base version took the same.
      const file = r.locks.files.find((f) => f.file === 'schema/002_reservations.sql');
      expect(file?.change).toBe('changed');
      expect(file?.locks).toEqual([expect.objectContaining({ table: 'reservations', mode: 'AccessExclusiveLock', new: false, hot: true })]);
    });

    it('then the review passes, with no warning', () => {
      expect(r.verdict.level).toBe('pass');
      expect(r.verdict.reasons.filter((reason) => reason.level === 'warn')).toEqual([]);
    });
  });

  it("when a column's type is edited in the old CREATE TABLE, then the plan reports drift with the remedy and the review fails (exit 1)", async () => {
    const { review: r } = await review((head) => {
      const file = schema(head, '002_reservations.sql');
      writeFileSync(file, readFileSync(file, 'utf8').replace('    cli_version VARCHAR(50)\n', '    cli_version VARCHAR(80)\n'));
    });
    expect(r.sql.scratch?.exitCode).toBe(11);
    const [drift] = r.sql.scratch?.plan?.drift.errors ?? [];
    expect(drift.message).toMatch(
      /^column reservations\.cli_version is character varying\(50\) in the database, but schema\/002_reservations\.sql line \d+ declares it character varying\(80\)/,
    );
    expect(drift.message).toContain('Remedy: a new schema file with ALTER TABLE reservations ALTER COLUMN cli_version TYPE character varying(80)');
    expect(r.verdict).toMatchObject({ level: 'fail', exitCode: 1 });
    expect(r.verdict.reasons[0]).toEqual({
      level: 'fail',
      text: expect.stringMatching(/^drift on the scratch database: column reservations\.cli_version is character varying\(50\)/),
    });
    expect(toMarkdown(r).split('\n')[1]).toMatch(/^## ❌ gpu-dev review: fail: 1 problem to fix before merging/);
  });

  describe('when a new file alters reservations', () => {
    let r: Review;
    beforeAll(async () => {
      ({ review: r } = await review((head) =>
        writeFileSync(
          schema(head, '006_reservations_priority.sql'),
          '-- 006_reservations_priority.sql\nALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority INTEGER DEFAULT 0;\n',
        ),
      ));
    });

    it('then its ACCESS EXCLUSIVE lock is reported, new and on a hot table, with the routes that wait', () => {
      const file = r.locks.files.find((f) => f.file === 'schema/006_reservations_priority.sql');
      expect(file?.locks).toEqual([
        expect.objectContaining({
          table: 'reservations',
          mode: 'AccessExclusiveLock',
          new: true,
          hot: true,
          otherWriters: expect.stringContaining('job processor'),
        }),
      ]);
      expect(file?.locks[0].blocked.map((b) => b.route)).toEqual([
        'GET /v1/jobs',
        'GET /v1/jobs/{id}',
        'POST /v1/jobs/{id}/cancel, /extend, /jupyter/enable, /jupyter/disable, /users',
        'GET /v1/gpu/availability',
        'GET /v1/cluster/status',
      ]);
      expect(file?.rewrites).toEqual([]);
    });

    it('then the plan adds the column', () => {
      expect(r.sql.scratch?.plan?.changes).toEqual([expect.objectContaining({ kind: 'column', name: 'reservations.priority', change: 'create' })]);
    });

    it("then the lock section says which file takes the lock, how long a request waits, and the runner's lock_timeout", () => {
      const hold = r.locks.tables.find((t) => t.table === 'reservations');
      expect(hold).toMatchObject({ mode: 'AccessExclusiveLock', since: 'schema/002_reservations.sql', hot: true });
      const sentence = r.locks.sentences.find((s) => s.startsWith('AccessExclusiveLock on reservations'));
      expect(sentence).toContain("taken by this change's schema/006_reservations_priority.sql");
      expect(sentence).toContain('each request waits at most DB_LOCK_TIMEOUT_SECONDS (5 s) and then answers 503 with Retry-After: 5');
      expect(r.locks.sentences.at(-1)).toContain('lock_timeout (3s)');
    });

    it('then squawk has nothing to say', () => {
      expect(r.lint.result?.findings).toEqual([]);
    });

    it('then the review warns (exit 0), naming the file, the lock and the routes', () => {
      expect(r.verdict).toMatchObject({ level: 'warn', exitCode: 0 });
      expect(r.verdict.reasons).toEqual([
        {
          level: 'warn',
          text: expect.stringMatching(/^schema\/006_reservations_priority\.sql takes AccessExclusiveLock on reservations, a hot table: GET \/v1\/jobs; /),
        },
      ]);
    });

    it('then the Markdown marks the lock new, on a hot table', () => {
      expect(toMarkdown(r)).toContain('**AccessExclusiveLock on reservations** (new, hot table)');
    });
  });

  describe('when a fixture row is added', () => {
    let r: Review;
    beforeAll(async () => {
      ({ review: r } = await review((head) => {
        const file = fixtures(head, '001_initial_gpu_types.sql');
        writeFileSync(
          file,
          readFileSync(file, 'utf8').replace(
            "    ('cpu-arm',",
            "    ('l40s',     'g6e.12xlarge',     4,  48,  384,  4, 4, true, 'NVIDIA L40S 48 GB, 4 per node'),\n    ('cpu-arm',",
          ),
        );
      }));
    });

    it('then the migration runs', () => {
      expect(r.deploy.effect?.migrationRuns).toBe(true);
    });

    it('then the fixtures ConfigMap is replaced, naming the file that changed', () => {
      const fixturesMap = `gpu-controlplane/database-fixtures-${r.head.jobName?.replace('db-migration-', '')}`;
      expect(r.deploy.changes.find((c) => c.kind === 'ConfigMap' && c.name.includes('fixtures'))).toMatchObject({ name: fixturesMap, action: 'replace' });
      expect(r.deploy.effect?.sentences).toContain(
        `ConfigMap ${fixturesMap} replaces gpu-controlplane/database-fixtures-${r.base.jobName?.replace('db-migration-', '')} (the bundle's own ConfigMap): 001_initial_gpu_types.sql changed.`,
      );
    });

    it('then the plan counts the rows the fixture inserts, updates and deletes', () => {
      expect(r.sql.scratch?.plan?.fixtures).toEqual([
        { file: 'fixtures/001_initial_gpu_types.sql', statement: 1, line: 7, tables: { gpu_types: { inserted: 1, updated: 10, deleted: 0 } } },
      ]);
    });

    it('then the plan changes no schema object', () => {
      expect(r.sql.scratch?.plan?.changes).toEqual([]);
    });

    it('then the fixture takes a ROW EXCLUSIVE lock on gpu_types that blocks no route', () => {
      const file = r.locks.files.find((f) => f.file === 'fixtures/001_initial_gpu_types.sql');
      expect(file?.locks).toEqual([expect.objectContaining({ table: 'gpu_types', mode: 'RowExclusiveLock', new: false, blocked: [] })]);
    });

    it('then the review passes', () => {
      expect(r.verdict.level).toBe('pass');
    });

    it('then the Markdown counts the fixture rows', () => {
      expect(toMarkdown(r)).toContain('Fixture rows: fixtures/001_initial_gpu_types.sql statement 1 (line 7): gpu_types 1 inserted, 10 updated.');
    });
  });

  describe('when only a non-SQL setting changes', () => {
    describe('when it is the API replica count', () => {
      let scaled: Awaited<ReturnType<typeof review>>;
      let r: Review;
      beforeAll(async () => {
        scaled = await review(() => undefined, { headEnv: { GPU_DEV_API_REPLICAS: '3' } });
        r = scaled.review;
      });

      it('then no scratch database is started', () => {
        expect(scaled.scratchAsked).toBe(0);
      });

      it('then no migration runs and the API does not roll out', () => {
        expect(r.deploy.effect).toMatchObject({ migrationRuns: false, apiRollsOut: false });
      });

      it('then the Deployment is scaled in place and its running pods stay', () => {
        expect(r.deploy.changes).toEqual([
          expect.objectContaining({
            kind: 'Deployment',
            action: 'update',
            attributes: [{ path: 'spec.replicas', before: '"2"', after: '"3"', forcesReplacement: false }],
          }),
        ]);
        expect(r.deploy.effect?.sentences).toEqual([
          `The migration Job keeps its name ${r.head.jobName}: no migration runs.`,
          'The gpu-dev-api Deployment is scaled from 2 to 3 replicas; its pod template is unchanged, so the running pods stay (no rollout).',
        ]);
      });

      it('then the SQL effect is skipped: there is no SQL to plan', () => {
        expect(r.sql).toEqual({ files: [], skipped: 'the bundle is unchanged: the Job keeps its name and does not run, so there is no SQL to plan' });
      });

      it('then no file takes a lock', () => {
        expect(r.locks.files).toEqual([]);
      });

      it('then squawk lints no file', () => {
        expect(r.lint.result?.files).toEqual([]);
      });

      it('then the review passes (exit 0), saying no migration runs', () => {
        expect(r.verdict).toMatchObject({ level: 'pass', exitCode: 0, line: 'pass: no migration; no drift, no lint finding, no new lock on a hot table' });
      });
    });

    describe("when it is the API image, the Job's image pinned on both sides", () => {
      let image: Review;
      beforeAll(async () => {
        // The Job's image pinned on both sides: the API alone changes.
        const pinned = { GPU_DEV_RUNNER_IMAGE: 'gpu-dev-api:0.1.0' };
        image = (await review(() => undefined, { baseEnv: pinned, headEnv: { ...pinned, GPU_DEV_API_IMAGE: 'gpu-dev-api:0.2.0' } })).review;
      });

      it('then no migration runs and the API rolls out, its image changed', () => {
        expect(image.deploy.effect).toMatchObject({ migrationRuns: false, apiRollsOut: true });
        expect(image.deploy.effect?.sentences).toContain('The API rolls out: its image changed ("gpu-dev-api:0.1.0" → "gpu-dev-api:0.2.0").');
      });

      it('then the review passes, saying the API rolls out', () => {
        expect(image.verdict.line).toBe('pass: no migration, the API rolls out; no drift, no lint finding, no new lock on a hot table');
      });
    });
  });

  it('when the product image changes, then the Job, which runs the runner from it, gets a new name and runs again', async () => {
    const r = (await review(() => undefined, { headEnv: { GPU_DEV_API_IMAGE: 'gpu-dev-api:0.2.0' } })).review;
    expect(r.deploy.effect).toMatchObject({ migrationRuns: true, apiRollsOut: true });
    expect(r.deploy.effect?.sentences[0]).toBe(
      `The migration Job is replaced (${r.base.jobName} → ${r.head.jobName}; the image it runs on changed ("gpu-dev-api:0.1.0" → "gpu-dev-api:0.2.0")): the bundle runs on the next apply.`,
    );
  });

  describe('when nothing changes', () => {
    let r: Review;
    let scratchAsked: number;
    beforeAll(async () => {
      ({ review: r, scratchAsked } = await review(() => undefined));
    });

    it('then it never starts a database', () => {
      expect(scratchAsked).toBe(0);
    });

    it('then no object changes', () => {
      expect(r.deploy.changes).toEqual([]);
    });

    it('then it says "nothing to review" and exits 0', () => {
      expect(r.verdict).toEqual({ level: 'nothing', exitCode: 0, line: 'nothing to review: the head deploys exactly what the base does', reasons: [] });
    });

    it('then the Markdown opens with "nothing to review"', () => {
      const markdown = toMarkdown(r);
      expect(markdown.startsWith(`${REVIEW_MARKER}\n## 💤 gpu-dev review: nothing to review`)).toBe(true);
    });
  });

  describe('when a real plan is given (--tofu-plan)', () => {
    let dir: string;
    let r: Review;
    beforeAll(async () => {
      dir = temporaryFolder('gpu-dev-review-plan-');
      const planFile = join(dir, 'plan.json');
      const { review: first } = await review(() => undefined, { headEnv: { GPU_DEV_API_REPLICAS: '3' } });
      const address = first.deploy.changes[0].address;
      writeFileSync(
        planFile,
        JSON.stringify({
          format_version: '1.2',
          resource_changes: [
            {
              address,
              type: 'kubernetes_deployment_v1',
              change: {
                actions: ['update'],
                before: { metadata: [{ name: 'gpu-dev-api', namespace: 'gpu-controlplane' }], spec: [{ replicas: '2' }] },
                after: { metadata: [{ name: 'gpu-dev-api', namespace: 'gpu-controlplane' }], spec: [{ replicas: '3' }] },
              },
            },
            { address: 'kubernetes_config_map_v1.owner', type: 'kubernetes_config_map_v1', change: { actions: ['no-op'], before: {}, after: {} } },
            {
              address: 'kubernetes_service_v1.api_service_298EA376',
              type: 'kubernetes_service_v1',
              change: {
                actions: ['delete', 'create'],
                before: { metadata: [{ name: 'gpu-dev-api', namespace: 'gpu-controlplane' }] },
                after: { metadata: [{ name: 'gpu-dev-api', namespace: 'gpu-controlplane' }] },
                replace_paths: [['metadata', 0, 'name']],
              },
            },
          ],
          resource_drift: [{ address: 'kubernetes_service_v1.api_service_298EA376' }],
        }),
      );
      ({ review: r } = await review(() => undefined, { headEnv: { GPU_DEV_API_REPLICAS: '3' }, tofuPlan: planFile }));
    });

    it('then its actions are the table, with their attributes', () => {
      expect(r.deploy.source).toBe('tofu plan');
      expect(r.deploy.changes.map((c) => [c.action, c.kind, c.name])).toEqual([
        ['replace', 'Service', 'gpu-controlplane/gpu-dev-api'],
        ['update', 'Deployment', 'gpu-controlplane/gpu-dev-api'],
      ]);
      expect(r.deploy.changes[1].attributes).toEqual([{ path: 'spec[0].replicas', before: '"2"', after: '"3"', forcesReplacement: false }]);
    });

    it('then the objects it found drifted are listed', () => {
      expect(r.deploy.tofuPlan?.drifted).toEqual(['kubernetes_service_v1.api_service_298EA376']);
    });

    it('then where it and the synth disagree it says so', () => {
      expect(r.deploy.tofuPlan?.disagreements).toEqual([
        expect.stringMatching(/^kubernetes_service_v1\.api_service_298EA376: tofu plans replace, the two synthesized stacks differ by nothing/),
      ]);
    });

    it('then the review warns', () => {
      expect(r.verdict.level).toBe('warn');
    });

    describe('when the plan given cannot be read or is not JSON', () => {
      it('then a file that cannot be read is refused, naming it', async () => {
        const missing = review(() => undefined, { tofuPlan: join(dir, 'missing.json') });
        await expect(missing).rejects.toThrow(ReviewInputError);
        await expect(missing).rejects.toThrow(`--tofu-plan ${join(dir, 'missing.json')} cannot be read: ENOENT: no such file or directory`);
      });

      it('then a binary plan is refused, asking for the output of tofu show -json', async () => {
        writeFileSync(join(dir, 'binary.tfplan'), 'PK\u0003\u0004');
        await expect(review(() => undefined, { tofuPlan: join(dir, 'binary.tfplan') })).rejects.toThrow(
          /is not JSON \(give the output of tofu show -json PLANFILE, not the binary plan\)/,
        );
      });
    });
  });

  describe('when the Markdown would pass 65,000 characters', () => {
    let r: Review;
    let full: string;
    beforeAll(async () => {
      ({ review: r } = await review((head) => {
        // A long comment in a new file: its plan text and lint stay short, the report does not.
        const statements = Array.from({ length: 40 }, (_, i) => `CREATE TABLE IF NOT EXISTS wide_${i} (id BIGSERIAL PRIMARY KEY, note TEXT);`).join('\n');
        writeFileSync(schema(head, '006_wide.sql'), `-- 006_wide.sql\n${statements}\n`);
      }));
      full = toMarkdown(r);
    });

    it('then the full report has every section, in order', () => {
      expect(full.length).toBeLessThan(MAX_COMMENT);
      for (const heading of ['### Deploy effect', '### SQL effect', '### Locks and risk', '### Lint', '### What this review cannot know'])
        expect(full).toContain(`\n${heading}\n`);
      const order = ['### Deploy effect', '### SQL effect', '### Locks and risk', '### Lint'].map((h) => full.indexOf(h));
      expect([...order].sort((a, b) => a - b)).toEqual(order);
    });

    it('then the details go first, saying so', () => {
      const compact = toMarkdown(r, full.length - 1);
      expect(compact.length).toBeLessThanOrEqual(full.length - 1);
      expect(compact).toContain(`_Left out: the full report is ${full.length} characters`);
    });

    it('then, still too long, it is cut, keeping the marker and saying so', () => {
      const cut = toMarkdown(r, 2000);
      expect(cut.length).toBeLessThanOrEqual(2000);
      expect(cut.startsWith(REVIEW_MARKER)).toBe(true);
      expect(cut).toMatch(/_… cut here: the report is \d+ characters even without its details, over the 2000 a comment may hold\./);
    });

    it('then --json carries the same review', () => {
      const json = JSON.parse(toJson(r));
      expect(json.verdict).toEqual(r.verdict);
      expect(json.marker).toBe(REVIEW_MARKER);
      expect(json.locks.files.map((f: { file: string }) => f.file)).toEqual(r.locks.files.map((f) => f.file));
    });
  });

  describe('when the head has a lint finding or does not synthesize', () => {
    describe('when a new file changes the type of a column (a lint finding)', () => {
      let lint: Review;
      beforeAll(async () => {
        ({ review: lint } = await review((head) =>
          writeFileSync(schema(head, '006_gpu_count.sql'), '-- 006_gpu_count.sql\n\nALTER TABLE reservations ALTER COLUMN gpu_count TYPE BIGINT;\n'),
        ));
      });

      it('then squawk names the file, line and rule of each finding', () => {
        expect(lint.lint.result?.findings.map((f) => [f.file, f.line, f.rule])).toEqual([
          ['database/schema/006_gpu_count.sql', 3, 'prefer-robust-stmts'],
          ['database/schema/006_gpu_count.sql', 3, 'changing-column-type'],
        ]);
      });

      it('then the lock section says the file rewrites reservations', () => {
        expect(lint.locks.files.find((f) => f.file === 'schema/006_gpu_count.sql')?.rewrites).toEqual(['reservations']);
      });

      it('then the review fails, naming the rewrite', () => {
        expect(lint.verdict.level).toBe('fail');
        expect(lint.verdict.reasons.map((x) => x.text)).toContain(
          "schema/006_gpu_count.sql rewrites reservations: its time grows with production's rows, all of it under the lock",
        );
      });
    });

    describe('when a schema file holds BEGIN, which synth refuses', () => {
      let refused: Review;
      let scratchAsked: number;
      beforeAll(async () => {
        ({ review: refused, scratchAsked } = await review((head) => appendFileSync(schema(head, '002_reservations.sql'), '\nBEGIN;\n')));
      });

      it('then it never starts a database', () => {
        expect(scratchAsked).toBe(0);
      });

      it("then synth's refusal of the head names the file and line", () => {
        expect(refused.head.refused).toMatch(/002_reservations\.sql:\d+:1: .*BEGIN/);
      });

      it('then the review fails: the head cannot be deployed', () => {
        expect(refused.verdict.level).toBe('fail');
        expect(refused.verdict.reasons[0].text).toMatch(/^synth refuses the head, so it cannot be deployed: /);
      });
    });
  });

  describe('when DATABASE_URL is given', () => {
    let db: TestDatabase;
    let client: Client;
    let before: string;
    let r: Review;
    const addTable = (head: string) =>
      writeFileSync(
        schema(head, '006_audit_log.sql'),
        '-- 006_audit_log.sql\nCREATE TABLE IF NOT EXISTS audit_log (audit_id BIGSERIAL PRIMARY KEY, action TEXT NOT NULL);\n',
      );
    beforeAll(async () => {
      db = await createTestDatabase('review_real');
      await applyProductSchema(db);
      client = await db.connect();
      before = await snapshot(client);
      ({ review: r } = await review(addTable, { databaseUrl: db.url }));
    });
    afterAll(() => db?.drop());

    it('then the head is planned against it too: it would create the table, observing the same files', () => {
      const real = r.sql.database;
      expect(real?.database).toBe(`postgres@127.0.0.1:${new URL(db.url).port}/${db.name}`);
      expect(real?.plan?.applyWould).toBe('apply');
      expect(real?.plan?.changes).toContainEqual(expect.objectContaining({ kind: 'table', name: 'audit_log', change: 'create' }));
      expect(real?.plan?.observation?.files.map((f) => f.file)).toEqual([...r.locks.files.map((f) => f.file)]);
    });

    it('then the database is left as it was (read-only)', async () => {
      expect(await snapshot(client)).toBe(before);
    });

    it('then the review passes', () => {
      expect(r.verdict.level).toBe('pass');
    });

    it('then what the review cannot know says the plan took the locks apply would and rolled back', () => {
      expect(r.cannotKnow.at(-1)).toBe(
        'The plan against DATABASE_URL took the same locks apply would, for as long as it ran, and rolled back; sequences it used may have advanced.',
      );
    });

    describe('when the database was changed outside migrations (drift there)', () => {
      let drifted: Review;
      beforeAll(async () => {
        // Changed outside migrations: the real database has another type than its applied files declare.
        await client.query('ALTER TABLE reservations ALTER COLUMN cli_version TYPE text');
        ({ review: drifted } = await review(addTable, { databaseUrl: db.url }));
      });

      it('then the scratch database shows no drift', () => {
        expect(drifted.sql.scratch?.plan?.drift.errors).toEqual([]);
      });

      it('then the plan against DATABASE_URL finds the drift (exit 11)', () => {
        expect(drifted.sql.database?.exitCode).toBe(11);
        expect(drifted.sql.database?.plan?.drift.errors[0].message).toMatch(/^column reservations\.cli_version is text in the database/);
      });

      it('then the review fails, naming the drift on DATABASE_URL', () => {
        expect(drifted.verdict.level).toBe('fail');
        expect(drifted.verdict.reasons[0].text).toMatch(/^drift on DATABASE_URL: column reservations\.cli_version is text in the database/);
      });
    });
  });
});
