/**
 * "Migration under load": the API serves GET /v1/jobs and GET /v1/gpu/availability under
 * autocannon while the real runner applies a bundle that needs ACCESS EXCLUSIVE on
 * reservations, once alone and once while another session holds a long transaction on it.
 */
import autocannon from 'autocannon';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '../src/api/config';
import { jsonLogger } from '../src/api/log';
import { startApi, type RunningApi } from '../src/api/server';
import { copyOfDatabaseFolders } from '../src/dev/database-folders';
import { installPgmqStandIn } from '../src/dev/pgmq';
import { createUserWithKey, insertReservation } from '../src/dev/seed';
import { sleep, type Logger } from '../src/kernel/log';
import { parseSettings } from '../src/runner/cli/settings';
import { runApply, Timings } from '../src/runner';

const LOCK_TIMEOUT_MS = 500;
const CONNECTIONS = 10;
/** Hard cap on any one load run: every phase stops its load explicitly well before this. */
const LOAD_CAP_SECONDS = 60;

interface Dirs {
  readonly schemaDir: string;
  readonly fixturesDir: string;
}

interface Migration {
  readonly exitCode: number;
  readonly ms: number;
  /** Statements that hit lock_timeout, and of those the back-off retries of the whole transaction. */
  readonly lockTimeouts: number;
  readonly retries: number;
  readonly lines: string[];
}

/** The runner in-process as the CLI runs `apply --lock-timeout 500ms`, its log captured. */
async function migrate(url: string, dirs: Dirs, runnerDigest: string): Promise<Migration> {
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(`WARNING: ${m}`), error: (m) => lines.push(`ERROR: ${m}`) };
  const settings = parseSettings(['apply', '--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir, '--lock-timeout', `${LOCK_TIMEOUT_MS}ms`], {});
  if (!settings) throw new Error('unreachable: --help');
  const started = performance.now();
  const { exitCode } = await runApply({ settings, env: { DATABASE_URL: url }, log, runnerDigest, timings: new Timings() });
  const ms = performance.now() - started;
  // The first lock timeout in a transaction is rerun at once statement by statement (to locate
  // it); a lock timeout there is a back-off retry of the whole transaction.
  const lockTimeouts = lines.filter((l) => l.includes('due to lock timeout')).length + lines.filter((l) => l.includes('lock_timeout reached')).length;
  return { exitCode, ms, lockTimeouts, retries: lines.filter((l) => l.includes('lock_timeout reached')).length, lines };
}

/** The product's files plus new schema files (name → SQL). */
function bundleWith(extra: Record<string, string>): Dirs {
  const dirs = copyOfDatabaseFolders();
  for (const [name, sql] of Object.entries(extra)) writeFileSync(join(dirs.schemaDir, name), sql);
  return dirs;
}

/** Runs `work` while autocannon loads the API; the load stops when `work` is done. */
async function underLoad<T>(apiUrl: string, key: string, work: () => Promise<T>): Promise<{ load: autocannon.Result; result: T }> {
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: apiUrl,
        connections: CONNECTIONS,
        duration: LOAD_CAP_SECONDS,
        headers: { authorization: `Bearer ${key}` },
        // Each connection alternates between the two endpoints.
        requests: [
          { method: 'GET', path: '/v1/jobs' },
          { method: 'GET', path: '/v1/gpu/availability' },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
  try {
    const result = await work();
    instance?.stop();
    return { result, load: await done };
  } catch (error) {
    instance?.stop();
    await done.catch(() => undefined);
    throw error;
  }
}

export async function migrationUnderLoad(options: { url: string; smoke: boolean; runnerDigest: string; say: (line?: string) => void }): Promise<void> {
  const { url, smoke, runnerDigest, say } = options;
  const baselineMs = smoke ? 1000 : 5000;
  // Load before and after the migration, so "during" covers the whole migration and its edges.
  const edgeMs = smoke ? 300 : 1500;
  // Longer than the first lock_timeout + back-off (0.5 s + 1 s), so the runner must retry.
  const holdMs = smoke ? 1000 : 3000;

  const product = bundleWith({});
  const setup = await migrate(url, product, runnerDigest);
  if (setup.exitCode !== 0) throw new Error(`applying the product bundle exited ${setup.exitCode}:\n${setup.lines.join('\n')}`);
  const client = new Client({ connectionString: url });
  await client.connect();
  let api: RunningApi | undefined;
  try {
    await installPgmqStandIn(client);
    api = await startApi(
      loadConfig({ DATABASE_URL: url, PORT: '0' }),
      jsonLogger(() => undefined),
    );
    const key = (await createUserWithKey(client, 'bench')).api_key;
    const statuses = ['active', 'queued', 'completed', 'cancelled'];
    for (let i = 0; i < (smoke ? 20 : 200); i++) {
      await insertReservation(client, {
        id: `res-${i}`,
        user: 'bench',
        status: statuses[i % statuses.length],
        gpu_type: 'h100',
        gpu_count: 1 + (i % 8),
        created: i,
      });
    }
    const apiUrl = `http://127.0.0.1:${api.port}`;

    // Warm-up (JIT, pool connections), not reported.
    await underLoad(apiUrl, key, () => sleep(smoke ? 200 : 1000));
    const baseline = (await underLoad(apiUrl, key, () => sleep(baselineMs))).load;

    const alone = await underLoad(apiUrl, key, async () => {
      await sleep(edgeMs);
      const m = await migrate(url, bundleWith({ '006_bench_col.sql': 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS bench_col integer;\n' }), runnerDigest);
      await sleep(edgeMs);
      return m;
    });

    const blocked = await underLoad(apiUrl, key, async () => {
      await sleep(edgeMs);
      // Another session reads reservations in a long transaction: its ACCESS SHARE lock blocks
      // the migration's ACCESS EXCLUSIVE until it commits.
      const holder = new Client({ connectionString: url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT count(*) FROM reservations');
        const held = sleep(holdMs).then(() => holder.query('COMMIT'));
        const m = await migrate(
          url,
          bundleWith({
            '006_bench_col.sql': 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS bench_col integer;\n',
            '007_bench_col_2.sql': 'ALTER TABLE reservations ADD COLUMN IF NOT EXISTS bench_col_2 integer;\n',
          }),
          runnerDigest,
        );
        await held;
        await sleep(edgeMs);
        return m;
      } finally {
        await holder.end();
      }
    });

    say('## Migration under load');
    say();
    say(
      `The API (in-process, pool of 10) serves \`GET /v1/jobs\` and \`GET /v1/gpu/availability\` to autocannon (${CONNECTIONS} connections, loopback, same process) ` +
        `while the runner (in-process, \`--lock-timeout ${LOCK_TIMEOUT_MS}ms\`) applies the product files plus \`ALTER TABLE reservations ADD COLUMN\` ` +
        '(ACCESS EXCLUSIVE; the product files\' DROP/CREATE TRIGGER lock reservations too). "During" is the load from shortly before the migration starts until shortly after it ends. ' +
        `With a long transaction: another session holds \`BEGIN; SELECT … FROM reservations\` for ${(holdMs / 1000).toFixed(1)} s.`,
    );
    say();
    say('| phase | requests | non-2xx / errors | p50 | p99 | max | migration |');
    say('| --- | --- | --- | --- | --- | --- | --- |');
    const row = (name: string, load: autocannon.Result, m?: Migration) =>
      say(
        `| ${name} | ${load.requests.total} | ${load.non2xx} / ${load.errors + load.timeouts} | ${load.latency.p50} ms | ${load.latency.p99} ms | ${load.latency.max} ms | ` +
          `${m ? `exit ${m.exitCode} after ${(m.ms / 1000).toFixed(2)} s; ${m.lockTimeouts} lock timeout(s), ${m.retries} back-off ${m.retries === 1 ? 'retry' : 'retries'}` : '—'} |`,
      );
    row('baseline, no migration', baseline);
    row('during the migration, alone', alone.load, alone.result);
    row('during the migration, with a long transaction on reservations', blocked.load, blocked.result);
    say();
    const bound = baseline.latency.p99 + LOCK_TIMEOUT_MS;
    for (const [name, phase] of [
      ['alone', alone],
      ['with a long transaction', blocked],
    ] as const) {
      const p99 = phase.load.latency.p99;
      // The slowest request shows how long the migration queued the API behind its lock request.
      const max = phase.load.latency.max;
      const maxBound = baseline.latency.max + LOCK_TIMEOUT_MS;
      say(
        `Target (${name}): API p99 during ≤ baseline p99 + lock_timeout = ${baseline.latency.p99} + ${LOCK_TIMEOUT_MS} = ${bound} ms — measured ${p99} ms (${p99 <= bound ? 'met' : 'not met'}); ` +
          `slowest request ${max} ms vs baseline max + lock_timeout ${maxBound} ms (${max <= maxBound ? 'within' : 'over'}).`,
      );
    }
    say();
    say('What the runner logged with a long transaction (lock-timeout retries, then the outcome):');
    say();
    say('```');
    for (const line of blocked.result.lines.filter((l) => /lock timeout|lock_timeout|applied|ERROR/.test(l))) say(line);
    say('```');
    say();
    for (const [name, m] of [
      ['alone', alone.result],
      ['with a long transaction', blocked.result],
    ] as const) {
      if (m.exitCode !== 0) throw new Error(`the migration (${name}) exited ${m.exitCode}:\n${m.lines.join('\n')}`);
    }
  } finally {
    await api?.shutdown('benchmark finished');
    await client.end();
  }
}
