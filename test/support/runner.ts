import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunnerBundle } from '../../src/build/runner-bundle';

export { copyOfDatabaseFolders } from '../../src/dev/database-folders';

let bundlePath: string | undefined;

/** The bundled runner, the very bytes the Job runs, written once per test file. */
export function runnerBundlePath(): string {
  if (!bundlePath) {
    bundlePath = join(mkdtempSync(join(tmpdir(), 'gpu-dev-runner-')), 'gpu-dev-db.js');
    writeFileSync(bundlePath, buildRunnerBundle());
  }
  return bundlePath;
}

export interface RunResult {
  readonly code: number;
  readonly signal?: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `node gpu-dev-db.js ARGS` with only the given environment (plus PATH). */
export function spawnRunner(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): { child: ChildProcess; result: Promise<RunResult> } {
  const child = execFile(
    process.execPath,
    [runnerBundlePath(), ...args],
    { env: { PATH: process.env.PATH ?? '', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
  );
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
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(name.startsWith('fixtures/') ? dirs.fixturesDir : dirs.schemaDir, name.replace(/^\w+\//, '')), sql);
  return dirs;
}
