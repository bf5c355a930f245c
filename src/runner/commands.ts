import { parseBundle, readBundle, startSqlParser, type ParsedBundle } from '../kernel/bundle';
import { connectionFromEnv, withConnection, type ConnectionTarget, type RetryPolicy } from '../kernel/connection';
import { checkContract, describeContractFailure } from '../kernel/contract';
import type { ConvergeMode } from '../kernel/converge-mode';
import { ExitCode } from '../kernel/exit-codes';
import type { Logger } from '../kernel/log';
import { applyBundle, type DriftMode, type LockRetryPolicy } from './apply';
import { readDeclarations } from './declarations';
import { checkDrift } from './drift';
import { MigrationError } from './errors';
import { startSession, type RunTimeouts } from './guard';
import { appliedThisBundle, compareWithRun, readHistory } from './history';
import { withMigrationLock, type LockWaitPolicy } from './migration-lock';
import { describePlan, planBundle, planExitCode } from './plan';
import type { Timings } from './timings';

export const COMMANDS = ['apply', 'status', 'plan', 'verify'] as const;
export type Command = (typeof COMMANDS)[number];

/** Everything a run is told, validated once from flags and environment (cli/settings.ts; flags win). */
export interface RunnerSettings {
  readonly command: Command;
  readonly schemaDir: string;
  readonly fixturesDir: string;
  readonly expectedHash?: string;
  /** The runner build the Job names (sha256 of its bytes): another build refuses to run. */
  readonly expectedRunnerDigest?: string;
  /** The image the Job runs this runner on: part of the bundle hash. */
  readonly runnerImage?: string;
  readonly timeouts: RunTimeouts;
  readonly lockRetry: LockRetryPolicy;
  readonly lockWait: LockWaitPolicy;
  readonly connectRetry: RetryPolicy;
  readonly force: boolean;
  readonly json: boolean;
  /** Log where the run's time went (timings.ts). */
  readonly timings: boolean;
  readonly appliedBy: string;
  readonly skipPgmq: boolean;
  readonly drift: DriftMode;
  /** Bring existing tables to what their CREATE TABLE declares (converge.ts), or leave that to drift. */
  readonly converge: ConvergeMode;
  /** Let COPY to or from a server file or program, and pg_read_file and its kin, through (kernel/sql-rules.ts). */
  readonly allowServerFiles: boolean;
}

export interface CommandContext {
  readonly settings: RunnerSettings;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** sha256 of the runner's own code, part of the bundle hash. */
  readonly runnerDigest: string;
  /** Marks of the run's phases, started with the process. */
  readonly timings: Timings;
}

export interface CommandResult {
  readonly exitCode: number;
  /** What --json prints. */
  readonly report: Record<string, unknown>;
}

const APPLICATION_NAME = 'gpu-dev-db';

/** Discover, validate, hash and parse the files, before anything connects. */
async function loadCheckedBundle(context: CommandContext): Promise<ParsedBundle> {
  const { settings, log, timings } = context;
  if (settings.expectedRunnerDigest && settings.expectedRunnerDigest !== context.runnerDigest) {
    throw new MigrationError(
      `this runner is build ${context.runnerDigest.slice(0, 12)} (sha256 ${context.runnerDigest}), but the Job expects build ${settings.expectedRunnerDigest.slice(0, 12)} ` +
        `(--expected-runner / MIGRATION_RUNNER_DIGEST)${settings.runnerImage ? `: the image ${settings.runnerImage} was not built from the checkout that synthesized the stack` : ''}. ` +
        'Nothing was applied. Build and push the image from that checkout (docker build), then deploy again; or deploy with GPU_DEV_RUNNER_SOURCE=configmap.',
      ExitCode.bundleHashMismatch,
    );
  }
  const bundle = readBundle({
    schemaDir: settings.schemaDir,
    fixturesDir: settings.fixturesDir,
    runnerDigest: context.runnerDigest,
    runnerImage: settings.runnerImage,
  });
  timings.mark('files read and hashed');
  if (settings.expectedHash && settings.expectedHash !== bundle.hash) {
    throw new MigrationError(
      `the files on disk hash to ${bundle.hash}, but this run expects ${settings.expectedHash} (--expected-hash / EXPECTED_BUNDLE_HASH). ` +
        'The mounted ConfigMaps do not match the Job that mounts them: nothing was applied. Re-run the deploy so the Job and its ConfigMaps come from one synth.',
      ExitCode.bundleHashMismatch,
    );
  }
  await startSqlParser();
  timings.mark('SQL parser started');
  const parsed = await parseBundle(bundle, { allowServerFiles: settings.allowServerFiles });
  timings.mark('files parsed and checked');
  log.info(`bundle ${bundle.hash}: ${bundle.files.length} files from ${settings.schemaDir} and ${settings.fixturesDir}`);
  return parsed;
}

function target(context: CommandContext): ConnectionTarget {
  const suffix = context.settings.appliedBy ? ` ${context.settings.appliedBy}` : '';
  return connectionFromEnv(context.env, `${APPLICATION_NAME}${suffix}`.slice(0, 63));
}

export async function runApply(context: CommandContext): Promise<CommandResult> {
  const { settings, log, timings } = context;
  const bundle = await loadCheckedBundle(context);
  const database = target(context);
  log.info(`apply: database ${database.description}`);
  return withConnection(database, settings.connectRetry, log, async (client) => {
    timings.mark('connected');
    const baseline = await startSession(client, settings.timeouts);
    timings.mark('session set up');
    const result = await withMigrationLock(client, settings.lockWait, log, () =>
      applyBundle(client, {
        bundle,
        baseline,
        timings,
        drift: settings.drift,
        converge: settings.converge,
        lockRetry: settings.lockRetry,
        force: settings.force,
        appliedBy: settings.appliedBy,
        log,
      }),
    );
    return {
      exitCode: ExitCode.ok,
      report: {
        command: 'apply',
        database: database.description,
        outcome: result.outcome,
        bundleHash: result.bundleHash,
        runId: result.runId ?? null,
        converged: result.converged,
        durationMs: Math.round(result.durationMs),
        files: result.files.map((f) => ({ file: `${f.file.folder}/${f.file.name}`, statements: f.statements, durationMs: Math.round(f.durationMs) })),
      },
    };
  });
}

export async function runStatus(context: CommandContext): Promise<CommandResult> {
  const { settings, log } = context;
  const bundle = await loadCheckedBundle(context);
  const database = target(context);
  return withConnection(database, settings.connectRetry, log, async (client) => {
    const history = await readHistory(client, 5);
    const latest = history[0];
    const comparison = compareWithRun(bundle, latest);
    const applied = appliedThisBundle(latest, bundle);
    const report = latest ? await checkDrift(client, bundle, readDeclarations(bundle), { readOnly: true }) : undefined;
    // Until this bundle is applied, what it declares beyond the applied files is what apply would add, not drift.
    const drift = (report?.errors ?? []).filter((problem) => applied || problem.changedOutsideMigrations);
    log.info(`database ${database.description}`);
    if (!latest) {
      log.info('no migration has been applied to this database (no schema_migrations history)');
    } else {
      log.info(
        `last applied bundle ${latest.bundleHash} by ${latest.appliedBy} at ${latest.appliedAt.toISOString()} in ${latest.durationMs} ms${latest.forced ? ' (forced)' : ''}`,
      );
      for (const generated of latest.converged)
        log.info(`  convergence generated: ${generated.declaredAt}: ${generated.sql} [${generated.lock}; ${generated.cost}]`);
      log.info(
        !applied
          ? `the files on disk are bundle ${bundle.hash}: not applied yet`
          : drift.length > 0
            ? 'the files on disk are that bundle, but the database no longer has what they declare (schema drift, exit 11):'
            : 'the files on disk are that bundle: up to date',
      );
    }
    for (const problem of drift) log.error(`drift: ${problem.message}`);
    for (const file of comparison.files) log.info(`  ${file.state.padEnd(9)} ${file.name}`);
    for (const name of comparison.missingOnDisk) log.info(`  ${'gone'.padEnd(9)} ${name} (applied before, no longer on disk)`);
    if (history.length > 1) {
      log.info('earlier runs:');
      for (const run of history.slice(1)) log.info(`  ${run.appliedAt.toISOString()} ${run.bundleHash} by ${run.appliedBy}${run.forced ? ' (forced)' : ''}`);
    }
    return {
      exitCode: drift.length > 0 && settings.drift === 'fail' ? ExitCode.drift : ExitCode.ok,
      report: {
        command: 'status',
        database: database.description,
        bundleHash: bundle.hash,
        upToDate: applied && drift.length === 0,
        lastRun: latest ?? null,
        files: comparison.files,
        missingOnDisk: comparison.missingOnDisk,
        drift,
        history,
      },
    };
  });
}

export async function runPlan(context: CommandContext): Promise<CommandResult> {
  const { settings, log } = context;
  const bundle = await loadCheckedBundle(context);
  const database = target(context);
  const declarations = readDeclarations(bundle);
  return withConnection(database, settings.connectRetry, log, async (client) => {
    const baseline = await startSession(client, settings.timeouts);
    // Plan takes the same lock as apply: its DDL must not interleave with a real run.
    const plan = await withMigrationLock(client, settings.lockWait, log, () =>
      planBundle(client, { bundle, declarations, baseline, lockRetry: settings.lockRetry, converge: settings.converge, log }),
    );
    for (const line of describePlan(plan, database.description)) log.info(line);
    return { exitCode: planExitCode(plan, settings), report: { command: 'plan', database: database.description, ...plan } };
  });
}

export async function runVerify(context: CommandContext): Promise<CommandResult> {
  const { settings, log } = context;
  const database = target(context);
  return withConnection(database, settings.connectRetry, log, async (client) => {
    const report = await checkContract(client, { pgmq: !settings.skipPgmq });
    if (report.ok) log.info(`verify: ${database.description} has every table, column${settings.skipPgmq ? '' : ' and PGMQ function'} the API needs`);
    else log.error(describeContractFailure(report, database.description));
    return {
      exitCode: report.ok ? ExitCode.ok : ExitCode.schemaIncomplete,
      report: { command: 'verify', database: database.description, ...report },
    };
  });
}
