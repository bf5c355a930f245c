import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool, types } from 'pg';
import { connectWithRetry } from '../kernel/connection';
import { checkContract, describeContractFailure } from '../kernel/contract';
import { ExitCode } from '../kernel/exit-codes';
import { formatSeconds } from '../kernel/log';
import { createApp } from './app';
import type { ApiConfig } from './config';
import { ApiError } from './errors';
import { rawErrorResponse, type Lifecycle } from './http';
import type { ApiLogger } from './log';
import { ensureQueues } from './repositories/queue';

export interface RunningApi {
  readonly port: number;
  /**
   * Stops accepting connections, lets the requests in flight finish (up to the grace period),
   * then closes the pool. Resolves to the exit code: 0, or 1 if requests had to be cut off.
   * Calling it again returns the same promise.
   */
  shutdown(reason: string): Promise<number>;
}

/**
 * Start-up, in order: connect (bounded retries) → the schema contract and PGMQ in one query
 * (the code `gpu-dev-db verify` runs) → create the queues → listen. Any failure is an
 * ExitError (ApiError, or the kernel's for the connection) whose message says everything that
 * is missing and what to check.
 */
export async function startApi(config: ApiConfig, log: ApiLogger): Promise<RunningApi> {
  const queues = [config.queueName, config.diskQueueName];
  log.info(`start-up: database ${config.database.description}`);
  const client = await connectWithRetry(config.database, config.connectRetry, log);
  try {
    const report = await checkContract(client, { pgmq: true });
    if (!report.ok) throw new ApiError(describeContractFailure(report, config.database.description, config.namespace), ExitCode.schemaIncomplete);
    log.info('start-up: the schema has every table and column the API reads, and PGMQ is available');
    const created = await ensureQueues(client, queues).catch((cause) => {
      throw new ApiError(
        `cannot create the PGMQ queues ${queues.join(', ')} in ${config.database.description}: ${(cause as Error).message}`,
        ExitCode.sqlFailure,
        { cause },
      );
    });
    log.info(created.length > 0 ? `start-up: created PGMQ queues ${created.join(', ')}` : `start-up: PGMQ queues ${queues.join(', ')} exist`);
  } finally {
    await client.end().catch(() => undefined);
  }

  const pool = createPool(config, log);
  const lifecycle: Lifecycle = { shuttingDown: false, inFlight: 0 };
  // The Host header is checked by the app, which answers a missing one in JSON like any error.
  const server = createServer({ requireHostHeader: false }, createApp({ config, pool, log, lifecycle }));
  answerOutsideExpress(server, log);
  // Longer than the load balancer's idle timeout (60s on AWS ALBs): otherwise the server may
  // close a connection the balancer is reusing, and the client gets a 502.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (cause) {
    await pool.end();
    throw new ApiError(`cannot listen on port ${config.port} (PORT): ${(cause as Error).message}`, ExitCode.usage, { cause });
  }
  const port = (server.address() as AddressInfo).port;
  log.info(`listening on port ${port}`, { port });

  async function drain(reason: string): Promise<number> {
    lifecycle.shuttingDown = true;
    log.info(
      `shutdown: ${reason}; accepting no new connections, ${lifecycle.inFlight} request(s) in flight, waiting up to ${formatSeconds(config.shutdownGraceMs)}`,
    );
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A keep-alive connection idle between requests would hold close() open until it times out.
    const idleCloser = setInterval(() => server.closeIdleConnections(), 100);
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), config.shutdownGraceMs);
      }),
    ]);
    clearInterval(idleCloser);
    clearTimeout(timer);
    if (!drained) {
      // Their queries still hold pooled clients, and pool.end() would wait for them; the
      // process exits instead, and PostgreSQL ends the sessions when their sockets close.
      log.warn(
        `shutdown: ${lifecycle.inFlight} request(s) still running after ${formatSeconds(config.shutdownGraceMs)} (API_SHUTDOWN_GRACE_SECONDS); closing their connections`,
      );
      server.closeAllConnections();
      return 1;
    }
    await pool.end();
    log.info('shutdown: done');
    return 0;
  }

  let stopping: Promise<number> | undefined;
  return { port, shutdown: (reason) => (stopping ??= drain(reason)) };
}

/** Node's own answers for what its HTTP parser refuses, as Node's default clientError handler picks them. */
const PARSER_ERRORS: Readonly<Record<string, [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request headers are larger than the server accepts'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'Chunk extensions are larger than the server accepts'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time'],
};

/**
 * Requests that never reach Express get the API's JSON errors too: those Node's parser refuses
 * (bare status lines by default) and CONNECT (dropped unanswered by default). Logged like
 * requests, without the raw bytes: they may carry a key.
 */
function answerOutsideExpress(server: Server, log: ApiLogger): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, detail] = PARSER_ERRORS[error.code ?? ''] ?? [400, 'Malformed HTTP request'];
    log.info('request refused by the HTTP parser', { status, code: error.code });
    // As Node's default handler does: a pipelined request's response may be on its way, and
    // another status line in the middle of it would corrupt it.
    if ((socket as Duplex & { _httpMessage?: { headersSent: boolean } })._httpMessage?.headersSent) socket.destroy();
    else socket.end(rawErrorResponse(status, detail), () => socket.destroy());
  });
  server.on('connect', (_req, socket: Duplex) => {
    log.info('request refused: CONNECT', { status: 405 });
    socket.end(rawErrorResponse(405, 'CONNECT is not supported', ['Allow: GET, HEAD, POST, DELETE']), () => socket.destroy());
  });
}

function createPool(config: ApiConfig, log: ApiLogger): Pool {
  const pool = new Pool({
    ...config.database.config,
    max: config.poolMax,
    connectionTimeoutMillis: config.connectRetry.attemptTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.statementTimeoutMs,
    lock_timeout: config.lockTimeoutMs,
    // DATE as its text (2025-01-31): pg's default makes a Date at local midnight, which
    // serialises to the previous day in any timezone east of UTC.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === types.builtins.DATE ? (value: string) => value : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
    },
  });
  // An idle connection the server drops emits 'error'; unhandled, it would end the process.
  pool.on('error', (error) => log.warn('database: an idle pooled connection failed', { error: error.message }));
  return pool;
}
