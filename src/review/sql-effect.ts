import type { Client } from 'pg';
import { displayName, parseBundle, type Bundle, type ParsedBundle } from '../kernel/bundle';
import { connectionFromEnv, DEFAULT_CONNECT_RETRY, withConnection, type ConnectionTarget, type RetryPolicy } from '../kernel/connection';
import { ExitError } from '../kernel/exit-codes';
import type { Logger } from '../kernel/log';
import {
  applyBundle,
  beginRun,
  Convergence,
  DEFAULT_LOCK_RETRY,
  DEFAULT_LOCK_WAIT,
  describePlan,
  existingTables,
  type LockWaitPolicy,
  type Plan,
  planBundle,
  planExitCode,
  readDeclarations,
  runFile,
  RunObserver,
  type RunTimeouts,
  type SessionBaseline,
  startSession,
  type TableLock,
  withMigrationLock,
} from '../runner';
import { DEFAULT_CONVERGE_MODE } from '../kernel/converge-mode';

/**
 * The SQL half of a review, with the runner library itself: a scratch database is brought to
 * the base bundle by `apply`, then the head bundle is `plan`ned against it (catalog changes,
 * fixture rows, drift; with `observe`, each file's time and the locks the run holds on tables
 * that existed before). A real database (DATABASE_URL) gets the same plan, nothing else: plan
 * takes the migration lock and rolls back, as `gpu-dev-db plan` does.
 *
 * A lock the run already holds does not show again in pg_locks when a later file takes it once
 * more (every deploy's 002_reservations.sql already takes ACCESS EXCLUSIVE on reservations,
 * with DROP TRIGGER), so the plan's snapshots tell which file took a lock first, not which
 * files take it. Which locks each file takes by itself comes from a second pass on the scratch
 * database only: every file in its own transaction, committed one after the other, its locks
 * read before its commit. The base bundle gets the same pass first, so a changed file's locks
 * can be told from those its base version took.
 */

export interface PlanOutcome {
  /** `user@host:port/database`, or the scratch database's description. */
  readonly database: string;
  readonly plan?: Plan;
  /** What the runner's plan would exit with: 0, 10 (stale bundle), 11 (drift), or the failure's code. */
  readonly exitCode: number;
  /** The plan did not finish (an SQL error, a lock that stayed taken): the runner's message. */
  readonly failure?: string;
  /** describePlan's lines, or the failure. */
  readonly text: readonly string[];
}

export interface FileLocks {
  readonly file: string;
  /** Locks the file takes by itself on tables that existed before the deploy. */
  readonly locks: readonly TableLock[];
  /** Existing tables it gives a new relfilenode (rewritten or truncated). */
  readonly rewrites: readonly string[];
  readonly durationMs: number;
  /** False for a no-transaction file: its locks end with each statement and cannot be read after it. */
  readonly observed: boolean;
}

export interface ScratchOutcome extends PlanOutcome {
  /** The base bundle on the empty scratch database. */
  readonly baseApplied: { readonly files: number; readonly durationMs: number };
  /** Each base file's own locks on the base's tables (the base re-run, file by file). */
  readonly baseFileLocks: readonly FileLocks[];
  /** Each head file's own locks on the base's tables. */
  readonly headFileLocks: readonly FileLocks[];
  /** Where the per-file pass stopped, if it did. */
  readonly probeFailure?: string;
}

export interface SqlOptions {
  readonly timeouts: RunTimeouts;
  readonly log: Logger;
}

async function planHead(client: Client, bundle: ParsedBundle, baseline: SessionBaseline, database: string, log: Logger): Promise<PlanOutcome> {
  try {
    const plan = await planBundle(client, {
      bundle,
      declarations: readDeclarations(bundle),
      baseline,
      lockRetry: DEFAULT_LOCK_RETRY,
      converge: DEFAULT_CONVERGE_MODE,
      log,
      observe: true,
    });
    return { database, plan, exitCode: planExitCode(plan, { drift: 'fail', force: false }), text: describePlan(plan, database) };
  } catch (error) {
    if (!(error instanceof ExitError)) throw error;
    return { database, exitCode: error.exitCode, failure: error.message, text: [error.message] };
  }
}

/** The head's files parsed as the runner parses them; a refusal (exit 3) is the head's failure, not the review's. */
async function parsed(bundle: Bundle, database: string): Promise<ParsedBundle | PlanOutcome> {
  try {
    return await parseBundle(bundle);
  } catch (error) {
    if (!(error instanceof ExitError)) throw error;
    return { database, exitCode: error.exitCode, failure: error.message, text: [error.message] };
  }
}

const SCRATCH_CONNECT: RetryPolicy = { ...DEFAULT_CONNECT_RETRY, attempts: 5 };

/** Base applied, head planned and both probed, on `url`: an empty database of the review's own. */
export async function sqlEffectOnScratch(url: string, base: Bundle, head: Bundle, options: SqlOptions): Promise<ScratchOutcome> {
  const database = 'a scratch PostgreSQL 18 at the base bundle';
  const baseParsed = await parseBundle(base).catch((cause) => {
    throw new Error(`the base's SQL files do not parse: ${(cause as Error).message}`, { cause });
  });
  const headParsed = await parsed(head, database);
  const target: ConnectionTarget = { config: { connectionString: url, application_name: 'gpu-dev-review' }, description: database };
  return withConnection(target, SCRATCH_CONNECT, options.log, async (client) => {
    const baseline = await startSession(client, options.timeouts);
    return withMigrationLock(client, DEFAULT_LOCK_WAIT, options.log, async () => {
      let applied: Awaited<ReturnType<typeof applyBundle>>;
      try {
        applied = await applyBundle(client, {
          bundle: baseParsed,
          baseline,
          lockRetry: DEFAULT_LOCK_RETRY,
          force: false,
          appliedBy: 'gpu-dev-review (base)',
          drift: 'fail',
          converge: DEFAULT_CONVERGE_MODE,
          log: options.log,
        });
      } catch (cause) {
        throw new Error(`the base bundle does not apply to an empty database, so there is nothing to plan the head against: ${(cause as Error).message}`, {
          cause,
        });
      }
      const baseApplied = { files: applied.files.length, durationMs: applied.durationMs };
      const existing = new Set((await existingTables(client)).map((t) => t.name));
      const baseProbe = await probeFiles(client, baseParsed, baseline, existing, options.log);
      if (!('files' in headParsed)) return { ...headParsed, baseApplied, baseFileLocks: baseProbe.files, headFileLocks: [] };
      const outcome = await planHead(client, headParsed, baseline, database, options.log);
      if (!outcome.plan) return { ...outcome, baseApplied, baseFileLocks: baseProbe.files, headFileLocks: [] };
      const headProbe = await probeFiles(client, headParsed, baseline, existing, options.log);
      const probeFailure = baseProbe.failure ?? headProbe.failure;
      return { ...outcome, baseApplied, baseFileLocks: baseProbe.files, headFileLocks: headProbe.files, ...(probeFailure ? { probeFailure } : {}) };
    });
  });
}

/** The head planned against a real database: read-only, as `gpu-dev-db plan` (migration lock, one transaction, rolled back). */
export async function planOnDatabase(databaseUrl: string, head: Bundle, options: SqlOptions & { lockWait?: LockWaitPolicy }): Promise<PlanOutcome> {
  const target = connectionFromEnv({ DATABASE_URL: databaseUrl }, 'gpu-dev-review plan');
  const headParsed = await parsed(head, target.description);
  if (!('files' in headParsed)) return headParsed;
  try {
    return await withConnection(target, { ...DEFAULT_CONNECT_RETRY, attempts: 3 }, options.log, async (client) => {
      const baseline = await startSession(client, options.timeouts);
      return withMigrationLock(client, options.lockWait ?? { ...DEFAULT_LOCK_WAIT, timeoutMs: 60_000 }, options.log, () =>
        planHead(client, headParsed, baseline, target.description, options.log),
      );
    });
  } catch (error) {
    if (!(error instanceof ExitError)) throw error;
    return { database: target.description, exitCode: error.exitCode, failure: error.message, text: [error.message] };
  }
}

/**
 * Runs every file in its own transaction and commits it (scratch only), reading its locks and
 * relfilenodes on the `existing` tables before the commit: the locks each file takes by itself.
 */
async function probeFiles(
  client: Client,
  bundle: ParsedBundle,
  baseline: SessionBaseline,
  existing: ReadonlySet<string>,
  log: Logger,
): Promise<{ files: FileLocks[]; failure?: string }> {
  const files: FileLocks[] = [];
  // As the run would, so the locks of what convergence generates count as the file's own.
  const convergence = new Convergence(bundle, DEFAULT_CONVERGE_MODE, log);
  for (const file of bundle.files) {
    const name = displayName(file);
    try {
      if (!file.transactional) {
        const ran = await runFile(client, file, log);
        files.push({ file: name, locks: [], rewrites: [], durationMs: ran.durationMs, observed: false });
        continue;
      }
      await beginRun(client, baseline);
      const observer = new RunObserver();
      await observer.start(client, (table) => existing.has(table.name));
      const ran = await runFile(client, file, log, { convergence });
      await observer.file(client, name, 0, ran.durationMs);
      const [seen] = observer.finish().files;
      await client.query('COMMIT');
      files.push({ file: name, locks: seen.heldLocks, rewrites: seen.rewrites, durationMs: ran.durationMs, observed: true });
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      return { files, failure: `${name}: ${(error as Error).message}` };
    }
  }
  return { files };
}
