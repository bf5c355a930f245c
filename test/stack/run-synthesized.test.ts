import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { synthesize } from '../../src/synth';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { copyOfDatabaseFolders, type RunResult } from '../support/runner';
import { only, runnerBytes, type SynthesizedJson } from '../support/stack';

/**
 * Runs what the stack synthesizes, the way the cluster would: the Job's command, args, env and
 * volume mounts, and the ConfigMaps' data, all read back from cdk.tf.json on disk. Nothing here
 * knows how the stack builds them.
 */

interface Synthesized {
  readonly json: SynthesizedJson;
  readonly job: any;
}

function synthesizeToDisk(dirs: { schemaDir: string; fixturesDir: string }, configMapLimitBytes?: number): Synthesized {
  const outdir = join(mkdtempSync(join(tmpdir(), 'gpu-dev-synth-')), 'cdktf.out');
  const summary = synthesize({ outdir, schemaDir: dirs.schemaDir, fixturesDir: dirs.fixturesDir, runnerBytes: runnerBytes(), configMapLimitBytes });
  const json = JSON.parse(readFileSync(join(outdir, 'stacks', summary.stackName, 'cdk.tf.json'), 'utf8')) as SynthesizedJson;
  return { json, job: only(json, 'kubernetes_job_v1') };
}

/**
 * A ConfigMap volume as the kubelet writes it: the files in a `..<timestamp>` folder, `..data`
 * pointing at it, and one symlink per key into `..data/`.
 */
function layOutLikeKubelet(dir: string, data: Record<string, string>, mode: number): void {
  const stamp = '..2026_01_01_00_00_00.123456789';
  mkdirSync(join(dir, stamp), { recursive: true });
  for (const [key, value] of Object.entries(data)) {
    writeFileSync(join(dir, stamp, key), value);
    chmodSync(join(dir, stamp, key), mode);
    symlinkSync(join('..data', key), join(dir, key));
  }
  symlinkSync(stamp, join(dir, '..data'));
}

/** The pod's volumes under `root`, one folder per mount; a projected volume merges its sources. */
function mountVolumes(json: SynthesizedJson, job: any, root: string): (path: string) => string {
  const configMaps = new Map(Object.values(json.resource.kubernetes_config_map_v1).map((cm: any) => [cm.metadata.name, cm.data ?? {}]));
  const pod = job.spec.template.spec;
  const mounts: { mount_path: string; name: string }[] = pod.container[0].volume_mount;
  for (const volume of pod.volume) {
    const sources: { name: string; default_mode?: string }[] = volume.config_map
      ? [volume.config_map]
      : volume.projected[0].sources.map((s: any) => ({ ...s.config_map[0], default_mode: volume.projected[0].default_mode }));
    const data = Object.assign({}, ...sources.map((s) => configMaps.get(s.name)));
    const mount = mounts.find((m) => m.name === volume.name);
    if (!mount) throw new Error(`volume ${volume.name} is not mounted`);
    layOutLikeKubelet(join(root, mount.mount_path), data, parseInt(sources[0].default_mode ?? '0644', 8));
  }
  return (arg) => {
    const mount = mounts.find((m) => arg === m.mount_path || arg.startsWith(`${m.mount_path}/`));
    return mount ? join(root, arg) : arg;
  };
}

/**
 * Runs the Job's container with `node`. Secret references resolve to `secret`; POSTGRES_HOST and
 * POSTGRES_PORT resolve to the test server, as the Service name does through cluster DNS.
 */
function runJob(synthesized: Synthesized, db: TestDatabase): Promise<RunResult> {
  const { json, job } = synthesized;
  const [container] = job.spec.template.spec.container;
  const url = new URL(db.url);
  const secret: Record<string, string> = {
    POSTGRES_USER: decodeURIComponent(url.username),
    POSTGRES_PASSWORD: decodeURIComponent(url.password),
    POSTGRES_DB: url.pathname.slice(1),
  };
  const resolved: Record<string, string> = { POSTGRES_HOST: url.hostname, POSTGRES_PORT: url.port };
  const env = Object.fromEntries(
    container.env.map((e: any) => [e.name, e.value_from ? secret[e.value_from.secret_key_ref.key] : (resolved[e.name] ?? e.value)]),
  );
  const inPod = mountVolumes(json, job, mkdtempSync(join(tmpdir(), 'gpu-dev-pod-')));
  const [program, ...commandArgs] = container.command as string[];
  expect(program).toBe('node');
  return new Promise((resolve) => {
    execFile(process.execPath, [...commandArgs, ...(container.args as string[])].map(inPod), { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
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

  it('when the synthesized Job runs, then it creates the schema and the ten GPU types, and a fixture edit renames the Job and updates the row', async () => {
    const { db, client } = await fresh();
    const dirs = copyOfDatabaseFolders();
    const first = synthesizeToDisk(dirs);

    const run = await runJob(first, db);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(first.job.spec.template.spec.container[0].args.at(-1));
    expect(await tables(client)).toEqual(PRODUCT_TABLES);
    expect((await client.query('SELECT count(*)::int AS n FROM gpu_types')).rows[0].n).toBe(10);
    const history = await client.query('SELECT bundle_hash, applied_by FROM schema_migrations');
    expect(history.rows).toEqual([{ bundle_hash: first.job.metadata.annotations['gpu-dev/bundle-hash'], applied_by: first.job.metadata.name }]);

    const fixture = join(dirs.fixturesDir, '001_initial_gpu_types.sql');
    writeFileSync(fixture, readFileSync(fixture, 'utf8').replace("'NVIDIA H100 80 GB, 8 per node'", "'NVIDIA H100 80 GB HBM3, 8 per node'"));
    const second = synthesizeToDisk(dirs);
    expect(second.job.metadata.name).toMatch(/^db-migration-[0-9a-f]{12}$/);
    expect(second.job.metadata.name).not.toBe(first.job.metadata.name);

    const rerun = await runJob(second, db);
    expect(rerun.code).toBe(0);
    const h100 = await client.query(`SELECT description FROM gpu_types WHERE gpu_type = 'h100'`);
    expect(h100.rows).toEqual([{ description: 'NVIDIA H100 80 GB HBM3, 8 per node' }]);
    expect((await client.query('SELECT applied_by FROM schema_migrations ORDER BY run_id')).rows.map((r) => r.applied_by)).toEqual([
      first.job.metadata.name,
      second.job.metadata.name,
    ]);
  });

  it('when the old Job runs against the new ConfigMaps, then the runner refuses the mismatched bundle (exit 8) and changes nothing', async () => {
    const { db, client } = await fresh();
    const dirs = copyOfDatabaseFolders();
    const old = synthesizeToDisk(dirs);
    writeFileSync(join(dirs.schemaDir, '005_extra.sql'), 'CREATE TABLE IF NOT EXISTS extra (id int);\n');
    const current = synthesizeToDisk(dirs);
    // The old Job's command with the new ConfigMaps' data: what a stale pod would see.
    const stale = { json: current.json, job: old.job };
    const run = await runJob(stale, db);
    expect(run.code).toBe(8);
    expect(run.stderr).toContain(old.job.metadata.annotations['gpu-dev/bundle-hash']);
    expect(await tables(client)).toEqual([]);
  });

  it('when the schema is split over several ConfigMaps, then they are projected into one folder and the Job applies it all', async () => {
    const { db, client } = await fresh();
    const split = synthesizeToDisk(copyOfDatabaseFolders(), 3000);
    const schemaVolume = split.job.spec.template.spec.volume.find((v: any) => v.name === 'schema');
    const sources = schemaVolume.projected[0].sources.map((s: any) => s.config_map[0].name);
    expect(sources).toEqual(['database-schema', 'database-schema-2', 'database-schema-3', 'database-schema-4']);
    for (const name of sources) {
      const cm = Object.values(split.json.resource.kubernetes_config_map_v1).find((c: any) => c.metadata.name === name) as any;
      const bytes = Object.entries(cm.data as Record<string, string>).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
      expect(bytes).toBeLessThanOrEqual(3000);
    }
    expect(split.job.depends_on).toHaveLength(6);

    const run = await runJob(split, db);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await tables(client)).toEqual(PRODUCT_TABLES);
    expect((await client.query('SELECT count(*)::int AS n FROM gpu_types')).rows[0].n).toBe(10);
  });
});
