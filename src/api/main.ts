import { ExitCode, ExitError } from '../kernel/exit-codes';
import { loadConfig } from './config';
import { jsonLogger } from './log';
import { startApi } from './server';

/**
 * The API process: `npm run api`, and the image's CMD (bundled). A start-up failure is one
 * plain-text message on stderr, written for the person reading `kubectl logs`, and a non-zero
 * exit code (the runner's codes: 2 configuration, 4 cannot connect, 7 SQL failure, 9 schema
 * or PGMQ missing).
 */
async function main(): Promise<void> {
  const log = jsonLogger();
  try {
    const api = await startApi(loadConfig(process.env), log);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        void api.shutdown(signal).then((code) => process.exit(code));
      });
    }
  } catch (error) {
    const exitCode = error instanceof ExitError ? error.exitCode : ExitCode.internal;
    const message = error instanceof ExitError ? error.message : `unexpected error: ${(error as Error)?.stack ?? String(error)}`;
    process.stderr.write(`gpu-dev API did not start: ${message}\nexit code ${exitCode}\n`);
    process.exitCode = exitCode;
  }
}

void main();
