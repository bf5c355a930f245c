import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunnerBundle } from '../build/runner-bundle';
import { REPO_ROOT } from '../build/repository';
import { displayName, type Bundle, type BundleFile } from '../kernel/bundle';
import { Duration } from '../kernel/duration';
import type { Logger } from '../kernel/log';
import { covers, DEFAULT_TIMEOUTS, LOCK_MODES, type LockMode, type RunTimeouts, type TableLock } from '../runner';
import { apiEnvOf, changesFromPlanJson, describeDeployEffect, diffStacks, migrationOf, type DeployEffect, type ObjectChange } from './stack-diff';
import { apiImpact, isHot, type TableUse } from './api-tables';
import { ReviewInputError } from './errors';
import type { BaseCommit } from './git';
import { lintSql, type LintResult } from './lint';
import { prepareSide, type PreparedSide, type SideSpec } from './sides';
import { planOnDatabase, sqlEffectOnScratch, type FileLocks, type PlanOutcome, type ScratchOutcome } from './sql-effect';
import { DEFAULT_API_LOCK_TIMEOUT_SECONDS } from '../kernel/contract';

/**
 * One review of a schema change, base against head: what the deploy does to the cluster, what
 * the SQL does to a database at the base, which locks it takes and what the API would feel,
 * squawk's findings on the changed files, and a verdict with an exit code for CI. The entry
 * point (cli/main.ts) resolves git refs and starts the scratch PostgreSQL; this takes two
 * project folders and a way to get an empty database, so tests drive it directly.
 */

export interface ScratchDatabase {
  /** An empty database the review may change at will. */
  readonly url: string;
  /** Drops it, stops its server: whatever ends what `scratch` started. */
  release(): Promise<void>;
}

export interface ReviewOptions {
  readonly base: SideSpec;
  readonly head: SideSpec;
  /** Where the base came from, when it came from git. */
  readonly baseCommit?: BaseCommit;
  /** An empty database, asked for only when the bundle changed. */
  readonly scratch: () => Promise<ScratchDatabase>;
  /** A real database to plan the head against too (read-only plan). */
  readonly databaseUrl?: string;
  /** `tofu show -json PLANFILE` output: the deploy effect as OpenTofu plans it. */
  readonly tofuPlan?: string;
  /** @default the head's .squawk.toml, else this checkout's */
  readonly squawkConfig?: string;
  /** Progress lines (the report itself is the return value). */
  readonly log: Logger;
  /** The runner bundle for sides synthesized here. @default built from this checkout, once per review */
  readonly runnerBytes?: Buffer;
}

type VerdictLevel = 'nothing' | 'pass' | 'warn' | 'fail';

interface Verdict {
  readonly level: VerdictLevel;
  /** 1 when the change must not merge as it is (fail), else 0. */
  readonly exitCode: 0 | 1;
  /** One line, for the top of the comment and the CI log. */
  readonly line: string;
  readonly reasons: readonly { readonly level: 'fail' | 'warn'; readonly text: string }[];
}

interface SideSummary {
  readonly label: string;
  readonly jobName?: string;
  readonly bundleHash?: string;
  readonly synthesizedBy: PreparedSide['synthesizedBy'];
  readonly refused?: string;
  readonly notes: readonly string[];
}

interface FileChange {
  /** `schema/006_x.sql` */
  readonly file: string;
  readonly change: 'added' | 'changed' | 'removed';
}

interface LockReport {
  readonly table: string;
  readonly mode: LockMode;
  /** Taken by a file this change adds, or stronger than its base version took. */
  readonly new: boolean;
  readonly hot: boolean;
  /** API routes that wait while it is held. */
  readonly blocked: readonly TableUse[];
  readonly otherWriters?: string;
}

export interface FileRisk {
  readonly file: string;
  readonly change: 'added' | 'changed' | 'unchanged';
  /** The locks the file takes by itself on tables that existed before the deploy. */
  readonly locks: readonly LockReport[];
  readonly rewrites: readonly string[];
  /** Its time inside the plan's transaction on the scratch database. */
  readonly durationMs?: number;
  /** False when its locks could not be read (a no-transaction file). */
  readonly observed: boolean;
}

interface TableHold {
  readonly table: string;
  /** The strongest lock the run holds on it at its end. */
  readonly mode: LockMode;
  /** The file that took that lock first: from then until the commit the table stays locked. */
  readonly since: string;
  /** On the scratch database: from that file's start to the end of the run. */
  readonly heldMs: number;
  readonly hot: boolean;
  readonly blocked: readonly TableUse[];
  readonly otherWriters?: string;
}

export interface Review {
  readonly marker: typeof REVIEW_MARKER;
  readonly verdict: Verdict;
  readonly base: SideSummary;
  readonly head: SideSummary;
  readonly baseCommit?: BaseCommit;
  readonly deploy: {
    /** What the table of objects comes from. */
    readonly source: 'cdk.tf.json' | 'tofu plan';
    readonly changes: readonly ObjectChange[];
    readonly effect?: DeployEffect;
    readonly synthChanges: readonly ObjectChange[];
    readonly tofuPlan?: { readonly file: string; readonly drifted: readonly string[]; readonly disagreements: readonly string[] };
  };
  readonly sql: {
    readonly files: readonly FileChange[];
    /** Why nothing was planned (the bundle did not change, the head did not synthesize). */
    readonly skipped?: string;
    readonly scratch?: ScratchOutcome;
    readonly database?: PlanOutcome;
  };
  readonly locks: {
    readonly files: readonly FileRisk[];
    readonly tables: readonly TableHold[];
    readonly sentences: readonly string[];
    readonly migrationLockTimeoutMs: number;
    readonly apiLockTimeoutSeconds: number;
  };
  readonly lint: { readonly result?: LintResult; readonly error?: string };
  readonly cannotKnow: readonly string[];
}

/** The hidden line a CI step finds its earlier comment by. */
export const REVIEW_MARKER = '<!-- gpu-dev-review -->';

export async function reviewChange(options: ReviewOptions): Promise<Review> {
  const { log } = options;
  const work = mkdtempSync(join(tmpdir(), 'gpu-dev-review-'));
  let runner: Buffer | undefined;
  const runnerBytes = () => (runner ??= options.runnerBytes ?? buildRunnerBundle());
  try {
    const tofu = options.tofuPlan === undefined ? undefined : readPlanFile(options.tofuPlan);
    log.info(`review: synthesizing ${options.base.label}`);
    const base = await prepareSide(options.base, join(work, 'base'), runnerBytes);
    if (base.refused) throw new Error(`${base.label} does not synthesize, so there is nothing to compare with: ${base.refused}`);
    log.info(`review: synthesizing ${options.head.label}`);
    const head = await prepareSide(options.head, join(work, 'head'), runnerBytes);

    const synthChanges = head.stack && base.stack ? diffStacks(base.stack, head.stack) : [];
    const effect = head.stack && base.stack ? describeDeployEffect(base.stack, head.stack, synthChanges) : undefined;
    const tofuPlan = tofu ? compareWithPlan(tofu, synthChanges) : undefined;
    const deploy = {
      source: tofu ? ('tofu plan' as const) : ('cdk.tf.json' as const),
      changes: tofu?.changes ?? synthChanges,
      synthChanges,
      ...(effect ? { effect } : {}),
      ...(tofuPlan ? { tofuPlan } : {}),
    };

    const files = head.bundle && base.bundle ? fileChanges(base.bundle, head.bundle) : [];
    const timeouts = head.stack ? runnerTimeouts(head.stack) : DEFAULT_TIMEOUTS;
    const apiLockTimeoutSeconds = head.stack
      ? Number(apiEnvOf(head.stack).DB_LOCK_TIMEOUT_SECONDS ?? DEFAULT_API_LOCK_TIMEOUT_SECONDS)
      : DEFAULT_API_LOCK_TIMEOUT_SECONDS;

    let sql: Review['sql'] = { files };
    if (head.refused) sql = { files, skipped: `${head.label} does not synthesize (see the verdict), so its SQL was not planned` };
    else if (base.bundle?.hash === head.bundle?.hash)
      sql = { files, skipped: 'the bundle is unchanged: the Job keeps its name and does not run, so there is no SQL to plan' };
    else {
      log.info('review: starting the scratch database');
      const scratchDb = await options.scratch();
      try {
        log.info('review: applying the base bundle and planning the head on the scratch database');
        const scratch = await sqlEffectOnScratch(scratchDb.url, base.bundle as Bundle, head.bundle as Bundle, { timeouts, log: quiet(log) });
        sql = { files, scratch };
      } finally {
        await scratchDb.release();
      }
      if (options.databaseUrl) {
        log.info('review: planning the head against DATABASE_URL (read-only: rolled back)');
        sql = { ...sql, database: await planOnDatabase(options.databaseUrl, head.bundle as Bundle, { timeouts, log: quiet(log) }) };
      }
    }

    const locks = lockReport(sql, files, timeouts.lockTimeoutMs, apiLockTimeoutSeconds);
    let lint: Review['lint'] = {};
    const toLint = head.bundle ? head.bundle.files.filter((f) => files.some((c) => c.change !== 'removed' && c.file === displayName(f))) : [];
    try {
      const config =
        options.squawkConfig ??
        [join(head.root, '.squawk.toml'), join(REPO_ROOT, '.squawk.toml')].find((path) => existsSync(path)) ??
        join(REPO_ROOT, '.squawk.toml');
      lint = {
        result: lintSql(
          toLint.map((f) => f.path),
          { cwd: head.root, config },
        ),
      };
    } catch (error) {
      lint = { error: (error as Error).message };
    }

    const summary = (side: PreparedSide): SideSummary => ({
      label: side.label,
      ...(side.jobName ? { jobName: side.jobName } : {}),
      ...(side.bundleHash ? { bundleHash: side.bundleHash } : {}),
      synthesizedBy: side.synthesizedBy,
      ...(side.refused ? { refused: side.refused } : {}),
      notes: side.notes,
    });
    const partial = { base: summary(base), head: summary(head), ...(options.baseCommit ? { baseCommit: options.baseCommit } : {}), deploy, sql, locks, lint };
    return { marker: REVIEW_MARKER, verdict: verdictOf(partial), ...partial, cannotKnow: cannotKnow(partial, options) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The runner's progress lines are not the review's: warnings and errors still pass. */
function quiet(log: Logger): Logger {
  return { info: () => undefined, warn: log.warn, error: log.error };
}

function readPlanFile(file: string): { changes: ObjectChange[]; drifted: string[]; file: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ReviewInputError(`--tofu-plan ${file} cannot be read: ${(cause as Error).message}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ReviewInputError(
      `--tofu-plan ${file} is not JSON (give the output of tofu show -json PLANFILE, not the binary plan): ${(cause as Error).message}`,
      { cause },
    );
  }
  try {
    return { ...changesFromPlanJson(json, file), file };
  } catch (cause) {
    throw new ReviewInputError((cause as Error).message, { cause });
  }
}

/** Where the real plan and the two synthesized stacks disagree, address by address. */
function compareWithPlan(tofu: { changes: ObjectChange[]; drifted: string[]; file: string }, synth: readonly ObjectChange[]) {
  const disagreements: string[] = [];
  for (const address of new Set([...tofu.changes.map((c) => c.address), ...synth.map((c) => c.address)])) {
    const planned = tofu.changes.find((c) => c.address === address)?.action;
    const compared = synth.find((c) => c.address === address)?.action;
    if (planned !== compared) {
      disagreements.push(
        `${address}: tofu plans ${planned ?? 'no change'}, the two synthesized stacks differ by ${compared ?? 'nothing'}${planned && !compared ? ' (the cluster or the state is not what the base synthesizes: changed outside Terraform, or the base is not what is deployed)' : ''}`,
      );
    }
  }
  return { file: tofu.file, drifted: tofu.drifted, disagreements };
}

function fileChanges(base: Bundle, head: Bundle): FileChange[] {
  const byName = (files: readonly BundleFile[]) => new Map(files.map((f) => [displayName(f), f]));
  const then = byName(base.files);
  const now = byName(head.files);
  const changes: FileChange[] = [];
  for (const [name, file] of now) {
    const old = then.get(name);
    if (!old) changes.push({ file: name, change: 'added' });
    else if (!old.bytes.equals(file.bytes)) changes.push({ file: name, change: 'changed' });
  }
  for (const name of then.keys()) if (!now.has(name)) changes.push({ file: name, change: 'removed' });
  return changes;
}

/** The runner's timeouts as the head's Job sets them (MIGRATION_LOCK_TIMEOUT, MIGRATION_STATEMENT_TIMEOUT), else its defaults. */
function runnerTimeouts(stack: NonNullable<PreparedSide['stack']>): RunTimeouts {
  const env = migrationOf(stack).env;
  const ms = (name: string, fallback: number) => (env[name] ? Duration.parse(env[name]).milliseconds : fallback);
  return {
    ...DEFAULT_TIMEOUTS,
    lockTimeoutMs: ms('MIGRATION_LOCK_TIMEOUT', DEFAULT_TIMEOUTS.lockTimeoutMs),
    statementTimeoutMs: ms('MIGRATION_STATEMENT_TIMEOUT', DEFAULT_TIMEOUTS.statementTimeoutMs),
  };
}

/** The strongest lock held on each table, in PostgreSQL's own order of the modes (ACCESS EXCLUSIVE last). */
function strongestPerTable(locks: readonly TableLock[]): Map<string, LockMode> {
  const out = new Map<string, LockMode>();
  for (const lock of locks) {
    const held = out.get(lock.table);
    if (!held || LOCK_MODES.indexOf(lock.mode) > LOCK_MODES.indexOf(held)) out.set(lock.table, lock.mode);
  }
  return out;
}

/** Whether a lock makes anyone outside the migration wait: the API, or the processors that write the table. */
function blocksTraffic(lock: Pick<LockReport, 'blocked' | 'otherWriters'>): boolean {
  return lock.blocked.length > 0 || lock.otherWriters !== undefined;
}

function lockReport(sql: Review['sql'], files: readonly FileChange[], migrationLockTimeoutMs: number, apiLockTimeoutSeconds: number): Review['locks'] {
  const scratch = sql.scratch;
  const observation = scratch?.plan?.observation;
  const baseLocks = new Map((scratch?.baseFileLocks ?? []).map((f) => [f.file, f]));
  const durations = new Map((observation?.files ?? []).map((f) => [f.file, f]));
  const risks: FileRisk[] = (scratch?.headFileLocks ?? []).map((probe: FileLocks) => {
    const change = files.find((f) => f.file === probe.file)?.change;
    const status = change === 'added' ? 'added' : change === 'changed' ? 'changed' : 'unchanged';
    const before = baseLocks.get(probe.file)?.locks ?? [];
    const strongest = strongestPerTable(probe.locks);
    const locks = [...strongest].map(([table, mode]) => {
      const baseMode = strongestPerTable(before).get(table);
      const isNew = status === 'added' || (status === 'changed' && !(baseMode && covers(baseMode, mode)));
      return { table, mode, new: isNew, hot: isHot(table), ...apiImpact(table, mode) };
    });
    const inPlan = durations.get(probe.file);
    return {
      file: probe.file,
      change: status,
      locks,
      rewrites: inPlan?.rewrites ?? probe.rewrites,
      ...(inPlan ? { durationMs: inPlan.durationMs } : {}),
      observed: probe.observed,
    };
  });

  const tables: TableHold[] = [];
  if (observation && observation.files.length > 0) {
    const last = observation.files[observation.files.length - 1];
    for (const [table, mode] of strongestPerTable(last.heldLocks)) {
      const first = observation.files.find((f) => f.heldLocks.some((l) => l.table === table && covers(l.mode, mode)));
      if (!first) continue;
      tables.push({ table, mode, since: first.file, heldMs: observation.transactionMs - first.startedMs, hot: isHot(table), ...apiImpact(table, mode) });
    }
  }

  const sentences: string[] = [];
  const migrationWait = `${Duration.ofMilliseconds(migrationLockTimeoutMs)}`;
  const waiting = (hold: TableHold) =>
    [
      hold.blocked.length > 0 ? `${hold.blocked.map((b) => b.route).join('; ')} wait for it` : '',
      hold.otherWriters
        ? `${hold.blocked.length > 0 ? 'so does ' : ''}${hold.otherWriters}${hold.blocked.length > 0 ? '' : ' waits for it (the API only reads the table, and does not)'}`
        : '',
    ]
      .filter(Boolean)
      .join('; ');
  const blocking = tables.filter((t) => t.blocked.length > 0 || t.otherWriters);
  const standing: TableHold[] = [];
  for (const hold of blocking) {
    const takers = risks.filter((r) => r.change !== 'unchanged' && r.locks.some((l) => l.table === hold.table && covers(l.mode, hold.mode))).map((r) => r.file);
    if (takers.length === 0) {
      standing.push(hold);
      continue;
    }
    const who = waiting(hold);
    const hint =
      hold.heldMs > apiLockTimeoutSeconds * 1000
        ? `that is already longer than the API's DB_LOCK_TIMEOUT_SECONDS (${apiLockTimeoutSeconds} s) on the scratch database, so requests that need the table answer 503 (Retry-After: 5) until the commit`
        : `each request waits at most DB_LOCK_TIMEOUT_SECONDS (${apiLockTimeoutSeconds} s) and then answers 503 with Retry-After: 5; shorter than that, they are only delayed`;
    sentences.push(
      `${hold.mode} on ${hold.table}, taken by this change's ${takers.join(', ')}: the run holds it from ${hold.since} until its commit (${Math.round(hold.heldMs)} ms on the scratch database). ` +
        `${who.charAt(0).toUpperCase()}${who.slice(1)}: ${hint}.`,
    );
  }
  if (standing.length > 0) {
    const longest = Math.max(...standing.map((h) => h.heldMs));
    sentences.push(
      `${blocking.length > standing.length ? 'Besides, every' : 'Every'} deploy of this bundle holds ${standing.map((h) => `${h.mode} on ${h.table} (from ${h.since})`).join(', ')} until its commit, ` +
        `at most ${Math.round(longest)} ms on the scratch database: the requests that wait (below) answer 503 with Retry-After: 5 only if it lasts longer than DB_LOCK_TIMEOUT_SECONDS (${apiLockTimeoutSeconds} s).`,
    );
  }
  if (tables.some((t) => t.blocked.length > 0)) {
    sentences.push(
      `The migration itself waits at most its lock_timeout (${migrationWait}) for each lock, behind whatever production transactions hold, and retries with back-off; ` +
        `requests that arrive while it waits queue behind it, for at most those ${migrationWait}, below the API's ${apiLockTimeoutSeconds} s, so the wait delays them without failing them.`,
    );
  }
  return { files: risks, tables, sentences, migrationLockTimeoutMs, apiLockTimeoutSeconds };
}

type Partial = Omit<Review, 'marker' | 'verdict' | 'cannotKnow'>;

function verdictOf(review: Partial): Verdict {
  const reasons: { level: 'fail' | 'warn'; text: string }[] = [];
  const fail = (text: string) => reasons.push({ level: 'fail', text });
  const warn = (text: string) => reasons.push({ level: 'warn', text });
  if (review.head.refused) fail(`synth refuses the head, so it cannot be deployed: ${review.head.refused.split('\n')[0]}`);
  const plans: [string, PlanOutcome | undefined][] = [
    ['the scratch database', review.sql.scratch],
    ['DATABASE_URL', review.sql.database],
  ];
  for (const [where, outcome] of plans) {
    if (!outcome) continue;
    if (outcome.failure) fail(`the plan fails on ${where} (exit ${outcome.exitCode}): ${outcome.failure.split('\n')[0]}`);
    const drift = outcome.plan?.drift;
    for (const problem of drift?.errors ?? []) fail(`drift on ${where}: ${problem.message.split('\n')[0]}`);
    for (const problem of drift?.warnings ?? []) warn(`drift warning on ${where}: ${problem.message.split('\n')[0]}`);
    if (outcome.plan?.decision === 'refuse')
      fail(`apply would refuse the head on ${where} as an outdated bundle (exit 10): ${outcome.plan.staleReasons.join('; ')}`);
  }
  if (review.lint.error) fail(`the lint could not run: ${review.lint.error}`);
  for (const finding of review.lint.result?.findings ?? []) fail(`squawk ${finding.rule} at ${finding.file}:${finding.line}: ${finding.message}`);
  for (const file of review.locks.files.filter((f) => f.change !== 'unchanged')) {
    for (const lock of file.locks.filter((l) => l.new && l.hot && blocksTraffic(l))) {
      warn(
        `${file.file} takes ${lock.mode} on ${lock.table}, a hot table: ${lock.blocked.length > 0 ? lock.blocked.map((b) => b.route).join('; ') : lock.otherWriters} wait${lock.blocked.length === 1 ? 's' : ''} while the migration holds it`,
      );
    }
    for (const table of file.rewrites) warn(`${file.file} rewrites ${table}: its time grows with production's rows, all of it under the lock`);
    if (!file.observed) warn(`${file.file} runs outside a transaction: plan does not run it and its locks could not be read`);
  }
  for (const hold of review.locks.tables.filter((t) => t.blocked.length > 0 && t.heldMs > review.locks.apiLockTimeoutSeconds * 1000)) {
    warn(
      `${hold.table} stays locked ${Math.round(hold.heldMs)} ms on the scratch database alone, longer than the API's ${review.locks.apiLockTimeoutSeconds} s lock timeout: requests answer 503 meanwhile`,
    );
  }
  if (review.sql.scratch?.probeFailure) warn(`the per-file lock pass stopped early: ${review.sql.scratch.probeFailure.split('\n')[0]}`);
  for (const change of review.deploy.changes.filter((c) => c.action === 'delete')) warn(`${change.kind} ${change.name || change.address} is destroyed`);
  for (const line of review.deploy.tofuPlan?.disagreements ?? []) warn(`tofu plan and the synthesized stacks disagree: ${line}`);

  const nothing =
    !review.head.refused && review.deploy.changes.length === 0 && review.sql.files.length === 0 && review.base.bundleHash === review.head.bundleHash;
  const level: VerdictLevel = reasons.some((r) => r.level === 'fail') ? 'fail' : reasons.length > 0 ? 'warn' : nothing ? 'nothing' : 'pass';
  const effect = review.deploy.effect;
  const what = effect
    ? [effect.migrationRuns ? 'the migration runs' : 'no migration', effect.apiRollsOut ? 'the API rolls out' : undefined].filter(Boolean).join(', ')
    : 'no deploy';
  const count = (l: 'fail' | 'warn') => reasons.filter((r) => r.level === l).length;
  const line =
    level === 'nothing'
      ? 'nothing to review: the head deploys exactly what the base does'
      : level === 'fail'
        ? `fail: ${count('fail')} problem${count('fail') === 1 ? '' : 's'} to fix before merging${count('warn') ? `, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}` : ''} (${what})`
        : level === 'warn'
          ? `warn: ${count('warn')} thing${count('warn') === 1 ? '' : 's'} to look at before merging (${what})`
          : `pass: ${what}; no drift, no lint finding, no new lock on a hot table`;
  return { level, exitCode: level === 'fail' ? 1 : 0, line, reasons };
}

function cannotKnow(review: Partial, options: ReviewOptions): string[] {
  const lines = [
    'Production’s row counts and table sizes: every time here comes from the scratch database, with the base’s fixture rows and nothing else, so it is a lower bound. A rewrite, an index build or an UPDATE over production’s rows takes time in proportion to them, all of it while the run holds its locks.',
    `The locks production traffic holds: the migration waits behind any long transaction for up to its lock_timeout (${Duration.ofMilliseconds(review.locks.migrationLockTimeoutMs)}) per attempt, retrying with back-off (exit 6 when they stay taken), and requests queue behind it meanwhile.`,
    review.deploy.source === 'tofu plan'
      ? 'The cluster as the given plan saw it: anything changed after that plan was made.'
      : 'What is deployed right now: the base is taken to be what runs. Without --tofu-plan the deploy effect is the two synthesized stacks compared, not the cluster’s state; objects changed outside Terraform show only in a real plan.',
    'Which API routes wait comes from a table in the review (src/review/api-tables.ts) read off the API’s code; the platform’s processors outside this repository are named only where the review knows they write a table.',
    'PGMQ and other extensions are not on the scratch database: a file that needs them fails there only.',
  ];
  if (review.locks.files.some((f) => !f.observed))
    lines.push('Files that run outside a transaction: plan does not run them, and their locks, released statement by statement, cannot be read.');
  if (options.databaseUrl)
    lines.push('The plan against DATABASE_URL took the same locks apply would, for as long as it ran, and rolled back; sequences it used may have advanced.');
  else lines.push('Whether the real database has drifted from what its history says: give DATABASE_URL to plan against it too (read-only, rolled back).');
  return lines;
}
