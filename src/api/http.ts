import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { badRequest, HttpError, invalidInput, type ValidationIssue } from './errors';
import type { ApiLogger } from './log';
import { isStorable, unstorableIssues } from './validation';

/** What start-up and shutdown share with the request path and the probes. */
export interface Lifecycle {
  shuttingDown: boolean;
  inFlight: number;
}

/** A client's request id is kept when it is safe to log and echo; otherwise one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (X-Request-Id, echoed back) and a logger carrying it, counts the
 * requests in flight for shutdown, and writes one access line per request: method, path
 * without the query, status, duration, user. Never headers or bodies: they carry API keys.
 */
export function requestContext(log: ApiLogger, lifecycle: Lifecycle): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const started = process.hrtime.bigint();
    res.setHeader('X-Request-Id', requestId);
    res.locals.log = log.child({ request_id: requestId });
    lifecycle.inFlight++;
    res.once('close', () => {
      lifecycle.inFlight--;
      requestLog(res).info('request', {
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.statusCode,
        duration_ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        user: res.locals.caller?.username,
        completed: res.writableFinished,
      });
    });
    next();
  };
}

function requestLog(res: Response): ApiLogger {
  return res.locals.log as ApiLogger;
}

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses, before any route runs a query, a request target the routes cannot take as text:
 * malformed percent-encoding in the path or the query (400: Express would fail to decode a path
 * parameter with a 500, and its query parser keeps such bytes as they are) and, once decoded,
 * characters PostgreSQL cannot store (422). Also the Host header HTTP/1.1 requires (400), which
 * Node would refuse without a JSON body.
 */
export const urlGuard: RequestHandler = (req, _res, next) => {
  if (req.httpVersion === '1.1' && req.headers.host === undefined) throw badRequest('Host header is required');
  const badSegment = req.path.split('/').find((segment) => !decodes(segment));
  if (badSegment !== undefined) throw badRequest(`Malformed percent-encoding in the URL path segment '${badSegment}'`);
  const query = /^[^?#]*\?([^#]*)/.exec(req.url)?.[1] ?? '';
  for (const parameter of query.split('&')) {
    const [name, value = ''] = parameter.replace(/\+/g, ' ').split(/=(.*)/s);
    if (!decodes(name) || !decodes(value)) throw badRequest(`Malformed percent-encoding in the query parameter '${parameter.split('=')[0]}'`);
  }
  const issues: ValidationIssue[] = isStorable(decodeURIComponent(req.path))
    ? []
    : [{ loc: ['path'], msg: 'URL path should not contain NUL characters', type: 'string_unstorable' }];
  issues.push(...unstorableIssues('query', req.query));
  if (issues.length > 0) throw invalidInput(issues);
  next();
};

/** Refuses a JSON body with strings PostgreSQL cannot store, naming each (422), before any route reads it. */
export const bodyGuard: RequestHandler = (req, _res, next) => {
  const issues = unstorableIssues('body', req.body);
  if (issues.length > 0) throw invalidInput(issues);
  next();
};

/**
 * A whole HTTP/1.1 error response with the API's `{"detail": …}` body, for the connections
 * Node answers before Express sees a request; the connection is closed after it.
 */
export function rawErrorResponse(status: number, detail: string, headers: readonly string[] = []): string {
  const body = JSON.stringify({ detail });
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...headers,
    '',
    body,
  ].join('\r\n');
}

export const notFound: RequestHandler = (_req, res) => {
  res.status(404).json({ detail: 'Not Found' });
};

/** Errors from express.json (body-parser): they carry a status and a type. */
interface BodyParserError {
  status?: number;
  type?: string;
  limit?: number;
  expose?: boolean;
  message: string;
}

/**
 * The one place errors become responses, always `{"detail": …}`. Typed errors are the
 * client's doing and say so; anything else is logged with its stack under the request id and
 * answered with a 500 that reveals nothing but that id.
 */
export const errorHandler: ErrorRequestHandler = (error, _req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  const send = (status: number, detail: unknown) => res.status(status).json({ detail });
  if (error instanceof HttpError) {
    // Logged without a stack: it is the database's state (down, or a table held by a migration),
    // not a bug; the client may retry.
    if (error.unavailability) requestLog(res).warn(error.unavailability, { error: (error.cause as Error)?.message });
    for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    return send(error.status, error.detail);
  }
  const parser = error as BodyParserError;
  if (parser.type === 'entity.too.large') return send(413, `Request body is larger than the limit of ${parser.limit} bytes`);
  if (parser.type === 'entity.parse.failed') return send(400, 'Malformed JSON in request body');
  if (parser.expose && parser.status && parser.status >= 400 && parser.status < 500) return send(parser.status, parser.message);
  const requestId = String(res.getHeader('X-Request-Id'));
  requestLog(res).error('unexpected error', { error: (error as Error)?.stack ?? String(error) });
  return send(500, `Internal server error (request id ${requestId})`);
};
