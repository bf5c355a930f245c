import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { jobProcess, readSynthesizedJob, type SynthesizedJob } from '../../src/dev/synthesized-job';
import { loadStackConfig } from '../../src/stack/config';
import { RUNNER_IN_IMAGE } from '../../src/stack/constructs/database-migration';
import { synthesize } from '../../src/stack/synth';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, type RunResult } from '../support/runner';
import { runnerBytes } from '../support/stack';

/**
 * Runs what the stack synthesizes, the way the cluster would: the Job's command, args, env and
 * volume mounts, and the ConfigMaps' data, all read back from cdk.tf.json on disk. Nothing here
 * knows how the stack builds them.
 */

async function synthesizeToDisk(
  dirs: { schemaDir: string; fixturesDir: string },
  options: { configMapLimitBytes?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<SynthesizedJob> {
  const outdir = join(mkdtempSync(join(tmpdir(), 'gpu-dev-synth-')), 'cdktf.out');
  const config = loadStackConfig({ env: options.env ?? {} });
  const summary = await synthesize({
    outdir,
    config,
    schemaDir: dirs.schemaDir,
    fixturesDir: dirs.fixturesDir,
    runnerBytes: runnerBytes(),
    configMapLimitBytes: options.configMapLimitBytes,
  });
  return readSynthesizedJob(join(outdir, 'stacks', summary.stackName, 'cdk.tf.json'));
}

/**
 * Runs the Job's container with `node`. Secret references resolve to the test database's
 * credentials; POSTGRES_HOST and POSTGRES_PORT to the test server, as the Service name does
 * through cluster DNS. The image's runner is this checkout's build, as the Dockerfile makes it,
 * unless `imageRunner` says otherwise.
 */
function runJob(synthesized: SynthesizedJob, db: TestDatabase, imageRunner: Buffer = runnerBytes()): Promise<RunResult> {
  const url = new URL(db.url);
  const secret = { POSTGRES_USER: decodeURIComponent(url.username), POSTGRES_PASSWORD: decodeURIComponent(url.password), POSTGRES_DB: url.pathname.slice(1) };
  const pod = mkdtempSync(join(tmpdir(), 'gpu-dev-pod-'));
  const { args, env } = jobProcess(synthesized, pod, secret, { POSTGRES_HOST: url.hostname, POSTGRES_PORT: url.port }, { [RUNNER_IN_IMAGE]: imageRunner });
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function tables(client: Client): Promise<string[]> {
  const { rows } = await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  return rows.map((r) => r.tablename);
}

const PRODUCT_TABLES = ['api_keys', 'api_users', 'disks', 'gpu_types', 'reservations', 'schema_migration_files', 'schema_migrations'];

describe('running what the stack synthesizes', () => {
  const databases: TestDatabase[] = [];
  const fresh = async () => {
    const db = await createTestDatabase('synth');
    databases.push(db);
    return { db, client: await db.connect() };
  };
  afterAll(() => Promise.all(databases.map((db) => db.drop())));

  describe('when the synthesized Job runs', () => {
    let client: Client;
    let db: TestDatabase;
    let dirs: ReturnType<typeof copyOfDatabaseFolders>;
    let first: SynthesizedJob;
    let run: RunResult;
    beforeAll(async () => {
      ({ db, client } = await fresh());
      dirs = copyOfDatabaseFolders();
      first = await synthesizeToDisk(dirs);
      run = await runJob(first, db);
    });

    it('then it succeeds, with nothing on stderr', () => {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    });

    it('then its output names the bundle hash it was given', () => {
      expect(run.stdout).toContain(first.job.spec.template.spec.container[0].args.at(-1));
    });

    it('then it creates the schema', async () => {
      expect(await tables(client)).toEqual(PRODUCT_TABLES);
    });

    it('then it loads the ten GPU types', async () => {
      expect((await client.query('SELECT count(*)::int AS n FROM gpu_types')).rows[0].n).toBe(10);
    });

    it('then the history records the bundle and the Job that applied it', async () => {
      const history = await client.query('SELECT bundle_hash, applied_by FROM schema_migrations');
      expect(history.rows).toEqual([{ bundle_hash: first.job.metadata.annotations['gpu-dev/bundle-hash'], applied_by: first.job.metadata.name }]);
    });

    describe('when a fixture is edited, and the Job synthesized again runs', () => {
      let second: SynthesizedJob;
      let rerun: RunResult;
      beforeAll(async () => {
        const fixture = join(dirs.fixturesDir, '001_initial_gpu_types.sql');
        writeFileSync(fixture, readFileSync(fixture, 'utf8').replace("'NVIDIA H100 80 GB, 8 per node'", "'NVIDIA H100 80 GB HBM3, 8 per node'"));
        second = await synthesizeToDisk(dirs);
        rerun = await runJob(second, db);
      });

      it('then the Job has a new name', () => {
        expect(second.job.metadata.name).toMatch(/^db-migration-[0-9a-f]{12}$/);
        expect(second.job.metadata.name).not.toBe(first.job.metadata.name);
      });

      it('then it exits 0', () => {
        expect(rerun.code).toBe(0);
      });

      it('then the row is updated', async () => {
        const h100 = await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 'h100'`);
        expect(h100.rows).toEqual([{ description: 'NVIDIA H100 80 GB HBM3, 8 per node' }]);
      });

      it('then the history records both Jobs, in order', async () => {
        expect((await client.query('SELECT applied_by FROM schema_migrations ORDER BY run_id')).rows.map((r) => r.applied_by)).toEqual([
          first.job.metadata.name,
          second.job.metadata.name,
        ]);
      });
    });
  });

  it('when a ConfigMap of the Job holds other files than its hash names (edited by hand), then the runner refuses the mismatched bundle (exit 8) and changes nothing', async () => {
    const { db, client } = await fresh();
    const job = await synthesizeToDisk(copyOfDatabaseFolders());
    // Each bundle has ConfigMaps of its own, so only a hand edit (kubectl edit) can get here.
    const schema = Object.values<any>(job.json.resource.kubernetes_config_map_v1).find((cm) => cm.metadata.name.startsWith('database-schema-'));
    schema.data['006_extra.sql'] = 'CREATE TABLE IF NOT EXISTS extra (id int);\n';
    const run = await runJob(job, db);
    expect(run.code).toBe(8);
    expect(run.stderr).toContain(`but this run expects ${job.job.metadata.annotations['gpu-dev/bundle-hash']}`);
    expect(await tables(client)).toEqual([]);
  });

  describe('when the schema is split over several ConfigMaps', () => {
    let client: Client;
    let split: SynthesizedJob;
    let sources: string[];
    let run: RunResult;
    beforeAll(async () => {
      let db: TestDatabase;
      ({ db, client } = await fresh());
      split = await synthesizeToDisk(copyOfDatabaseFolders(), { configMapLimitBytes: 3000 });
      const schemaVolume = split.job.spec.template.spec.volume.find((v: any) => v.name === 'schema');
      sources = schemaVolume.projected[0].sources.map((s: any) => s.config_map[0].name);
      run = await runJob(split, db);
    });

    it('then they are projected into one folder, in order', () => {
      const base = `database-schema-${split.job.metadata.annotations['gpu-dev/bundle-hash'].slice(0, 12)}`;
      expect(sources).toEqual([base, `${base}-2`, `${base}-3`, `${base}-4`]);
    });

    it('then none holds more than the limit', () => {
      expect(sources).not.toEqual([]);
      for (const name of sources) {
        const cm = Object.values(split.json.resource.kubernetes_config_map_v1).find((c: any) => c.metadata.name === name) as any;
        const bytes = Object.entries(cm.data as Record<string, string>).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
        expect(bytes).toBeLessThanOrEqual(3000);
      }
    });

    it("then the Job waits for each of them and the stack's owner ConfigMap", () => {
      // Five ConfigMaps of SQL and the stack's owner ConfigMap.
      expect(split.job.depends_on).toHaveLength(6);
    });

    it('then the Job succeeds, with nothing on stderr', () => {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    });

    it('then the Job applies it all: the schema and the ten GPU types', async () => {
      expect(await tables(client)).toEqual(PRODUCT_TABLES);
      expect((await client.query('SELECT count(*)::int AS n FROM gpu_types')).rows[0].n).toBe(10);
    });
  });

  it('when the image carries a runner of another build, then it refuses to run (exit 8), naming both builds and the image, and changes nothing', async () => {
    const { db, client } = await fresh();
    const job = await synthesizeToDisk(copyOfDatabaseFolders());
    const other = Buffer.concat([runnerBytes(), Buffer.from('\n// another build\n')]);
    const run = await runJob(job, db, other);
    expect(run.code).toBe(8);
    const expected = job.job.spec.template.spec.container[0].env.find((e: any) => e.name === 'MIGRATION_RUNNER_DIGEST').value as string;
    expect(run.stderr).toContain(`but the Job expects build ${expected.slice(0, 12)}`);
    expect(run.stderr).toContain('the image gpu-dev-api:0.1.0 was not built from the checkout that synthesized the stack');
    expect(await tables(client)).toEqual([]);
  });

  it('when the runner comes from a ConfigMap (GPU_DEV_RUNNER_SOURCE=configmap), then the Job runs it from there on the Node image and applies the bundle', async () => {
    const { db, client } = await fresh();
    const job = await synthesizeToDisk(copyOfDatabaseFolders(), { env: { GPU_DEV_RUNNER_SOURCE: 'configmap' } });
    const [container] = job.job.spec.template.spec.container;
    expect(container.image).toBe('node:20-bookworm-slim');
    expect(container.args[0]).toBe('/opt/gpu-dev-db/runner/gpu-dev-db.js');
    // No runner in the image: only the ConfigMap's can run.
    const run = await runJob(job, db, Buffer.from('process.exit(99);\n'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await tables(client)).toEqual(PRODUCT_TABLES);
  });
});
