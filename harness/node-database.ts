import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { installPgmqStandIn } from '../src/dev/pgmq';
import type { RealNode } from './node';
import { alive } from './node-host';

/**
 * The database real pods use: an embedded PostgreSQL 18 (src/dev/postgres.mjs) on the host,
 * listening on the node's address (what the pods reach) and 127.0.0.1 (the test), with a
 * password; scram-sha-256 for the pods' subnet and the host, nothing else. Its data is in the
 * node's run folder, so a dead run's server is stopped by the next run's sweep (its command line
 * names that folder). For the stack's external-database mode: GPU_DEV_DATABASE_HOST = `host`, and
 * `secret` is the credentials Secret's data.
 */

export interface NodeDatabase {
  /** The node's address: GPU_DEV_DATABASE_HOST. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The postmaster's pid (stop() ends it, by pid if need be). */
  readonly pid: number;
  /** POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB: the data of the stack's credentials Secret. */
  readonly secret: Readonly<Record<'POSTGRES_USER' | 'POSTGRES_PASSWORD' | 'POSTGRES_DB', string>>;
  /** As the test reaches it: over 127.0.0.1. */
  url(database?: string): string;
  /** Another database, owned by the user (the stack's Secret can name it): for cases that need their own. */
  createDatabase(name: string, options?: { readonly pgmq?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export interface NodeDatabaseOptions {
  readonly user?: string;
  readonly database?: string;
  /** Install the PGMQ stand-in (src/dev/pgmq.ts) in the database, as the API's start-up check wants PGMQ (default true). */
  readonly pgmq?: boolean;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export async function startNodeDatabase(node: RealNode, options: NodeDatabaseOptions = {}): Promise<NodeDatabase> {
  const user = options.user ?? 'gpudev';
  const database = options.database ?? 'gpudev';
  const superPassword = randomBytes(12).toString('hex');
  const password = randomBytes(12).toString('hex');
  const folder = join(node.runDir, 'postgres');
  mkdirSync(folder, { recursive: true });
  chmodSync(folder, 0o755);
  const hba = join(folder, 'pg_hba.conf');
  writeFileSync(
    hba,
    [
      '# The cluster suite node database (harness/node-database.ts): TCP with a password, from the host and the pods only.',
      'host all all 127.0.0.1/32 scram-sha-256',
      `host all all ${node.address}/32 scram-sha-256`,
      `host all all ${node.podSubnet} scram-sha-256`,
      '',
    ].join('\n'),
  );
  chmodSync(hba, 0o644);
  const port = await freePort();
  const started = Date.now();
  const serverOptions = {
    dataDir: join(folder, 'data'),
    port,
    password: superPassword,
    persistent: false,
    // Addresses, never a name; no unix socket (nothing in /tmp or /var/run).
    flags: ['-c', `listen_addresses=127.0.0.1,${node.address}`, '-c', `hba_file=${hba}`, '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    startTimeoutMs: 60_000,
  };
  const launcher = spawn(process.execPath, [join(__dirname, 'node-postgres.mjs'), JSON.stringify(serverOptions)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  launcher.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    // startPostgres bounds the server's start (60 s); this bounds initdb and the launcher too.
    const timer = setTimeout(() => {
      launcher.kill('SIGKILL');
      reject(new Error(`the database was not ready within 120 s: ${stderr.slice(-2000)}`));
    }, 120_000);
    launcher.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    launcher.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the database launcher exited ${code} before PostgreSQL was ready: ${stderr.slice(-2000)}`));
    });
  });
  const pidFile = join(serverOptions.dataDir, 'postmaster.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
  node.log(`database: PostgreSQL pid ${pid} on ${node.address}:${port} and 127.0.0.1:${port} in ${Date.now() - started} ms`);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (launcher.exitCode === null && launcher.signalCode === null) {
        const exited = new Promise<void>((resolve) => launcher.once('exit', () => resolve()));
        launcher.kill('SIGTERM');
        // startPostgres' own stop is bounded (30 s, then SIGKILL); this bounds the launcher too.
        const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 40_000).unref());
        if ((await Promise.race([exited, timer])) === 'late') {
          node.log(`database: launcher ${launcher.pid} did not exit 40 s after SIGTERM: SIGKILL`);
          launcher.kill('SIGKILL');
        }
      }
      if (pid > 0 && alive(pid)) {
        node.log(`database: PostgreSQL pid ${pid} still running after its launcher stopped: SIGKILL`);
        process.kill(pid, 'SIGKILL');
      }
      node.log(`database: stopped`);
    })());
  /** One statement as the superuser. */
  const asSuperuser = async (sql: string) => {
    const admin = new Client({ connectionString: `postgres://postgres:${superPassword}@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  };
  /** A database the user owns; with pgmq, the stand-in installed as that user (its schema and functions are then the user's). */
  const createDatabase = async (name: string, { pgmq = false }: { readonly pgmq?: boolean } = {}) => {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a database name for a test: ${name}`);
    await asSuperuser(`CREATE DATABASE ${name} OWNER ${user}`);
    if (!pgmq) return;
    const client = new Client({ connectionString: `postgres://${user}:${password}@127.0.0.1:${port}/${name}` });
    await client.connect();
    try {
      await installPgmqStandIn(client);
    } finally {
      await client.end();
    }
  };
  try {
    await asSuperuser(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    await createDatabase(database, { pgmq: options.pgmq ?? true });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host: node.address,
    port,
    user,
    password,
    database,
    pid,
    secret: { POSTGRES_USER: user, POSTGRES_PASSWORD: password, POSTGRES_DB: database },
    url: (db = database) => `postgres://${user}:${password}@127.0.0.1:${port}/${db}`,
    createDatabase,
    stop,
  };
}
