import type { ClientBase, Pool, QueryResult, QueryResultRow } from 'pg';
import { isConnectionLost } from '../../kernel/connection';
import { databaseUnavailable, HttpError, lockTimeout } from '../errors';

/** A pool or one client: a repository function runs its statements on whichever it is given. */
export interface Db {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** A Db that can also run several statements as one transaction. */
export interface TransactionalDb extends Db {
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
}

/** Node's errors for a host it cannot reach or resolve, beyond what isConnectionLost covers. */
const UNREACHABLE = ['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'];

function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    isConnectionLost(error) ||
    (e?.code !== undefined && UNREACHABLE.includes(e.code)) ||
    // pg-pool's message when no connection came within connectionTimeoutMillis.
    /timeout exceeded when trying to connect/i.test(e?.message ?? '')
  );
}

/** PostgreSQL's lock_not_available: lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/** Runs `work` on one connection in a transaction: committed if it resolves, rolled back if it throws. */
export async function inTransaction<T>(connection: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  await connection.query('BEGIN');
  try {
    const result = await work(connection);
    await connection.query('COMMIT');
    return result;
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** One client (the admin command's, a script's) as a TransactionalDb. */
export function clientDb(client: ClientBase): TransactionalDb {
  const db: Db = { query: (text, values) => client.query(text, values) };
  return { ...db, transaction: (work) => inTransaction(db, work) };
}

/**
 * The pool as the services' Db: a database that cannot be reached becomes
 * a 503 HttpError (databaseUnavailable), a lock wait that hit lock_timeout another (lockTimeout).
 */
export function requestDb(pool: Pool): TransactionalDb {
  async function translated<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw databaseUnavailable(error);
      if ((error as { code?: string })?.code === LOCK_NOT_AVAILABLE) throw lockTimeout(error);
      throw error;
    }
  }
  return {
    query: (text, values) => translated(() => pool.query(text, values)),
    async transaction(work) {
      const client = await translated(() => pool.connect());
      let lost: Error | undefined;
      try {
        return await inTransaction({ query: (text, values) => translated(() => client.query(text, values)) }, work);
      } catch (error) {
        if (error instanceof HttpError && error.unavailability === 'database unavailable') lost = error;
        throw error;
      } finally {
        // A connection that failed is discarded, not handed to the next request.
        client.release(lost);
      }
    },
  };
}
