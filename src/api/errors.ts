import { ExitError } from '../kernel/exit-codes';

/**
 * Errors services throw for outcomes the client caused, and for a database that cannot be
 * reached. The error middleware maps each class to its HTTP status; anything else is a 500
 * whose details stay in the log.
 */
export class UnauthorizedError extends Error {}
export class ForbiddenError extends Error {}
export class NotFoundError extends Error {}
export class ConflictError extends Error {}
/** A request that cannot be read as meant (a malformed URL, a missing Host header). */
export class BadRequestError extends Error {}

/** One problem with the input, FastAPI's shape: where, what, and a machine-readable kind. */
export interface ValidationIssue {
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly type: string;
}

export class ValidationError extends Error {
  constructor(readonly issues: readonly ValidationIssue[]) {
    super(issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '));
  }
}

/**
 * The database cannot be reached (refused, dropped, restarting, or no pooled connection within
 * the pool's timeout): a 503 the client may retry, not a 500 for a bug.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super('Database unavailable, try again shortly', { cause });
  }
}

/**
 * A statement waited longer than lock_timeout for a lock, in practice one a migration holds on a
 * table while it changes the schema: a 503 the client may retry, instead of waiting until
 * statement_timeout ends in a 500.
 */
export class LockTimeoutError extends Error {
  constructor(cause: unknown) {
    super('A schema change holds a lock on a table this request needs; try again shortly', { cause });
  }
}

/**
 * A start-up or admin-command failure the API expects and explains (configuration, schema,
 * queues, port): one message for `kubectl logs` and the exit code, with the runner's numbers.
 */
export class ApiError extends ExitError {
  constructor(...args: ConstructorParameters<typeof ExitError>) {
    super(...args);
    this.name = 'ApiError';
  }
}
