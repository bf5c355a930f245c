import type { QueryResult, QueryResultRow } from 'pg';

/** A pool or one client: a repository function runs its statements on whichever it is given. */
export interface Db {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}
