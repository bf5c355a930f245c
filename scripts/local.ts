/**
 * `npm run local`: the whole control plane on this machine, to try a schema change before
 * deploying it. An embedded PostgreSQL 18 (data kept in .local/postgres), the PGMQ stand-in,
 * the migration run exactly as the Job runs it (the bytes `npm run synth` puts in the
 * ConfigMaps, laid out as the kubelet mounts them, and the runner the product image carries),
 * then the API and a development key.
 * Ctrl-C stops everything. `--reset` starts from an empty database.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { loadConfig as loadApiConfig } from '../src/api/config';
import { jsonLogger } from '../src/api/log';
import { clientDb } from '../src/api/repositories/db';
import { startApi, type RunningApi } from '../src/api/server';
import { issueKey, type KeyPolicy } from '../src/api/services/keys';
import { ensureUser } from '../src/api/services/users';
import { DATABASE_FOLDERS, REPO_ROOT } from '../src/build/repository';
import { buildRunnerBundle } from '../src/build/runner-bundle';
import { installPgmqStandIn, PGMQ_STAND_IN } from '../src/dev/pgmq';
import { jobProcess, readSynthesizedJob } from '../src/dev/synthesized-job';
import { ExitError } from '../src/kernel/exit-codes';
import { RUNNER_IN_IMAGE } from '../src/stack/constructs/database-migration';
import { configFromEnvironment, synthesize, type SynthSummary } from '../src/stack/synth';

const USAGE = `Usage: npm run local [-- options]
  --reset               delete the local database first (.local/postgres) and start over
  --port N              API port (default 8000; 0 picks a free one)
  --db-port N           PostgreSQL port (default 54329; 0 picks a free one)
  --schema-dir DIR      schema folder (default database/schema)
  --fixtures-dir DIR    fixtures folder (default database/fixtures)
  -h, --help            this text
Environment: GPU_DEV_LOCAL_DIR (default .local) is where the data, synth output and pod files go.`;

const DATABASE = 'gpudev';
// A local, throwaway cluster reachable only on 127.0.0.1: its password is no secret.
const PASSWORD = 'local-only-password';

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      reset: { type: 'boolean' },
      port: { type: 'string', default: '8000' },
      'db-port': { type: 'string', default: '54329' },
      'schema-dir': { type: 'string', default: DATABASE_FOLDERS.schemaDir },
      'fixtures-dir': { type: 'string', default: DATABASE_FOLDERS.fixturesDir },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const apiPort = portOption('--port', values.port as string, 0);
  const localDir = process.env.GPU_DEV_LOCAL_DIR || join(REPO_ROOT, '.local');
  const dataDir = join(localDir, 'postgres', 'data');
  if (values.reset) {
    rmSync(join(localDir, 'postgres'), { recursive: true, force: true });
    say(`reset: deleted ${relative(process.cwd(), join(localDir, 'postgres')) || '.'}`);
  }

  const { freePort, startPostgres } = await import('../src/dev/postgres.mjs');
  const dbPort = portOption('--db-port', values['db-port'] as string, 0) || (await freePort());
  const started = Date.now();
  const ticker = setInterval(() => say(`  … PostgreSQL still starting (${Math.round((Date.now() - started) / 1000)}s)`), 2000);
  say(`PostgreSQL 18: starting on 127.0.0.1:${dbPort}, data in ${relative(process.cwd(), dataDir)} (the first run creates the cluster: a few seconds)`);
  let postgres: Awaited<ReturnType<typeof startPostgres>>;
  try {
    postgres = await startPostgres({ dataDir, port: dbPort, password: PASSWORD });
  } catch (cause) {
    const message = (cause as Error).message;
    const hint = /address already in use/i.test(message) ? ' (the port is taken: choose another with --db-port)' : '';
    throw new Error(`PostgreSQL did not start on port ${dbPort}${hint}: ${message}`, { cause });
  } finally {
    clearInterval(ticker);
  }
  say(`PostgreSQL 18: ${postgres.initialised ? 'started' : 'created and started'} in ${((Date.now() - started) / 1000).toFixed(1)}s`);

  let api: RunningApi | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) =>
    (stopping ??= (async () => {
      say(`\nstopping (${reason})…`);
      if (api) await api.shutdown(reason);
      await postgres.stop();
      say('stopped: API and PostgreSQL are down');
    })());
  try {
    await prepareDatabase(postgres.url('postgres'), postgres.url(DATABASE));
    const migration = await runMigrationAsTheJobWould(localDir, values['schema-dir'] as string, values['fixtures-dir'] as string, dbPort);
    if (migration.exitCode !== 0) {
      say(`\nthe migration failed (exit ${migration.exitCode}, see above): the API was not started. Fix the SQL and run npm run local again.`);
      await stop('migration failed');
      return migration.exitCode;
    }
    const env = {
      PORT: String(apiPort),
      POSTGRES_USER: 'postgres',
      POSTGRES_PASSWORD: PASSWORD,
      POSTGRES_DB: DATABASE,
      POSTGRES_HOST: '127.0.0.1',
      POSTGRES_PORT: String(dbPort),
    };
    const apiConfig = loadApiConfig(env);
    api = await startApi(
      apiConfig,
      jsonLogger((line) => process.stdout.write(`[api] ${line}\n`)),
    );
    const key = await developmentKey(postgres.url(DATABASE), apiConfig);
    const base = `http://127.0.0.1:${api.port}`;
    say();
    say('gpu-dev control plane running locally');
    say(`  database  ${postgres.url(DATABASE)}`);
    say(`  API       ${base}`);
    say(`  API key   ${key.api_key}`);
    say(`            (user ${key.username}, expires ${key.expires_at.toISOString()})`);
    say(`  bundle    ${migration.bundleHash} (Job ${migration.jobName})`);
    say('try:');
    say(`  curl -s ${base}/v1/gpu/availability -H 'Authorization: Bearer ${key.api_key}'`);
    say(
      `  curl -s -X POST ${base}/v1/jobs/submit -H 'Authorization: Bearer ${key.api_key}' -H 'Content-Type: application/json' -d '{"image":"pytorch/pytorch:latest","instance_type":"g5.12xlarge","duration_hours":2}'`,
    );
    say('stop: Ctrl-C (the data stays in .local/postgres; npm run local -- --reset starts over)');
    say();
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    await stop(signal);
    return 0;
  } catch (error) {
    await stop('error');
    throw error;
  }
}

function portOption(name: string, text: string, min: number): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < min || port > 65535) throw new Error(`${name} must be a port number (${min}-65535), got "${text}"`);
  return port;
}

/** The database, and the PGMQ stand-in where the real extension is not installed. */
async function prepareDatabase(adminUrl: string, databaseUrl: string): Promise<void> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'pgmq'`);
    if (!rowCount) {
      await installPgmqStandIn(client);
      say(`PGMQ: the stand-in (${relative(REPO_ROOT, PGMQ_STAND_IN)}) is installed; production uses the real extension`);
    }
  } finally {
    await client.end();
  }
}

/** Synthesizes the stack and runs its Job's container with node, ConfigMaps laid out as the kubelet mounts them. */
async function runMigrationAsTheJobWould(localDir: string, schemaDir: string, fixturesDir: string, dbPort: number) {
  const outdir = join(localDir, 'cdktf.out');
  const runnerBytes = buildRunnerBundle();
  let summary: SynthSummary;
  try {
    summary = await synthesize({ outdir, schemaDir, fixturesDir, runnerBytes, config: configFromEnvironment(process.env) });
  } catch (error) {
    // A file the runner would refuse (bad name, syntax, BEGIN/COMMIT) is refused at synth, in its words.
    if (!(error instanceof ExitError)) throw error;
    say(`ERROR: ${error.message}`);
    return { exitCode: error.exitCode as number, bundleHash: 'none', jobName: 'none' };
  }
  say(`synth: Job ${summary.jobName}, bundle ${summary.bundleHash}, ${summary.files.length} files`);
  const podRoot = join(localDir, 'pod');
  rmSync(podRoot, { recursive: true, force: true });
  mkdirSync(podRoot, { recursive: true });
  const job = readSynthesizedJob(join(outdir, 'stacks', summary.stackName, 'cdk.tf.json'));
  const secret = { POSTGRES_USER: 'postgres', POSTGRES_PASSWORD: PASSWORD, POSTGRES_DB: DATABASE };
  // The product image's runner is the bytes this checkout builds (the Dockerfile's `npm run build`).
  const { args, env } = jobProcess(job, podRoot, secret, { POSTGRES_HOST: '127.0.0.1', POSTGRES_PORT: String(dbPort) }, { [RUNNER_IN_IMAGE]: runnerBytes });
  say(`migration: node ${args.map((a) => relative(process.cwd(), a) || a).join(' ')}`);
  const exitCode = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) => resolve(code ?? 1));
  });
  return { exitCode, bundleHash: summary.bundleHash, jobName: summary.jobName };
}

/** A key for user "dev" (created on the first run), printed once like the admin command does. */
async function developmentKey(databaseUrl: string, policy: KeyPolicy) {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const db = clientDb(client);
    const user = await ensureUser(db, 'dev', 'dev@localhost');
    return (await issueKey(db, user, policy, { description: 'npm run local' })).issued;
  } finally {
    await client.end();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`ERROR: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
