import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { buildRunnerBundle } from '../../src/build/runner-bundle';
import { waitFor } from './wait';

export { copyOfDatabaseFolders } from '../../src/dev/database-folders';

let bundlePath: string | undefined;

/** The bundled runner, the very bytes the Job runs, written once per test file. */
function runnerBundlePath(): string {
  if (!bundlePath) {
    bundlePath = join(mkdtempSync(join(tmpdir(), 'gpu-dev-runner-')), 'gpu-dev-db.js');
    writeFileSync(bundlePath, buildRunnerBundle());
  }
  return bundlePath;
}

/** The product bundle's files in the order the runner applies them: schema, then fixtures. */
export const PRODUCT_FILES = [
  'schema/001_users_and_keys.sql',
  'schema/002_reservations.sql',
  'schema/003_disks.sql',
  'schema/004_gpu_types.sql',
  'schema/005_users_and_keys_as_deployed.sql',
  'fixtures/001_initial_gpu_types.sql',
];

export interface RunResult {
  readonly code: number;
  readonly signal?: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `node gpu-dev-db.js ARGS` with only the given environment (plus PATH). */
export function spawnRunner(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): { child: ChildProcess; result: Promise<RunResult> } {
  const child = execFile(process.execPath, [runnerBundlePath(), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  const result = new Promise<RunResult>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, result };
}

export function runRunner(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<RunResult> {
  return spawnRunner(args, env, timeoutMs).result;
}

export function folderArgs(dirs: { schemaDir: string; fixturesDir: string }): string[] {
  return ['--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir];
}

/**
 * A small schema of our own, edited version by version the way engineers edit the real one:
 * `schema/NNN_x.sql` and `fixtures/NNN_x.sql` file names to their SQL.
 */
export function smallSchema(files: Record<string, string>): { schemaDir: string; fixturesDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'gpu-dev-small-'));
  const dirs = { schemaDir: join(root, 'schema'), fixturesDir: join(root, 'fixtures') };
  mkdirSync(dirs.schemaDir);
  mkdirSync(dirs.fixturesDir);
  for (const [name, sql] of Object.entries(files))
    writeFileSync(join(name.startsWith('fixtures/') ? dirs.fixturesDir : dirs.schemaDir, name.replace(/^\w+\//, '')), sql);
  return dirs;
}

/**
 * Starts `gpu-dev-db ARGS`, SIGKILLs it once `observer` sees it run a query containing
 * `fragment`, and waits until the server has ended its session (client_connection_check_interval
 * makes it notice a dead client within seconds): what a kill -9 in the middle of a run leaves.
 */
export async function killRunnerDuring(observer: Client, args: readonly string[], env: Record<string, string>, fragment: string): Promise<RunResult> {
  const { child, result } = spawnRunner(args, env);
  try {
    await waitFor(`the runner to run ${fragment}`, async () => {
      const { rows } = await observer.query(
        `SELECT 1 FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND state = 'active' AND pid <> pg_backend_pid()`,
        [fragment],
      );
      return rows.length === 1;
    });
  } finally {
    // Killed also when the wait gives up: a failing test leaves no runner behind.
    child.kill('SIGKILL');
  }
  const killed = await result;
  await waitFor("the server to end the dead runner's session", async () => {
    const { rows } = await observer.query(`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'gpu-dev-db%'`);
    return rows.length === 0;
  });
  return killed;
}
