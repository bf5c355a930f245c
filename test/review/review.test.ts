import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRunnerBundle } from '../../src/build/runner-bundle';
import { DATABASE_FOLDERS } from '../../src/build/repository';
import { ReviewInputError } from '../../src/review/errors';
import { MAX_COMMENT, toJson, toMarkdown } from '../../src/review/report';
import { REVIEW_MARKER, reviewChange, type Review, type ReviewOptions } from '../../src/review/review';
import { applyProductSchema } from '../support/api';
import { createTestDatabase, snapshot } from '../support/database';
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
  it('when the head adds a table, then the Job is replaced, the plan creates it, no lock lands on an existing table, squawk has nothing, and it passes', async () => {
    const { review: r } = await review((head) =>
      writeFileSync(
        schema(head, '006_audit_log.sql'),
        '-- 006_audit_log.sql\n-- Who did what through the API.\nCREATE TABLE IF NOT EXISTS audit_log (\n    audit_id BIGSERIAL PRIMARY KEY,\n    username VARCHAR(255) NOT NULL,\n    action TEXT NOT NULL,\n    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()\n);\n\nCREATE INDEX IF NOT EXISTS idx_audit_log_username ON audit_log(username);\n',
      ),
    );
    // Deploy effect
    expect(r.deploy.effect?.migrationRuns).toBe(true);
    expect(r.deploy.effect?.job.before).not.toEqual(r.deploy.effect?.job.after);
    expect(r.deploy.effect?.sentences[0]).toBe(`The migration Job is replaced (${r.base.jobName} → ${r.head.jobName}): the bundle runs on the next apply.`);
    expect(r.deploy.effect?.sentences).toContain(
      "The API rolls out: its pod template's bundle hash changed (new pods start, and re-verify the schema, after the migration).",
    );
    // The bundle's ConfigMaps are its own (named with its hash): each replaced, with what differs in it.
    const suffix = (name?: string) => name?.replace('db-migration-', '');
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
    // SQL effect
    expect(r.sql.files).toEqual([{ file: 'schema/006_audit_log.sql', change: 'added' }]);
    const plan = r.sql.scratch?.plan;
    expect(plan?.applyWould).toBe('apply');
    expect(
      plan?.changes
        .filter((c) => c.kind === 'table' || c.kind === 'index')
        .map((c) => `${c.change} ${c.kind} ${c.name}`)
        .sort(),
    ).toEqual(['create index audit_log_pkey', 'create index idx_audit_log_username', 'create table audit_log']);
    expect(plan?.drift.errors).toEqual([]);
    // Locks and risk: the new table is nobody else's yet
    const file = r.locks.files.find((f) => f.file === 'schema/006_audit_log.sql');
    expect(file).toMatchObject({ change: 'added', locks: [], rewrites: [], observed: true });
    expect(file?.durationMs).toBeGreaterThan(0);
    expect(r.locks.tables.map((t) => t.table)).not.toContain('audit_log');
    // Lint
    expect(r.lint.result?.files).toEqual(['database/schema/006_audit_log.sql']);
    expect(r.lint.result?.findings).toEqual([]);
    // Verdict
    expect(r.verdict).toMatchObject({ level: 'pass', exitCode: 0, reasons: [] });
    expect(r.verdict.line).toBe('pass: the migration runs, the API rolls out; no drift, no lint finding, no new lock on a hot table');
  });

  it('when a column is added by editing the old CREATE TABLE, then the SQL effect and the lock sections show what convergence generates, with its lock and cost, and the review passes', async () => {
    const { review: r } = await review((head) => {
      const file = schema(head, '002_reservations.sql');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace('    cli_version VARCHAR(50)\n', '    cli_version VARCHAR(50),\n    priority INTEGER DEFAULT 0\n'),
      );
    });
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
    const markdown = toMarkdown(r);
    const row =
      /\| `schema\/002_reservations\.sql line \d+` \| `ALTER TABLE reservations ADD COLUMN priority integer DEFAULT 0` \| ACCESS EXCLUSIVE \| catalog-only \|/g;
    expect(markdown.match(row)).toHaveLength(2);
    expect(markdown).toContain('- Generated by convergence (existing tables brought to their edited CREATE TABLE): 1 statement.');
    expect(markdown).toContain('Statements convergence generates take these locks, each held until the run commits:');
    expect(r.verdict.level).toBe('pass');
    // Editing 002 does not make its locks new: its base version took the same.
    const file = r.locks.files.find((f) => f.file === 'schema/002_reservations.sql');
    expect(file?.change).toBe('changed');
    expect(file?.locks).toEqual([expect.objectContaining({ table: 'reservations', mode: 'AccessExclusiveLock', new: false, hot: true })]);
    expect(r.verdict.reasons.filter((reason) => reason.level === 'warn')).toEqual([]);
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

  it('when a new file alters reservations, then its ACCESS EXCLUSIVE lock is reported with the routes that wait, and the review warns (exit 0)', async () => {
    const { review: r } = await review((head) =>
      writeFileSync(
        schema(head, '006_reservations_priority.sql'),
        '-- 006_reservations_priority.sql\nALTER TABLE reservations ADD COLUMN IF NOT EXISTS priority INTEGER DEFAULT 0;\n',
      ),
    );
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
    expect(r.sql.scratch?.plan?.changes).toEqual([expect.objectContaining({ kind: 'column', name: 'reservations.priority', change: 'create' })]);
    const hold = r.locks.tables.find((t) => t.table === 'reservations');
    expect(hold).toMatchObject({ mode: 'AccessExclusiveLock', since: 'schema/002_reservations.sql', hot: true });
    const sentence = r.locks.sentences.find((s) => s.startsWith('AccessExclusiveLock on reservations'));
    expect(sentence).toContain("taken by this change's schema/006_reservations_priority.sql");
    expect(sentence).toContain('each request waits at most DB_LOCK_TIMEOUT_SECONDS (5 s) and then answers 503 with Retry-After: 5');
    expect(r.locks.sentences.at(-1)).toContain('lock_timeout (3s)');
    expect(r.lint.result?.findings).toEqual([]);
    expect(r.verdict).toMatchObject({ level: 'warn', exitCode: 0 });
    expect(r.verdict.reasons).toEqual([
      {
        level: 'warn',
        text: expect.stringMatching(/^schema\/006_reservations_priority\.sql takes AccessExclusiveLock on reservations, a hot table: GET \/v1\/jobs; /),
      },
    ]);
    expect(toMarkdown(r)).toContain('**AccessExclusiveLock on reservations** (new, hot table)');
  });

  it('when a fixture row is added, then the plan counts the rows, the Job is replaced and the fixtures ConfigMap changes', async () => {
    const { review: r } = await review((head) => {
      const file = fixtures(head, '001_initial_gpu_types.sql');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          "    ('cpu-arm',",
          "    ('l40s',     'g6e.12xlarge',     4,  48,  384,  4, 4, true, 'NVIDIA L40S 48 GB, 4 per node'),\n    ('cpu-arm',",
        ),
      );
    });
    expect(r.deploy.effect?.migrationRuns).toBe(true);
    const fixturesMap = `gpu-controlplane/database-fixtures-${r.head.jobName?.replace('db-migration-', '')}`;
    expect(r.deploy.changes.find((c) => c.kind === 'ConfigMap' && c.name.includes('fixtures'))).toMatchObject({ name: fixturesMap, action: 'replace' });
    expect(r.deploy.effect?.sentences).toContain(
      `ConfigMap ${fixturesMap} replaces gpu-controlplane/database-fixtures-${r.base.jobName?.replace('db-migration-', '')} (the bundle's own ConfigMap): 001_initial_gpu_types.sql changed.`,
    );
    expect(r.sql.scratch?.plan?.fixtures).toEqual([
      { file: 'fixtures/001_initial_gpu_types.sql', statement: 1, line: 7, tables: { gpu_types: { inserted: 1, updated: 10, deleted: 0 } } },
    ]);
    expect(r.sql.scratch?.plan?.changes).toEqual([]);
    const file = r.locks.files.find((f) => f.file === 'fixtures/001_initial_gpu_types.sql');
    expect(file?.locks).toEqual([expect.objectContaining({ table: 'gpu_types', mode: 'RowExclusiveLock', new: false, blocked: [] })]);
    expect(r.verdict.level).toBe('pass');
    expect(toMarkdown(r)).toContain('Fixture rows: fixtures/001_initial_gpu_types.sql statement 1 (line 7): gpu_types 1 inserted, 10 updated.');
  });

  it('when only a non-SQL setting changes, then no migration runs and the Deployment changes: scaled for replicas, a rollout for the image', async () => {
    const scaled = await review(() => undefined, { headEnv: { GPU_DEV_API_REPLICAS: '3' } });
    const r = scaled.review;
    expect(scaled.scratchAsked).toBe(0);
    expect(r.deploy.effect).toMatchObject({ migrationRuns: false, apiRollsOut: false });
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
    expect(r.sql).toEqual({ files: [], skipped: 'the bundle is unchanged: the Job keeps its name and does not run, so there is no SQL to plan' });
    expect(r.locks.files).toEqual([]);
    expect(r.lint.result?.files).toEqual([]);
    expect(r.verdict).toMatchObject({ level: 'pass', exitCode: 0, line: 'pass: no migration; no drift, no lint finding, no new lock on a hot table' });

    // The Job's image pinned on both sides: the API alone changes.
    const pinned = { GPU_DEV_RUNNER_IMAGE: 'gpu-dev-api:0.1.0' };
    const image = (await review(() => undefined, { baseEnv: pinned, headEnv: { ...pinned, GPU_DEV_API_IMAGE: 'gpu-dev-api:0.2.0' } })).review;
    expect(image.deploy.effect).toMatchObject({ migrationRuns: false, apiRollsOut: true });
    expect(image.deploy.effect?.sentences).toContain('The API rolls out: its image changed ("gpu-dev-api:0.1.0" → "gpu-dev-api:0.2.0").');
    expect(image.verdict.line).toBe('pass: no migration, the API rolls out; no drift, no lint finding, no new lock on a hot table');
  });

  it('when the product image changes, then the Job, which runs the runner from it, gets a new name and runs again', async () => {
    const r = (await review(() => undefined, { headEnv: { GPU_DEV_API_IMAGE: 'gpu-dev-api:0.2.0' } })).review;
    expect(r.deploy.effect).toMatchObject({ migrationRuns: true, apiRollsOut: true });
    expect(r.deploy.effect?.sentences[0]).toBe(
      `The migration Job is replaced (${r.base.jobName} → ${r.head.jobName}; the image it runs on changed ("gpu-dev-api:0.1.0" → "gpu-dev-api:0.2.0")): the bundle runs on the next apply.`,
    );
  });

  it('when nothing changes, then it says "nothing to review", exits 0, and never starts a database', async () => {
    const { review: r, scratchAsked } = await review(() => undefined);
    expect(scratchAsked).toBe(0);
    expect(r.deploy.changes).toEqual([]);
    expect(r.verdict).toEqual({ level: 'nothing', exitCode: 0, line: 'nothing to review: the head deploys exactly what the base does', reasons: [] });
    const markdown = toMarkdown(r);
    expect(markdown.startsWith(`${REVIEW_MARKER}\n## 💤 gpu-dev review: nothing to review`)).toBe(true);
  });

  it('when a real plan is given (--tofu-plan), then its actions are the table, and where it and the synth disagree it warns', async () => {
    const dir = temporaryFolder('gpu-dev-review-plan-');
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
    const { review: r } = await review(() => undefined, { headEnv: { GPU_DEV_API_REPLICAS: '3' }, tofuPlan: planFile });
    expect(r.deploy.source).toBe('tofu plan');
    expect(r.deploy.changes.map((c) => [c.action, c.kind, c.name])).toEqual([
      ['replace', 'Service', 'gpu-controlplane/gpu-dev-api'],
      ['update', 'Deployment', 'gpu-controlplane/gpu-dev-api'],
    ]);
    expect(r.deploy.changes[1].attributes).toEqual([{ path: 'spec[0].replicas', before: '"2"', after: '"3"', forcesReplacement: false }]);
    expect(r.deploy.tofuPlan?.drifted).toEqual(['kubernetes_service_v1.api_service_298EA376']);
    expect(r.deploy.tofuPlan?.disagreements).toEqual([
      expect.stringMatching(/^kubernetes_service_v1\.api_service_298EA376: tofu plans replace, the two synthesized stacks differ by nothing/),
    ]);
    expect(r.verdict.level).toBe('warn');

    const missing = review(() => undefined, { tofuPlan: join(dir, 'missing.json') });
    await expect(missing).rejects.toThrow(ReviewInputError);
    await expect(missing).rejects.toThrow(`--tofu-plan ${join(dir, 'missing.json')} cannot be read: ENOENT: no such file or directory`);
    writeFileSync(join(dir, 'binary.tfplan'), 'PK\u0003\u0004');
    await expect(review(() => undefined, { tofuPlan: join(dir, 'binary.tfplan') })).rejects.toThrow(
      /is not JSON \(give the output of tofu show -json PLANFILE, not the binary plan\)/,
    );
  });

  it('when the Markdown would pass 65,000 characters, then the details go first, then it is cut, saying so; --json carries the same review', async () => {
    const { review: r } = await review((head) => {
      // A long comment in a new file: its plan text and lint stay short, the report does not.
      const statements = Array.from({ length: 40 }, (_, i) => `CREATE TABLE IF NOT EXISTS wide_${i} (id BIGSERIAL PRIMARY KEY, note TEXT);`).join('\n');
      writeFileSync(schema(head, '006_wide.sql'), `-- 006_wide.sql\n${statements}\n`);
    });
    const full = toMarkdown(r);
    expect(full.length).toBeLessThan(MAX_COMMENT);
    for (const heading of ['### Deploy effect', '### SQL effect', '### Locks and risk', '### Lint', '### What this review cannot know'])
      expect(full).toContain(`\n${heading}\n`);
    const order = ['### Deploy effect', '### SQL effect', '### Locks and risk', '### Lint'].map((h) => full.indexOf(h));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const compact = toMarkdown(r, full.length - 1);
    expect(compact.length).toBeLessThanOrEqual(full.length - 1);
    expect(compact).toContain(`_Left out: the full report is ${full.length} characters`);
    const cut = toMarkdown(r, 2000);
    expect(cut.length).toBeLessThanOrEqual(2000);
    expect(cut.startsWith(REVIEW_MARKER)).toBe(true);
    expect(cut).toMatch(/_… cut here: the report is \d+ characters even without its details, over the 2000 a comment may hold\./);
    const json = JSON.parse(toJson(r));
    expect(json.verdict).toEqual(r.verdict);
    expect(json.marker).toBe(REVIEW_MARKER);
    expect(json.locks.files.map((f: { file: string }) => f.file)).toEqual(r.locks.files.map((f) => f.file));
  });

  it('when the head has a lint finding or does not synthesize, then the review fails and says which file and line', async () => {
    const { review: lint } = await review((head) =>
      writeFileSync(schema(head, '006_gpu_count.sql'), '-- 006_gpu_count.sql\n\nALTER TABLE reservations ALTER COLUMN gpu_count TYPE BIGINT;\n'),
    );
    expect(lint.lint.result?.findings.map((f) => [f.file, f.line, f.rule])).toEqual([
      ['database/schema/006_gpu_count.sql', 3, 'prefer-robust-stmts'],
      ['database/schema/006_gpu_count.sql', 3, 'changing-column-type'],
    ]);
    expect(lint.locks.files.find((f) => f.file === 'schema/006_gpu_count.sql')?.rewrites).toEqual(['reservations']);
    expect(lint.verdict.level).toBe('fail');
    expect(lint.verdict.reasons.map((x) => x.text)).toContain(
      "schema/006_gpu_count.sql rewrites reservations: its time grows with production's rows, all of it under the lock",
    );

    const { review: refused, scratchAsked } = await review((head) => appendFileSync(schema(head, '002_reservations.sql'), '\nBEGIN;\n'));
    expect(scratchAsked).toBe(0);
    expect(refused.head.refused).toMatch(/002_reservations\.sql:\d+:1: .*BEGIN/);
    expect(refused.verdict.level).toBe('fail');
    expect(refused.verdict.reasons[0].text).toMatch(/^synth refuses the head, so it cannot be deployed: /);
  });

  it('when DATABASE_URL is given, then the head is planned against it too, read-only, and drift there fails the review', async () => {
    const db = await createTestDatabase('review_real');
    try {
      await applyProductSchema(db);
      const client = await db.connect();
      const before = await snapshot(client);
      const addTable = (head: string) =>
        writeFileSync(
          schema(head, '006_audit_log.sql'),
          '-- 006_audit_log.sql\nCREATE TABLE IF NOT EXISTS audit_log (audit_id BIGSERIAL PRIMARY KEY, action TEXT NOT NULL);\n',
        );
      const { review: r } = await review(addTable, { databaseUrl: db.url });
      const real = r.sql.database;
      expect(real?.database).toBe(`postgres@127.0.0.1:${new URL(db.url).port}/${db.name}`);
      expect(real?.plan?.applyWould).toBe('apply');
      expect(real?.plan?.changes).toContainEqual(expect.objectContaining({ kind: 'table', name: 'audit_log', change: 'create' }));
      expect(real?.plan?.observation?.files.map((f) => f.file)).toEqual([...r.locks.files.map((f) => f.file)]);
      expect(await snapshot(client)).toBe(before);
      expect(r.verdict.level).toBe('pass');
      expect(r.cannotKnow.at(-1)).toBe(
        'The plan against DATABASE_URL took the same locks apply would, for as long as it ran, and rolled back; sequences it used may have advanced.',
      );

      // Changed outside migrations: the real database has another type than its applied files declare.
      await client.query('ALTER TABLE reservations ALTER COLUMN cli_version TYPE text');
      const { review: drifted } = await review(addTable, { databaseUrl: db.url });
      expect(drifted.sql.scratch?.plan?.drift.errors).toEqual([]);
      expect(drifted.sql.database?.exitCode).toBe(11);
      expect(drifted.sql.database?.plan?.drift.errors[0].message).toMatch(/^column reservations\.cli_version is text in the database/);
      expect(drifted.verdict.level).toBe('fail');
      expect(drifted.verdict.reasons[0].text).toMatch(/^drift on DATABASE_URL: column reservations\.cli_version is text in the database/);
    } finally {
      await db.drop();
    }
  });
});
