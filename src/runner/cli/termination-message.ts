import { writeFileSync } from 'node:fs';
import { ExitCode, type ExitCodeValue } from '../../kernel/exit-codes';
import type { Logger } from '../../kernel/log';

/**
 * The container's termination message: a short summary of how the run ended, written where the
 * kubelet reads it (MIGRATION_TERMINATION_LOG, the Job sets /dev/termination-log), so on-call
 * sees the file, line, SQLSTATE and what to do in `kubectl describe pod` and in
 * `kubectl get pod -o jsonpath='{.status.containerStatuses[0].state.terminated.message}'`,
 * without knowing which log command to run.
 */

/** What to do, by exit code: the last line of every failure's summary. */
export const REMEDIES: Readonly<Record<ExitCodeValue, string>> = {
  [ExitCode.ok]: 'nothing to do',
  [ExitCode.internal]: 'a bug in the runner: keep this pod and its log (kubectl logs) and report it',
  [ExitCode.usage]: 'fix the option or variable named above (the stack sets them: check its settings)',
  [ExitCode.badInput]: 'fix the file named above and deploy again',
  [ExitCode.cannotConnect]: 'check that the database is up and reachable and that the credentials Secret is right',
  [ExitCode.migrationLockBusy]: 'another migration held the lock too long: find it with kubectl get jobs | grep db-migration',
  [ExitCode.tableLockTimeout]: 'a session held a lock on the table named above through every retry: end it, or deploy again when it is done',
  [ExitCode.sqlFailure]: 'it may pass on a retry (the Job retries); if every attempt fails the same way, fix the file',
  [ExitCode.bundleHashMismatch]: 'deploy again from one checkout: the Job, its ConfigMaps and its image must come from one synth and one build',
  [ExitCode.schemaIncomplete]: 'apply the migration (the database-migration Job) before the API',
  [ExitCode.staleBundle]: 'deploy from an up-to-date checkout (or, knowingly, --force)',
  [ExitCode.drift]: 'follow the remedy above (usually a new file that restores the object)',
  [ExitCode.guardFailed]: 'remove from the file what broke the run (named above) and deploy again',
  [ExitCode.sqlPermanent]: 'fix the file: a retry would fail the same way',
};

/** The kubelet keeps at most 4096 bytes of a termination message. */
const LIMIT_BYTES = 4096;

export function terminationSummary(exitCode: ExitCodeValue, exitName: string, message: string): string {
  const head = `exit ${exitCode} (${exitName}): `;
  const tail = `\nwhat to do: ${REMEDIES[exitCode]}\n`;
  const room = LIMIT_BYTES - Buffer.byteLength(head) - Buffer.byteLength(tail);
  let body = message;
  if (Buffer.byteLength(body) > room) {
    while (Buffer.byteLength(`${body}…`) > room) body = body.slice(0, Math.floor(body.length * 0.9));
    body = `${body}…`;
  }
  return `${head}${body}${tail}`;
}

/** Writes the summary when MIGRATION_TERMINATION_LOG names a file; a failure to write is logged, never fatal. */
export function writeTerminationMessage(env: NodeJS.ProcessEnv, log: Logger, summary: string): void {
  const path = env.MIGRATION_TERMINATION_LOG?.trim();
  if (!path) return;
  try {
    writeFileSync(path, summary);
  } catch (error) {
    log.warn(`could not write the termination message to ${path} (MIGRATION_TERMINATION_LOG): ${(error as Error).message}`);
  }
}
