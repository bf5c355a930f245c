import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { loadConfig } from '../../src/api/config';
import { jsonLogger } from '../../src/api/log';
import { startApi, type RunningApi } from '../../src/api/server';
import { buildApiBundles } from '../../src/build/api-bundle';
import { REPO_ROOT } from '../../src/build/repository';
import { installPgmqStandIn } from '../../src/dev/pgmq';
import { createTestDatabase, type TestDatabase } from './database';
import { copyOfDatabaseFolders, folderArgs, runRunner } from './runner';

// What the bench and `npm run local` share with the tests lives in src/dev/.
export { installPgmqStandIn } from '../../src/dev/pgmq';
export { createUserWithKey, insertReservation } from '../../src/dev/seed';

/** Applies the product's database/ folders with the real runner, as the migration Job does. */
export async function applyProductSchema(db: Pick<TestDatabase, 'url'>): Promise<void> {
  const result = await runRunner(['apply', ...folderArgs(copyOfDatabaseFolders())], { DATABASE_URL: db.url });
  if (result.code !== 0) throw new Error(`gpu-dev-db apply failed (${result.code}): ${result.stderr}`);
}

/** A fresh database as production has it: the product schema and (the stand-in for) PGMQ. */
export async function createApiDatabase(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  await applyProductSchema(db);
  await installPgmqStandIn(await db.connect());
  return db;
}

export interface TestApi {
  readonly url: string;
  /** Every log line the API wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  readonly api: RunningApi;
  stop(): Promise<void>;
}

/** The API in-process on port 0, with its config validated from the environment it would get. */
export async function startTestApi(db: Pick<TestDatabase, 'url'>, env: Record<string, string> = {}): Promise<TestApi> {
  const logs: Record<string, unknown>[] = [];
  const config = loadConfig({ DATABASE_URL: db.url, PORT: '0', ...env });
  const api = await startApi(
    config,
    jsonLogger((line) => logs.push(JSON.parse(line))),
  );
  return {
    url: `http://127.0.0.1:${api.port}`,
    logs,
    api,
    stop: async () => {
      await api.shutdown('test finished');
    },
  };
}

/** Every visible message on a queue, oldest first (read with PGMQ's read, hidden for a minute). */
export async function readMessages(client: Client, queue: string): Promise<Record<string, unknown>[]> {
  const { rows } = await client.query(`SELECT msg_id, message FROM pgmq.read($1, 60, 1000) ORDER BY msg_id`, [queue]);
  return rows.map((r) => r.message);
}

/** fetch with a key; JSON bodies are sent and parsed. */
export async function call(
  url: string,
  key: string | null,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...init.headers };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  }
  const response = await fetch(url, { method: init.method ?? 'GET', headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** `call`, timed: for the tests that bound how quickly an answer comes. */
export async function timedCall(
  url: string,
  key: string | null,
  init: Parameters<typeof call>[2] = {},
): Promise<Awaited<ReturnType<typeof call>> & { ms: number }> {
  const started = performance.now();
  const response = await call(url, key, init);
  return { ...response, ms: performance.now() - started };
}

let bundleDir: string | undefined;

/** The bundled API programs (the image's bytes), built once per test file. */
function apiBundle(name: 'gpu-dev-api.js' | 'gpu-dev-api-admin.js'): string {
  if (!bundleDir) {
    bundleDir = mkdtempSync(join(tmpdir(), 'gpu-dev-api-'));
    buildApiBundles(bundleDir);
  }
  return join(bundleDir, name);
}

export interface ApiProcess {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The port from the "listening" log line; rejects if the process exits first. */
  port(): Promise<number>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Runs a bundled API program as a child process with only the given environment (plus PATH,
 * and NODE_PATH so the bundle finds the npm packages, as the image's node_modules does).
 */
export function spawnApi(env: Record<string, string>, program: 'gpu-dev-api.js' | 'gpu-dev-api-admin.js' = 'gpu-dev-api.js', args: string[] = []): ApiProcess {
  const child = spawn(process.execPath, [apiBundle(program), ...args], {
    env: { PATH: process.env.PATH ?? '', NODE_PATH: join(REPO_ROOT, 'node_modules'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    pid: child.pid as number,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal) => child.kill(signal),
    port: () =>
      new Promise<number>((resolve, reject) => {
        const check = () => {
          const match = /"msg":"listening on port (\d+)"/.exec(out);
          if (match) {
            child.stdout.off('data', check);
            resolve(Number(match[1]));
          }
        };
        child.stdout.on('data', check);
        check();
        void exited.then((code) => reject(new Error(`the API exited (${code}) before listening:\n${err}`)));
      }),
  };
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
