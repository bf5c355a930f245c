import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OwnPostgres {
  url(database?: string): string;
  /** Starts (or restarts, same data folder and port) the server; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown: PostgreSQL ends every session. */
  stop(): Promise<void>;
  /** Stops it if running and deletes its data. */
  remove(): Promise<void>;
}

/**
 * A PostgreSQL of the test's own (pg-instance.mjs in a child process), for fault tests that
 * stop and restart the server, which the shared one must never do. Not started yet.
 */
export async function ownPostgres(prefix: string): Promise<OwnPostgres> {
  const dataRoot = mkdtempSync(join(tmpdir(), `gpu-dev-${prefix}-`));
  // The unprivileged postgres user must reach the data folder.
  chmodSync(dataRoot, 0o755);
  // jest runs TypeScript as CommonJS, which cannot load src/dev/postgres.mjs's freePort.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => resolve(free));
    });
  });
  let server: ChildProcess | undefined;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server || server.exitCode !== null || server.signalCode !== null) return resolve();
      server.once('exit', () => resolve());
      server.kill('SIGTERM');
    });
  return {
    url: (database = 'postgres') => `postgres://postgres:test-only-password@127.0.0.1:${port}/${database}`,
    start: async () => {
      const child = (server = spawn(process.execPath, [join(__dirname, 'pg-instance.mjs'), join(dataRoot, 'data'), String(port)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }));
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk) => String(chunk).includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`pg-instance exited with ${code}`)));
      });
    },
    stop,
    remove: async () => {
      await stop();
      rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}
