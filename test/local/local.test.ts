import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { copyOfDatabaseFolders } from '../support/runner';
import { waitFor } from '../support/wait';

/** A folder for .local that PostgreSQL's own user can reach when the tests run as root. */
function localFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpu-dev-local-'));
  chmodSync(dir, 0o755);
  return dir;
}

/** `npm run local`'s command in its own process group, as a terminal runs it (Ctrl-C signals the group). */
function startLocal(localDir: string, args: string[]) {
  const child = spawn(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join(REPO_ROOT, 'scripts', 'local.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GPU_DEV_LOCAL_DIR: localDir },
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

function postgresProcessesFor(localDir: string): number {
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return ps.split('\n').filter((line) => line.includes('postgres') && line.includes(localDir)).length;
}

describe('npm run local', () => {
  it('when started, then it prints a working API URL and key, and Ctrl-C stops the API and PostgreSQL', async () => {
    const localDir = localFolder();
    const local = startLocal(localDir, ['--port', '0', '--db-port', '0']);
    await waitFor('the local stack to print its summary', async () => local.output().includes('stop: Ctrl-C'), 90_000);
    const out = local.output();
    expect(out).toContain('PostgreSQL 18: created and started');
    expect(out).toContain('PGMQ: the stand-in');
    expect(out).toMatch(/applied 6 files \(\d+ statements\)/);
    const api = /API {7}(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    const key = /API key {3}(\S{86})/.exec(out)?.[1];
    expect(out).toMatch(/bundle {4}[0-9a-f]{64} \(Job db-migration-[0-9a-f]{12}\)/);
    const response = await fetch(`${api}/v1/gpu/availability`, { headers: { Authorization: `Bearer ${key}` } });
    expect(response.status).toBe(200);
    expect(Object.keys(((await response.json()) as { availability: object }).availability)).toHaveLength(10);
    expect(postgresProcessesFor(localDir)).toBeGreaterThan(0);

    process.kill(-(local.child.pid as number), 'SIGINT');
    expect(await local.exited).toBe(0);
    expect(local.output()).toContain('stopped: API and PostgreSQL are down');
    expect(postgresProcessesFor(localDir)).toBe(0);
  });

  it("when the migration fails, then it shows the runner's error, exits with its code and does not start the API", async () => {
    const localDir = localFolder();
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '006_broken.sql'), 'CREATE TABLE IF NOT EXISTS broken (id txet);\n');
    const local = startLocal(localDir, ['--port', '0', '--db-port', '0', '--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir]);
    expect(await local.exited).toBe(13);
    const out = local.output();
    expect(out).toContain('ERROR: schema/006_broken.sql line 1, column 39: type "txet" does not exist (SQLSTATE 42704)');
    expect(out).toContain('the migration failed (exit 13, see above): the API was not started');
    expect(out).not.toContain('listening on port');
    // PostgreSQL ran (the positive control), and is gone.
    expect(out).toContain('PostgreSQL 18: created and started');
    expect(postgresProcessesFor(localDir)).toBe(0);
  });

  it("when a file is one the runner refuses (a syntax error), then synth refuses it in the runner's words, exit 3, and the API is not started", async () => {
    const localDir = localFolder();
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '006_broken.sql'), 'CREATE TABLE IF NOT EXISTS broken (id int,);\n');
    const local = startLocal(localDir, ['--port', '0', '--db-port', '0', '--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir]);
    expect(await local.exited).toBe(3);
    const out = local.output();
    expect(out).toContain(`ERROR: ${join(dirs.schemaDir, '006_broken.sql')}:1:43: PostgreSQL's parser refuses this file: syntax error at or near ")"`);
    expect(out).toContain('the migration failed (exit 3, see above): the API was not started');
    expect(out).not.toContain('listening on port');
    expect(postgresProcessesFor(localDir)).toBe(0);
  });
});
