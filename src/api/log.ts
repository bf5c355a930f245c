import type { Logger } from '../kernel/log';

export type LogFields = Record<string, string | number | boolean | null | undefined>;

/**
 * The runner's Logger (so connectWithRetry can log through it), writing one JSON object per
 * line with structured fields. Callers pass ids, names and numbers: never keys, headers or bodies.
 */
export interface ApiLogger extends Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` (e.g. the request id) to every line. */
  child(fields: LogFields): ApiLogger;
}

export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`), base: LogFields = {}): ApiLogger {
  const line =
    (level: string) =>
    (msg: string, fields: LogFields = {}) =>
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }));
  return {
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    child: (fields) => jsonLogger(write, { ...base, ...fields }),
  };
}
