#!/usr/bin/env node
import './v8-flags';
import { readFileSync } from 'node:fs';
import { sha256Hex } from '../../kernel/bundle';
import { EXIT_NAMES, ExitCode, ExitError, type ExitCodeValue } from '../../kernel/exit-codes';
import { lineLogger } from '../../kernel/log';
import { runApply, runPlan, runStatus, runVerify, type CommandContext, type CommandResult } from '../commands';
import { Timings } from '../timings';
import { parseSettings, USAGE } from './settings';
import { terminationSummary, writeTerminationMessage } from './termination-message';

/**
 * The runner's entry point: the Job, `npx gpu-dev-db` and the tests all run this. Returns the
 * exit code instead of exiting, so it can be driven in-process too.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, runnerDigest: string): Promise<number> {
  const timings = new Timings();
  timings.mark('start-up (Node, the runner)');
  let json = argv.includes('--json');
  // With --json, stdout carries only the result document.
  const log = json ? lineLogger((line) => process.stderr.write(`${line}\n`)) : lineLogger();
  try {
    const settings = parseSettings(argv, env);
    if (!settings) {
      process.stdout.write(`${USAGE}\n`);
      return ExitCode.ok;
    }
    json = settings.json;
    const context: CommandContext = { settings, env, log, runnerDigest, timings };
    const run: Record<typeof settings.command, (c: CommandContext) => Promise<CommandResult>> = {
      apply: runApply,
      status: runStatus,
      plan: runPlan,
      verify: runVerify,
    };
    const result = await run[settings.command](context);
    const outcome = typeof result.report.outcome === 'string' ? `${result.report.outcome} ` : '';
    const bundle = typeof result.report.bundleHash === 'string' ? `bundle ${result.report.bundleHash}` : settings.command;
    writeTerminationMessage(
      env,
      log,
      terminationSummary(result.exitCode as ExitCodeValue, EXIT_NAMES[result.exitCode], `${settings.command}: ${outcome}${bundle}`),
    );
    if (settings.timings) log.info(`timings: ${timings.describe()}`);
    const report = settings.timings ? { ...result.report, timings } : result.report;
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return result.exitCode;
  } catch (error) {
    const exitCode = error instanceof ExitError ? error.exitCode : ExitCode.internal;
    const message = error instanceof ExitError ? error.message : `unexpected error: ${(error as Error)?.stack ?? String(error)}`;
    log.error(message);
    log.error(`exit code ${exitCode} (${EXIT_NAMES[exitCode]})`);
    writeTerminationMessage(env, log, terminationSummary(exitCode, EXIT_NAMES[exitCode], message));
    // Where a failed run's time went is worth as much as a good one's (a slow connect, a lock wait).
    if (argv.includes('--timings')) log.info(`timings: ${timings.describe()}`);
    if (json) process.stdout.write(`${JSON.stringify({ error: message, exitCode, exitName: EXIT_NAMES[exitCode] }, null, 2)}\n`);
    return exitCode;
  }
}

/** sha256 of this file: in the Job that is the bundled runner, exactly the ConfigMap's bytes. */
export function ownDigest(): string {
  return sha256Hex(readFileSync(__filename));
}

if (require.main === module) {
  main(process.argv.slice(2), process.env, ownDigest()).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`ERROR: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = ExitCode.internal;
    },
  );
}
