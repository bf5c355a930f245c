import type { Client, DatabaseError, QueryResult } from 'pg';
import { displayName, type ParsedBundle, type ParsedFile } from '../kernel/bundle';
import { isConnectionLost } from '../kernel/connection';
import { ExitCode, ExitError } from '../kernel/exit-codes';
import { formatSeconds, sleep, type Logger } from '../kernel/log';
import { lineAndColumn, type Statement } from '../kernel/sql-split';
import { readDeclarations, type Declarations } from './declarations';
import type { ConvergeMode } from '../kernel/converge-mode';
import { Convergence, GeneratedStatementError, type GeneratedStatement } from './converge';
import { checkDrift, describeDrift, type DriftProblem, type DriftReport } from './drift';
import { MigrationError } from './errors';
import { beginRun, guardSession, guardTransaction, type SessionBaseline } from './guard';
import { appliedThisBundle, ensureHistoryTables, findStaleness, latestRun, readHistory, recordRun, type FileRun } from './history';
import { describeRetry, isPermanentSqlState, LOCK_NOT_AVAILABLE, QUERY_CANCELED } from './sqlstate';
import type { Timings } from './timings';

export interface LockRetryPolicy {
  /** Extra attempts after a statement hit lock_timeout (0 = fail at once). */
  readonly retries: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_LOCK_RETRY: LockRetryPolicy = { retries: 5, initialDelayMs: 1000, maxDelayMs: 15_000 };

export interface ApplyOptions {
  readonly bundle: ParsedBundle;
  readonly lockRetry: LockRetryPolicy;
  /** Apply even when the last run applied this very bundle. */
  readonly force: boolean;
  /** Who ran it, for the history (the Job's name in the cluster). */
  readonly appliedBy: string;
  /** `warn` commits despite schema drift (an emergency setting, logged loudly). */
  readonly drift: DriftMode;
  /** `apply` brings an existing table to what its CREATE TABLE IF NOT EXISTS declares (converge.ts); `refuse` leaves it to drift. */
  readonly converge: ConvergeMode;
  /** What every file starts from (guard.ts). */
  readonly baseline: SessionBaseline;
  /** Marks the run's phases (--timings). @default none kept */
  readonly timings?: Timings;
  readonly log: Logger;
}

export type DriftMode = 'fail' | 'warn';

/** What a run knows once it has decided to apply: the options, the files' declarations and convergence. */
type RunContext = ApplyOptions & { readonly declarations: Declarations; readonly convergence: Convergence };

export interface ApplyResult {
  readonly outcome: 'applied' | 'already-applied';
  readonly bundleHash: string;
  readonly files: readonly FileRun[];
  readonly durationMs: number;
  readonly runId?: number;
  /** Statements convergence generated and ran (converge.ts). */
  readonly converged: readonly GeneratedStatement[];
}

/**
 * Applies the bundle on a connection that holds the migration lock. Consecutive transactional
 * files run in one transaction; a no-transaction file runs alone between them. The history
 * row is written in the last transaction, so "applied" and "recorded" commit together.
 */
export async function applyBundle(client: Client, options: ApplyOptions): Promise<ApplyResult> {
  const { bundle, log, timings } = options;
  timings?.mark('migration lock taken');
  const latestQuery = latestRun(client);
  // Read while the history query is on its way: re-running an applied bundle is the common case.
  const declarations = readDeclarations(bundle);
  const latest = await latestQuery;
  // Another hash may still be this bundle, applied by a Job (whose hash covers its image) with
  // this runner build: only then are that run's files read and compared.
  const alreadyApplied =
    latest?.bundleHash === bundle.hash ||
    (latest !== undefined &&
      bundle.runnerImage === undefined &&
      latest.runnerDigest === bundle.runnerDigest &&
      appliedThisBundle((await readHistory(client, 1))[0], bundle));
  if (latest && alreadyApplied && !options.force) {
    timings?.mark('history read');
    const applied = `bundle ${latest.bundleHash} was already applied by ${latest.appliedBy} at ${latest.appliedAt.toISOString()}`;
    // Applied, but the database may have changed since: the same check, as catalog reads only
    // (no DDL, no lock on a user table), under the migration lock this run holds.
    enforceDrift(await checkDrift(client, bundle, declarations, { readOnly: true }), options, {
      failure: `${applied}, but the database no longer has what its files declare (schema drift); nothing was run or written.`,
      overridden: 'exiting 0 although',
      emergency: 'exits 0 anyway',
    });
    timings?.mark('drift check');
    log.info(`${applied}; nothing to do (use --force to re-apply)`);
    return { outcome: 'already-applied', bundleHash: bundle.hash, files: [], durationMs: 0, converged: [] };
  }
  const stale = await findStaleness(client, bundle);
  if (stale.length > 0) {
    if (!options.force) {
      throw new MigrationError(
        `refusing to apply an outdated bundle ${bundle.hash}: applying it would roll the database back.\n${stale.map((reason) => `  ${reason}`).join('\n')}\n` +
          '  Deploy from an up-to-date checkout. If going back is what you want, run with --force.',
        ExitCode.staleBundle,
      );
    }
    for (const reason of stale) log.warn(`--force: applying an outdated bundle anyway: ${reason}`);
  }
  timings?.mark('history read');
  const run: RunContext = { ...options, declarations, convergence: new Convergence(bundle, options.converge, log) };
  const started = performance.now();
  const results: FileRun[] = [];
  const segments = splitIntoSegments(bundle.files);
  let runId: number | undefined;
  for (const [index, segment] of segments.entries()) {
    const isLast = index === segments.length - 1;
    const record = async (segmentResults: readonly FileRun[]) => {
      timings?.mark('files applied');
      const drift = withRefusals(await checkDrift(client, bundle, run.declarations, { readOnly: false }), run.convergence);
      const driftOverridden = enforceDrift(drift, options, {
        failure: 'the files ran, but the database does not match what they declare (schema drift); the run was rolled back: the database is as it was before.',
        overridden: 'committing although',
        emergency: 'commits anyway',
      });
      timings?.mark('drift check');
      await ensureHistoryTables(client);
      timings?.mark('history tables');
      runId = await recordRun(client, {
        bundle,
        files: [...results, ...segmentResults],
        durationMs: performance.now() - started,
        appliedBy: options.appliedBy,
        forced: options.force,
        driftOverridden,
        converged: run.convergence.generated,
      });
    };
    if (segment.transactional) {
      results.push(...(await runTransaction(client, segment.files, run, { beforeCommit: isLast ? record : undefined, afterEarlierCommits: index > 0 })));
    } else {
      results.push(await runOutsideTransaction(client, segment.files[0], run));
      await guardSession(client, options.baseline, segment.files[0]);
      await failOnInvalidIndexes(client, segment.files[0], run.declarations);
      // The run ended with a no-transaction file, which leaves no open transaction for the drift
      // check and the history row: a record-only transaction (no files, only `record`) carries
      // them. A drift failure rolls back just the record; the files before it have committed.
      if (isLast) await runTransaction(client, [], run, { beforeCommit: record, afterEarlierCommits: true });
    }
  }
  timings?.mark('recorded and committed');
  const durationMs = performance.now() - started;
  const statements = results.reduce((sum, file) => sum + file.statements, 0);
  const converged = run.convergence.generated;
  const generated = converged.length > 0 ? `, ${converged.length} generated by convergence` : '';
  log.info(`applied ${results.length} files (${statements} statements${generated}) in ${Math.round(durationMs)} ms; bundle ${bundle.hash}`);
  return { outcome: 'applied', bundleHash: bundle.hash, files: results, durationMs, runId, converged };
}

/**
 * The drift report with convergence's refusals as errors: a refusal says why better than the
 * missing column or type mismatch the check finds for the same subject, so it replaces it.
 */
export function withRefusals(report: DriftReport, convergence: Convergence): DriftReport {
  if (convergence.refusals.length === 0) return report;
  const refused = new Set(convergence.refusals.map((r) => r.subject));
  const errors: DriftProblem[] = convergence.refusals.map((r) => ({
    kind: 'refused',
    subject: r.subject,
    declaredAt: r.declaredAt,
    changedOutsideMigrations: false,
    message: `convergence refused ${r.message}`,
  }));
  return { errors: [...errors, ...report.errors.filter((p) => !refused.has(p.subject))], warnings: report.warnings };
}

/**
 * Logs the drift warnings and fails on drift errors, unless drift is set to warn; then it logs
 * them loudly and returns true, so the history records that this run's check was overridden.
 */
function enforceDrift(report: DriftReport, options: ApplyOptions, wording: { failure: string; overridden: string; emergency: string }): boolean {
  for (const warning of report.warnings) options.log.warn(`drift: ${warning.message}`);
  if (report.errors.length === 0) return false;
  if (options.drift === 'warn') {
    options.log.warn(`DRIFT CHECK OVERRIDDEN (--drift warn): ${wording.overridden} the database does not match ${report.errors.length} declaration(s):`);
    for (const line of describeDrift({ errors: report.errors, warnings: [] })) options.log.warn(line);
    return true;
  }
  throw new MigrationError(
    `${wording.failure}\n${report.errors.map((p) => `  ${p.message}`).join('\n')}\n` +
      `  In an emergency, --drift warn (MIGRATION_DRIFT=warn) ${wording.emergency} and logs this report.`,
    ExitCode.drift,
  );
}

/**
 * A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind, which IF NOT EXISTS then
 * skips forever: name it and say how to rebuild it.
 */
async function invalidIndexes(client: Client, file: ParsedFile, declarations: Declarations): Promise<string[]> {
  const names = declarations.indexes.filter((index) => index.file === file).map((index) => index.name);
  if (names.length === 0) return [];
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE NOT i.indisvalid AND c.relname = ANY($1::text[]) AND pg_table_is_visible(c.oid) ORDER BY 1`,
    [names],
  );
  return rows.map((row) => row.name);
}

function invalidIndexRemedy(names: readonly string[]): string {
  return (
    `index ${names.join(', ')} is INVALID: a CREATE INDEX CONCURRENTLY failed part-way and left it, and IF NOT EXISTS would skip it on every later run. ` +
    `Remedy: fix the cause (e.g. duplicate rows for a UNIQUE index), then ${names.map((n) => `DROP INDEX CONCURRENTLY IF EXISTS ${n};`).join(' ')} and run again`
  );
}

async function failOnInvalidIndexes(client: Client, file: ParsedFile, declarations: Declarations): Promise<void> {
  const names = await invalidIndexes(client, file, declarations);
  // Every later run skips the index and finds it still INVALID: only the remedy ends that.
  if (names.length > 0) throw new MigrationError(`${displayName(file)}: ${invalidIndexRemedy(names)}`, ExitCode.sqlPermanent);
}

interface Segment {
  readonly transactional: boolean;
  readonly files: ParsedFile[];
}

function splitIntoSegments(files: readonly ParsedFile[]): Segment[] {
  const segments: Segment[] = [];
  for (const file of files) {
    const current = segments[segments.length - 1];
    if (file.transactional && current?.transactional) current.files.push(file);
    else segments.push({ transactional: file.transactional, files: [file] });
  }
  return segments;
}

interface TransactionOptions {
  /** Runs inside the transaction after its files, before COMMIT: the last one checks drift and records the run. */
  readonly beforeCommit?: (segmentResults: readonly FileRun[]) => Promise<void>;
  /** Whether files before this transaction already committed (a no-transaction file came before it): what a rollback leaves. */
  readonly afterEarlierCommits: boolean;
}

/**
 * Runs files in one transaction, each file in one round trip. When a failure comes without a
 * position (a lock timeout, a constraint violation), the transaction is rolled back and run
 * again statement by statement, so the message can still name the statement and its line.
 */
async function runTransaction(
  client: Client,
  files: readonly ParsedFile[],
  options: RunContext,
  { beforeCommit, afterEarlierCommits }: TransactionOptions,
): Promise<FileRun[]> {
  const { convergence } = options;
  // Every attempt (a lock retry, the statement-by-statement replay) starts from what came before this transaction.
  const start = convergence.mark();
  const rolledBack = afterEarlierCommits
    ? 'this transaction was rolled back; files before it, committed earlier, stay applied'
    : 'the run was rolled back: the database is as it was before';
  let statementByStatement = false;
  return withLockRetry(client, options, async () => {
    for (;;) {
      convergence.rewind(start);
      const run = await beginRun(client, options.baseline);
      try {
        const results: FileRun[] = [];
        for (const file of files) {
          results.push(
            statementByStatement
              ? await runFile(client, file, options.log, { convergence })
              : convergence.hasPoints(file)
                ? await runFileConverging(client, file, options.log, convergence)
                : await runFileInOneRoundTrip(client, file, options.log),
          );
          await guardTransaction(client, options.baseline, run, file, rolledBack);
        }
        await beforeCommit?.(results);
        await guardTransaction(client, options.baseline, run, undefined, rolledBack);
        await client.query('COMMIT');
        return results;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        // At most one replay: statement by statement, failures always carry their statement.
        if (error instanceof UnlocatedFailure && !statementByStatement && !isConnectionLost(error.error)) {
          options.log.info(
            `${displayName(error.file)}: failed (${(error.error as Error).message}); rolled back, running the transaction again statement by statement to locate the failure`,
          );
          statementByStatement = true;
          continue;
        }
        throw explain(error, rolledBack, convergence);
      }
    }
  });
}

/** A file sent as one query failed and PostgreSQL said no position: which statement is unknown. */
class UnlocatedFailure extends Error {
  constructor(
    readonly file: ParsedFile,
    readonly error: unknown,
  ) {
    super(String((error as Error)?.message), { cause: error });
  }
}

async function runFileInOneRoundTrip(client: Client, file: ParsedFile, log: Logger): Promise<FileRun> {
  const started = performance.now();
  const rowCounts = await runStatements(client, file, 0, file.statements.length);
  return logged(file, log, performance.now() - started, rowCounts);
}

/**
 * A file whose CREATE TABLE / CREATE INDEX IF NOT EXISTS convergence looks at first: the
 * statements between two of them go in one round trip, as a file without any does.
 */
async function runFileConverging(client: Client, file: ParsedFile, log: Logger, convergence: Convergence): Promise<FileRun> {
  const started = performance.now();
  const rowCounts: (number | null)[] = [];
  const { statements } = file;
  for (let from = 0; from < statements.length; ) {
    await convergeBefore(client, file, from, convergence);
    let to = from + 1;
    while (to < statements.length && !convergence.isPoint(statements[to])) to++;
    rowCounts.push(...(await runStatements(client, file, from, to)));
    from = to;
  }
  return logged(file, log, performance.now() - started, rowCounts);
}

/** Convergence before statement `index` of `file`; its failure is that statement's, with the generated SQL. */
async function convergeBefore(client: Client, file: ParsedFile, index: number, convergence: Convergence | undefined): Promise<void> {
  const statement = file.statements[index];
  if (!convergence?.isPoint(statement)) return;
  try {
    await convergence.before(client, file, statement);
  } catch (error) {
    if (error instanceof GeneratedStatementError) throw new StatementFailure(file, statement, index + 1, error.error, undefined, error.generated);
    throw new StatementFailure(file, statement, index + 1, error);
  }
}

/** Statements `from` to `to` (excluded) of a file in one round trip: their row counts. */
async function runStatements(client: Client, file: ParsedFile, from: number, to: number): Promise<(number | null)[]> {
  const start = from === 0 ? 0 : file.statements[from].offset;
  const sql = file.sql.slice(start, to < file.statements.length ? file.statements[to].offset : file.sql.length);
  try {
    const result = (await client.query(sql)) as QueryResult | QueryResult[];
    return (Array.isArray(result) ? result : [result]).map(rowsChanged);
  } catch (error) {
    const position = Number((error as DatabaseError)?.position);
    if (!(position > 0)) throw new UnlocatedFailure(file, error);
    const offset = start + codePointsToIndex(sql, position - 1);
    // The failing statement is the last one that starts before the error's position.
    const index = Math.max(0, file.statements.filter((statement) => statement.offset <= offset).length - 1);
    throw new StatementFailure(file, file.statements[index], index + 1, error, offset);
  }
}

async function runOutsideTransaction(client: Client, file: ParsedFile, options: RunContext): Promise<FileRun> {
  options.log.info(`${displayName(file)}: runs outside the transaction (first line opts out)`);
  return withLockRetry(client, options, async () => {
    try {
      return await runFile(client, file, options.log);
    } catch (error) {
      const invalid = isConnectionLost(error) ? [] : await invalidIndexes(client, file, options.declarations).catch(() => []);
      const note = invalid.length > 0 ? `; ${invalidIndexRemedy(invalid)}` : '';
      throw explain(error, `the file ran outside a transaction: its statements before the failing one stay applied${note}`);
    }
  });
}

/**
 * Runs a file's statements one by one; convergence looks at each of its points first, and
 * `afterEach` observes the transaction after each statement (plan counts rows).
 */
export async function runFile(
  client: Client,
  file: ParsedFile,
  log: Logger,
  hooks: { convergence?: Convergence; afterEach?: (statement: Statement, index: number) => Promise<void> } = {},
): Promise<FileRun> {
  const { convergence, afterEach } = hooks;
  const started = performance.now();
  const rowCounts: (number | null)[] = [];
  for (const [index, statement] of file.statements.entries()) {
    await convergeBefore(client, file, index, convergence);
    try {
      const result = await client.query(statement.text);
      await afterEach?.(statement, index);
      rowCounts.push(rowsChanged(result));
    } catch (error) {
      const position = Number((error as DatabaseError)?.position);
      const offset = position > 0 ? statement.offset + codePointsToIndex(statement.text, position - 1) : undefined;
      throw new StatementFailure(file, statement, index + 1, error, offset);
    }
  }
  return logged(file, log, performance.now() - started, rowCounts);
}

function rowsChanged(result: QueryResult): number | null {
  return ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(result.command) ? result.rowCount : null;
}

function logged(file: ParsedFile, log: Logger, durationMs: number, rowCounts: (number | null)[]): FileRun {
  log.info(`${displayName(file).padEnd(40)} ${String(file.statements.length).padStart(4)} statements ${String(Math.round(durationMs)).padStart(6)} ms`);
  return { file, statements: file.statements.length, durationMs, rowCounts };
}

/** PostgreSQL counts characters (code points); JavaScript strings count UTF-16 units. */
function codePointsToIndex(text: string, codePoints: number): number {
  return Array.from(text).slice(0, codePoints).join('').length;
}

/** A statement failed; carries where, so the message can name file, line and column. */
class StatementFailure extends Error {
  constructor(
    readonly file: ParsedFile,
    readonly statement: Statement,
    readonly index: number,
    readonly error: unknown,
    /** Character offset in the file that PostgreSQL's error points at, when it gave one. */
    readonly errorOffset?: number,
    /** The statement convergence generated for this one that failed, when it was one of those. */
    readonly generated?: GeneratedStatement,
  ) {
    super(String((error as Error)?.message), { cause: error });
  }

  get sqlState(): string | undefined {
    return (this.error as DatabaseError)?.code;
  }
}

/**
 * Runs `attempt` (a whole transaction, or a no-transaction file) again with back-off while a
 * statement in it hits lock_timeout. `attempt` fails with what `explain` made of the failure:
 * an ExitError whose `cause` is the StatementFailure, so the retry reads the cause to see the
 * SQLSTATE (55P03) and the statement, and rethrows anything else as it came.
 */
export async function withLockRetry<T>(client: Client, options: Pick<ApplyOptions, 'lockRetry' | 'log'>, attempt: () => Promise<T>): Promise<T> {
  const { retries, initialDelayMs, maxDelayMs } = options.lockRetry;
  let delay = initialDelayMs;
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      const failure = (error as Error).cause;
      if (!(failure instanceof StatementFailure) || failure.sqlState !== LOCK_NOT_AVAILABLE) throw error;
      if (retry >= retries) {
        const blockers = await describeBlockers(client, failure.statement.text).catch(() => []);
        const found = blockers.length > 0 ? blockers : ['no session holds a lock on a table this statement names any more; run again'];
        throw new MigrationError(`${(error as Error).message}\n${found.map((b) => `  ${b}`).join('\n')}`, ExitCode.tableLockTimeout, { cause: failure });
      }
      options.log.warn(
        `${displayName(failure.file)} line ${failure.statement.line}: lock_timeout reached waiting for a table lock (retry ${retry + 1}/${retries} in ${formatSeconds(delay)}): ${excerpt(failure.statement.text)}`,
      );
      await sleep(delay);
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}

/**
 * Turns a failure into the message on-call reads: file, line, column, SQLSTATE, message, detail,
 * hint, and whether a retry can help (exit 13 when it cannot, sqlstate.ts).
 */
export function explain(error: unknown, rolledBack: string, convergence?: Convergence): ExitError {
  if (error instanceof ExitError) return error;
  const located = error instanceof StatementFailure ? error : undefined;
  const inFile = error instanceof UnlocatedFailure ? error : undefined;
  const pgError = (located?.error ?? inFile?.error ?? error) as Partial<DatabaseError>;
  const where = located ? locate(located) : inFile ? displayName(inFile.file) : undefined;
  if (isConnectionLost(pgError)) {
    return new MigrationError(
      `${where ? `${where}: ` : ''}lost the database connection (${pgError.message}); ${rolledBack}. Run again once the database is back`,
      ExitCode.cannotConnect,
      { cause: error },
    );
  }
  if (!located) {
    return new MigrationError(`${where ? `${where}: ` : ''}unexpected failure: ${pgError.message ?? String(error)}`, ExitCode.internal, { cause: error });
  }
  const lines = [`${where}: ${pgError.message ?? String(pgError)}${pgError.code ? ` (SQLSTATE ${pgError.code})` : ''}`];
  lines.push(`  statement ${located.index} of ${located.file.statements.length}, from line ${located.statement.line}: ${excerpt(located.statement.text)}`);
  const generated = located.generated;
  if (generated) {
    lines.push(
      `  convergence generated, for ${generated.subject} declared at ${generated.declaredAt} (${generated.lock}; ${generated.cost}): ${generated.sql}`,
    );
  }
  const skipped = convergence?.explainMissingColumn(pgError);
  for (const line of skipped ?? []) lines.push(`  ${line}`);
  if (pgError.detail) lines.push(`  detail: ${pgError.detail}`);
  if (pgError.hint) lines.push(`  hint: ${pgError.hint}`);
  if (pgError.where) lines.push(`  context: ${pgError.where.split('\n')[0]}`);
  let exitCode: (typeof ExitCode)[keyof typeof ExitCode] = skipped
    ? ExitCode.drift
    : isPermanentSqlState(pgError.code)
      ? ExitCode.sqlPermanent
      : ExitCode.sqlFailure;
  if (pgError.code === LOCK_NOT_AVAILABLE) {
    exitCode = ExitCode.tableLockTimeout;
    lines.push(
      '  the table stayed locked by another session through every lock_timeout retry (--lock-timeout, --lock-retries); see the blocking sessions below',
    );
  } else if (pgError.code === QUERY_CANCELED) {
    lines.push('  the statement ran longer than statement_timeout (--statement-timeout)');
  }
  lines.push(skipped ? '  schema drift: a retry would fail the same way until the column exists' : `  ${describeRetry(pgError.code)}`);
  lines.push(`  ${rolledBack}`);
  return new MigrationError(lines.join('\n'), exitCode, { cause: error });
}

function locate(failure: StatementFailure): string {
  const { line, column } = lineAndColumn(failure.file.sql, failure.errorOffset ?? failure.statement.offset);
  return `${displayName(failure.file)} line ${line}, column ${column}`;
}

function excerpt(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

/** Sessions holding locks on tables the statement names: who to talk to when a lock never came. */
async function describeBlockers(client: Client, statementText: string): Promise<string[]> {
  const { rows } = await client.query<{ relname: string; pid: number; application_name: string; state: string; seconds: number | null; mode: string }>(
    `SELECT DISTINCT c.relname, l.pid, a.application_name, a.state, l.mode,
            extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::int AS seconds
       FROM pg_locks l
       JOIN pg_class c ON c.oid = l.relation
       JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.granted AND l.pid <> pg_backend_pid() AND c.relkind IN ('r', 'p')
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  const words = new Set(statementText.toLowerCase().match(/[a-z_][a-z0-9_$]*/g) ?? []);
  return rows
    .filter((row) => words.has(row.relname.toLowerCase()))
    .map(
      (row) =>
        `table ${row.relname} is locked (${row.mode}) by pid ${row.pid}${row.application_name ? ` (${row.application_name})` : ''}, ${row.state ?? 'unknown state'} for ${row.seconds ?? '?'}s; ` +
        `inspect it with SELECT pid, state, query FROM pg_stat_activity WHERE pid = ${row.pid};`,
    );
}
