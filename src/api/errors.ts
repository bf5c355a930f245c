import { ExitError } from '../kernel/exit-codes';

/** One problem with the input, FastAPI's shape: where, what, and a machine-readable kind. */
export interface ValidationIssue {
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly type: string;
}

/** A 503 the client may retry: the database's state, not a bug (logged as this, without a stack). */
export type Unavailability = 'database unavailable' | 'lock timeout';

/**
 * The one error a request can end in on purpose: its HTTP status and the `detail` the client
 * gets (the message, or the validation issues), with the headers that go with it. The error
 * middleware (http.ts errorHandler) maps it to the response; anything else is a 500 whose
 * details stay in the log. Services make them with the helpers below.
 */
export class HttpError extends Error {
  readonly detail: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly unavailability?: Unavailability;

  constructor(
    readonly status: number,
    message: string,
    options: {
      readonly detail?: unknown;
      readonly headers?: Readonly<Record<string, string>>;
      readonly cause?: unknown;
      readonly unavailability?: Unavailability;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'HttpError';
    this.detail = options.detail ?? message;
    this.headers = options.headers ?? {};
    if (options.unavailability) this.unavailability = options.unavailability;
  }
}

/** A request that cannot be read as meant (a malformed URL, a missing Host header). */
export const badRequest = (message: string) => new HttpError(400, message);
export const unauthorized = (message: string) => new HttpError(401, message, { headers: { 'WWW-Authenticate': 'Bearer' } });
export const forbidden = (message: string) => new HttpError(403, message);
export const notFound = (message: string) => new HttpError(404, message);
export const conflict = (message: string) => new HttpError(409, message);
export const invalidInput = (issues: readonly ValidationIssue[]) =>
  new HttpError(422, issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '), { detail: issues });

const RETRY_AFTER = { 'Retry-After': '5' };

/**
 * The database cannot be reached (refused, dropped, restarting, or no pooled connection within
 * the pool's timeout): a 503 the client may retry, not a 500 for a bug.
 */
export const databaseUnavailable = (cause: unknown) =>
  new HttpError(503, 'Database unavailable, try again shortly', { cause, headers: RETRY_AFTER, unavailability: 'database unavailable' });

/**
 * A statement waited longer than lock_timeout for a lock, in practice one a migration holds on a
 * table while it changes the schema: a 503 the client may retry, instead of waiting until
 * statement_timeout ends in a 500.
 */
export const lockTimeout = (cause: unknown) =>
  new HttpError(503, 'A schema change holds a lock on a table this request needs; try again shortly', {
    cause,
    headers: RETRY_AFTER,
    unavailability: 'lock timeout',
  });

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
