import type { Pool, QueryResult, QueryResultRow } from 'pg';
import { isConnectionLost } from '../../kernel/connection';
import { DatabaseUnavailableError } from '../errors';

/** A pool or one client: a repository function runs its statements on whichever it is given. */
export interface Db {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** Node's errors for a host it cannot reach or resolve, beyond what isConnectionLost covers. */
const UNREACHABLE = ['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'];

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    isConnectionLost(error) ||
    (e?.code !== undefined && UNREACHABLE.includes(e.code)) ||
    // pg-pool's message when no connection came within connectionTimeoutMillis.
    /timeout exceeded when trying to connect/i.test(e?.message ?? '')
  );
}

/** The pool as the services' Db: a database that cannot be reached becomes DatabaseUnavailableError. */
export function requestDb(pool: Pool): Db {
  return {
    async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
      try {
        return await pool.query<R>(text, values);
      } catch (error) {
        throw isDatabaseUnavailable(error) ? new DatabaseUnavailableError(error) : error;
      }
    },
  };
}
