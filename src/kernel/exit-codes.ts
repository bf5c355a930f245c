/**
 * Exit codes of the runner (and of the API's start-up, which uses the same numbers), one per
 * kind of failure so that a Job's status, a CI step or an on-call engineer can tell them apart
 * without reading the log. Documented in README.md.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  cannotConnect: 4,
  migrationLockBusy: 5,
  tableLockTimeout: 6,
  sqlFailure: 7,
  bundleHashMismatch: 8,
  schemaIncomplete: 9,
  staleBundle: 10,
  drift: 11,
  guardFailed: 12,
  sqlPermanent: 13,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure a program expects and explains: the message is for the person reading the log,
 * `exitCode` tells the program how to exit. The runner's MigrationError and the API's ApiError
 * are kinds of it; the kernel throws it as is (bad bundle files, no database configured).
 */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExitError';
  }
}
