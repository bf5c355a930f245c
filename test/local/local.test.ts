import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
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

/**
 * Stops what `startLocal` started, by its process group's PID, if it is still running: Ctrl-C
 * first so that it stops its PostgreSQL, SIGKILL if it does not end within 30 s.
 */
async function stopLocal(local: ReturnType<typeof startLocal> | undefined): Promise<void> {
  if (local === undefined || local.child.exitCode !== null || local.child.signalCode !== null) return;
  const pid = local.child.pid as number;
  process.kill(-pid, 'SIGINT');
  const ended = await Promise.race([local.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000).unref())]);
  if (!ended) process.kill(-pid, 'SIGKILL');
}

describe('npm run local', () => {
  describe('when started', () => {
    let localDir: string;
    let local: ReturnType<typeof startLocal> | undefined;
    let out: string;
    let postgresRunning: number;

    beforeAll(async () => {
      localDir = localFolder();
      local = startLocal(localDir, ['--port', '0', '--db-port', '0']);
      const started = local;
      await waitFor('the local stack to print its summary', async () => started.output().includes('stop: Ctrl-C'), 90_000);
      out = started.output();
      postgresRunning = postgresProcessesFor(localDir);
    });
    // Stopped by its PID also when a step failed before the Ctrl-C below.
    afterAll(() => stopLocal(local));

    it('then it says PostgreSQL 18 was created and started', () => {
      expect(out).toContain('PostgreSQL 18: created and started');
    });

    it('then it says it uses the PGMQ stand-in', () => {
      expect(out).toContain('PGMQ: the stand-in');
    });

    it('then it applies the 6 files', () => {
      expect(out).toMatch(/applied 6 files \(\d+ statements\)/);
    });

    it('then it prints the bundle hash and the Job it would be', () => {
      expect(out).toMatch(/bundle {4}[0-9a-f]{64} \(Job db-migration-[0-9a-f]{12}\)/);
    });

    it('then the printed API URL and key answer with the 10 GPU types', async () => {
      const api = /API {7}(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const key = /API key {3}(\S{86})/.exec(out)?.[1];
      const response = await fetch(`${api}/v1/gpu/availability`, { headers: { Authorization: `Bearer ${key}` } });
      expect(response.status).toBe(200);
      expect(Object.keys(((await response.json()) as { availability: object }).availability)).toHaveLength(10);
    });

    it('then its PostgreSQL runs', () => {
      expect(postgresRunning).toBeGreaterThan(0);
    });

    describe('when Ctrl-C is pressed', () => {
      let code: number | null;

      beforeAll(async () => {
        const running = local as ReturnType<typeof startLocal>;
        process.kill(-(running.child.pid as number), 'SIGINT');
        code = await running.exited;
      });

      it('then it exits 0', () => {
        expect(code).toBe(0);
      });

      it('then it says the API and PostgreSQL are down', () => {
        expect((local as ReturnType<typeof startLocal>).output()).toContain('stopped: API and PostgreSQL are down');
      });

      it('then no PostgreSQL of it is left', () => {
        expect(postgresProcessesFor(localDir)).toBe(0);
      });
    });
  });

  describe('when the migration fails', () => {
    let local: ReturnType<typeof startLocal> | undefined;
    let code: number | null;
    let out: string;
    let postgresLeft: number;

    beforeAll(async () => {
      const localDir = localFolder();
      const dirs = copyOfDatabaseFolders();
      writeFileSync(join(dirs.schemaDir, '006_broken.sql'), 'CREATE TABLE IF NOT EXISTS broken (id txet);\n');
      local = startLocal(localDir, ['--port', '0', '--db-port', '0', '--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir]);
      code = await local.exited;
      out = local.output();
      postgresLeft = postgresProcessesFor(localDir);
    });
    afterAll(() => stopLocal(local));

    it("then it exits with the runner's code, 13", () => {
      expect(code).toBe(13);
    });

    it("then it shows the runner's error", () => {
      expect(out).toContain('ERROR: schema/006_broken.sql line 1, column 39: type "txet" does not exist (SQLSTATE 42704)');
    });

    it('then it does not start the API, and says so', () => {
      expect(out).toContain('the migration failed (exit 13, see above): the API was not started');
      expect(out).not.toContain('listening on port');
    });

    it('then the PostgreSQL it started is gone', () => {
      // PostgreSQL ran (the positive control), and is gone.
      expect(out).toContain('PostgreSQL 18: created and started');
      expect(postgresLeft).toBe(0);
    });
  });

  describe('when a file is one the runner refuses (a syntax error)', () => {
    let local: ReturnType<typeof startLocal> | undefined;
    let dirs: ReturnType<typeof copyOfDatabaseFolders>;
    let code: number | null;
    let out: string;
    let postgresLeft: number;

    beforeAll(async () => {
      const localDir = localFolder();
      dirs = copyOfDatabaseFolders();
      writeFileSync(join(dirs.schemaDir, '006_broken.sql'), 'CREATE TABLE IF NOT EXISTS broken (id int,);\n');
      local = startLocal(localDir, ['--port', '0', '--db-port', '0', '--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir]);
      code = await local.exited;
      out = local.output();
      postgresLeft = postgresProcessesFor(localDir);
    });
    afterAll(() => stopLocal(local));

    it('then it exits 3', () => {
      expect(code).toBe(3);
    });

    it("then synth refuses the file in the runner's words", () => {
      expect(out).toContain(`ERROR: ${join(dirs.schemaDir, '006_broken.sql')}:1:43: PostgreSQL's parser refuses this file: syntax error at or near ")"`);
    });

    it('then it does not start the API, and says so', () => {
      expect(out).toContain('the migration failed (exit 3, see above): the API was not started');
      expect(out).not.toContain('listening on port');
    });

    it('then no PostgreSQL of it is left', () => {
      expect(postgresLeft).toBe(0);
    });
  });

  describe('when the database port is taken by another program', () => {
    let taken: Server;
    let port: number;
    let local: ReturnType<typeof startLocal> | undefined;
    let code: number | null;
    let out: string;

    beforeAll(async () => {
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      port = (taken.address() as { port: number }).port;
      local = startLocal(localFolder(), ['--port', '0', '--db-port', String(port)]);
      code = await local.exited;
      out = local.output();
    });
    afterAll(async () => {
      await stopLocal(local);
      await new Promise((resolve) => taken?.close(resolve));
    });

    it('then it exits 1 without starting the API', () => {
      expect(code).toBe(1);
      expect(out).not.toContain('listening on port');
    });

    it("then it says the port is taken and how to choose another, in PostgreSQL's own words", () => {
      expect(out).toContain(`PostgreSQL did not start on port ${port} (the port is taken: choose another with --db-port)`);
      expect(out).toContain('could not bind IPv4 address "127.0.0.1": Address already in use');
    });
  });
});
