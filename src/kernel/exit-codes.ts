/**
 * Exit codes of the runner (and of the API's start-up, which uses the same numbers), one per
 * kind of failure so that a Job's status, a CI step or an on-call engineer can tell them apart
 * without reading the log. EXIT_CODES is the one table of what each means: the CLI's usage,
 * docs/runner.md's table (npm run docs), the termination message's remedy and the Job's
 * pod_failure_policy (the permanent ones) are all written from it.
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

export type ExitCodeName = keyof typeof ExitCode;
export type ExitCodeValue = (typeof ExitCode)[ExitCodeName];

export interface ExitCodeRule {
  /** What it means, as the usage text and the docs say it. */
  readonly meaning: string;
  /** It fails the same way on every attempt: the Job fails at once rather than retry it. */
  readonly permanent: boolean;
  /** What to do: the last line of the termination message, and the docs. */
  readonly remedy: string;
}

export const EXIT_CODES: Readonly<Record<ExitCodeName, ExitCodeRule>> = {
  ok: { meaning: 'done (or nothing to do)', permanent: false, remedy: 'nothing to do' },
  internal: { meaning: 'internal error', permanent: false, remedy: 'a bug in the runner: keep this pod and its log (kubectl logs) and report it' },
  usage: { meaning: 'usage or configuration', permanent: true, remedy: 'fix the option or variable named above (the stack sets them: check its settings)' },
  badInput: { meaning: 'bad input files', permanent: true, remedy: 'fix the file named above and deploy again' },
  cannotConnect: {
    meaning: 'cannot connect (or the connection was lost)',
    permanent: false,
    remedy: 'check that the database is up and reachable and that the credentials Secret is right',
  },
  migrationLockBusy: {
    meaning: 'another runner held the migration lock too long',
    permanent: false,
    remedy: 'another migration held the lock too long: find it with kubectl get jobs | grep db-migration',
  },
  tableLockTimeout: {
    meaning: 'a table stayed locked through every lock-timeout retry',
    permanent: false,
    remedy: 'a session held a lock on the table named above through every retry: end it, or deploy again when it is done',
  },
  sqlFailure: {
    meaning: 'SQL failure that may succeed on a retry (a deadlock, a serialization failure, an unclassified SQLSTATE)',
    permanent: false,
    remedy: 'it may pass on a retry (the Job retries); if every attempt fails the same way, fix the file',
  },
  bundleHashMismatch: {
    meaning: 'the files do not match the expected bundle hash, or the runner is not the build the Job expects',
    permanent: true,
    remedy: 'deploy again from one checkout: the Job, its ConfigMaps and its image must come from one synth and one build',
  },
  schemaIncomplete: {
    meaning: 'verify: the schema lacks tables, columns or PGMQ',
    permanent: false,
    remedy: 'apply the migration (the database-migration Job) before the API',
  },
  staleBundle: {
    meaning: 'stale bundle (an older checkout than what the database has)',
    permanent: true,
    remedy: 'deploy from an up-to-date checkout (or, knowingly, --force)',
  },
  drift: { meaning: 'schema drift', permanent: true, remedy: 'follow the remedy above (usually a new file that restores the object)' },
  guardFailed: {
    meaning: "a file broke the run's guard (left the transaction, released the migration lock, changed the role or the runner's settings)",
    permanent: true,
    remedy: 'remove from the file what broke the run (named above) and deploy again',
  },
  sqlPermanent: {
    meaning: 'SQL failure a retry cannot fix (a syntax error, an undefined or duplicate object, bad data, a constraint violation)',
    permanent: true,
    remedy: 'fix the file: a retry would fail the same way',
  },
};

/** Each exit code's name, by its number. */
export const EXIT_NAMES = Object.fromEntries(Object.entries(ExitCode).map(([name, code]) => [code, name])) as Readonly<Record<number, ExitCodeName>>;

/** The codes the Job must not retry (its pod_failure_policy). */
export const PERMANENT_EXIT_CODES: readonly ExitCodeValue[] = (Object.keys(ExitCode) as ExitCodeName[])
  .filter((name) => EXIT_CODES[name].permanent)
  .map((name) => ExitCode[name]);

/** The table as docs/runner.md shows it (npm run docs). */
export function exitCodesTable(): string {
  return [
    '| code | name | meaning | retried by the Job | what to do |',
    '| --- | --- | --- | --- | --- |',
    ...(Object.keys(ExitCode) as ExitCodeName[]).map((name) => {
      const rule = EXIT_CODES[name];
      const retried = name === 'ok' ? '' : rule.permanent ? 'no: fails at once' : 'yes';
      return `| ${ExitCode[name]} | \`${name}\` | ${rule.meaning.replace(/\|/g, '\\|')} | ${retried} | ${rule.remedy.replace(/\|/g, '\\|')} |`;
    }),
  ].join('\n');
}

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
