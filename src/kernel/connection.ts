import { Client, type ClientConfig } from 'pg';
import { ExitCode, ExitError } from './exit-codes';
import { formatSeconds, sleep, type Logger } from './log';

/** How to reach PostgreSQL, from the environment the platform already has. */
export interface ConnectionTarget {
  readonly config: ClientConfig;
  /** `user@host:port/database`, never the password: safe for logs and errors. */
  readonly description: string;
}

export interface RetryPolicy {
  /** Connection attempts before giving up. */
  readonly attempts: number;
  /** Delay after the first failed attempt; doubles up to `maxDelayMs`. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Time one attempt may take. */
  readonly attemptTimeoutMs: number;
}

export const DEFAULT_CONNECT_RETRY: RetryPolicy = {
  attempts: 15,
  initialDelayMs: 500,
  maxDelayMs: 5000,
  attemptTimeoutMs: 5000,
};

/** The variables that carry credentials: the keys of the platform's `postgres-credentials` secret. */
export const CREDENTIAL_VARIABLES = ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB'] as const;

export const DEFAULT_POSTGRES_HOST = 'postgres-primary';
export const DEFAULT_POSTGRES_PORT = 5432;

/**
 * `DATABASE_URL`, or `POSTGRES_USER` / `POSTGRES_PASSWORD` / `POSTGRES_DB` (the keys of the
 * `postgres-credentials` secret) plus `POSTGRES_HOST` (default postgres-primary) and
 * `POSTGRES_PORT` (default 5432).
 */
export function connectionFromEnv(env: NodeJS.ProcessEnv, applicationName: string): ConnectionTarget {
  const url = env.DATABASE_URL?.trim();
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      // The value may hold a password: name the variable, never print it.
      throw new ExitError('DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)', ExitCode.usage, { cause });
    }
    if (!['postgres:', 'postgresql:'].includes(parsed.protocol)) {
      throw new ExitError(`DATABASE_URL must start with postgres:// or postgresql://, not ${parsed.protocol}//`, ExitCode.usage);
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username);
    return {
      config: { connectionString: url, application_name: applicationName },
      description: `${decodeURIComponent(parsed.username) || '(default user)'}@${parsed.hostname || 'localhost'}:${parsed.port || '5432'}/${database}`,
    };
  }
  const missing = CREDENTIAL_VARIABLES.filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new ExitError(
      `no database configured: set DATABASE_URL, or POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB (missing: ${missing.join(', ')}) with POSTGRES_HOST and POSTGRES_PORT`,
      ExitCode.usage,
    );
  }
  const host = env.POSTGRES_HOST?.trim() || DEFAULT_POSTGRES_HOST;
  const portText = env.POSTGRES_PORT?.trim() || String(DEFAULT_POSTGRES_PORT);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ExitError(`POSTGRES_PORT must be a port number (1-65535), got "${portText}"`, ExitCode.usage);
  }
  return {
    config: {
      host,
      port,
      user: env.POSTGRES_USER,
      password: env.POSTGRES_PASSWORD,
      database: env.POSTGRES_DB,
      application_name: applicationName,
    },
    description: `${env.POSTGRES_USER}@${host}:${port}/${env.POSTGRES_DB}`,
  };
}

/** Connects, retrying a bounded number of times with back-off and logging every failed attempt. */
export async function connectWithRetry(target: ConnectionTarget, policy: RetryPolicy, log: Logger): Promise<Client> {
  let delay = policy.initialDelayMs;
  let lastError: unknown;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    const client = new Client({ ...target.config, connectionTimeoutMillis: policy.attemptTimeoutMs });
    // pg emits 'error' on a connection the server closes between queries; without a listener
    // that kills the process, while the failing query already reports the problem.
    client.on('error', () => undefined);
    try {
      await client.connect();
      if (attempt > 1) log.info(`connect: connected to ${target.description} on attempt ${attempt}`);
      return client;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      if (attempt === policy.attempts) break;
      log.warn(
        `connect: ${target.description} not reachable (attempt ${attempt}/${policy.attempts}): ${describeConnectError(error)}; next attempt in ${formatSeconds(delay)}`,
      );
      await sleep(delay);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
  throw new ExitError(
    `cannot connect to ${target.description} after ${policy.attempts} attempts: ${describeConnectError(lastError)}. ` +
      'Check that the database is running and that DATABASE_URL or POSTGRES_HOST/POSTGRES_PORT and the postgres-credentials secret are right.',
    ExitCode.cannotConnect,
    { cause: lastError },
  );
}

export async function withConnection<T>(target: ConnectionTarget, policy: RetryPolicy, log: Logger, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectWithRetry(target, policy, log);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function describeConnectError(error: unknown): string {
  const e = error as { code?: string; message?: string } | undefined;
  if (!e) return 'unknown error';
  return e.code && !e.message?.includes(e.code) ? `${e.code} ${e.message}` : String(e.message);
}

/** True for errors that mean the connection itself is gone, not that a statement failed. */
export function isConnectionLost(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e?.code && /^(08|57P0[123])/.test(e.code)) return true;
  if (e?.code && ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(e.code)) return true;
  return /Connection terminated|connection is closed|Client has encountered a connection error/i.test(e?.message ?? '');
}
