import { writeFileSync } from 'node:fs';
import { EXIT_CODES, EXIT_NAMES, type ExitCodeValue } from '../../kernel/exit-codes';
import type { Logger } from '../../kernel/log';

/**
 * The container's termination message: a short summary of how the run ended, written where the
 * kubelet reads it (MIGRATION_TERMINATION_LOG, the Job sets /dev/termination-log), so on-call
 * sees the file, line, SQLSTATE and what to do in `kubectl describe pod` and in
 * `kubectl get pod -o jsonpath='{.status.containerStatuses[0].state.terminated.message}'`,
 * without knowing which log command to run.
 */

/** The kubelet keeps at most 4096 bytes of a termination message. */
const LIMIT_BYTES = 4096;

export function terminationSummary(exitCode: ExitCodeValue, exitName: string, message: string): string {
  const head = `exit ${exitCode} (${exitName}): `;
  const tail = `\nwhat to do: ${EXIT_CODES[EXIT_NAMES[exitCode]].remedy}\n`;
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
