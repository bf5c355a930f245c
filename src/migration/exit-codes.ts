/**
 * Exit codes of the runner, one per kind of failure so that a Job's status, a CI step or an
 * on-call engineer can tell them apart without reading the log. Documented in README.md.
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
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the runner expects and explains; `exitCode` tells the CLI how to exit. */
export class MigrationError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}
