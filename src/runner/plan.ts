import type { Client } from 'pg';
import { displayName, type ParsedBundle } from '../kernel/bundle';
import type { Logger } from '../kernel/log';
import { ExitCode, type ExitCodeValue } from '../kernel/exit-codes';
import { explain, runFile, withLockRetry, withRefusals, type DriftMode, type LockRetryPolicy } from './apply';
import { diffCatalog, readCatalog, type CatalogChange } from './catalog';
import type { ConvergeMode } from '../kernel/converge-mode';
import { Convergence, type GeneratedStatement } from './converge';
import { declaredBy, type Declarations } from './declarations';
import { checkDrift, type DriftReport } from './drift';
import { beginRun, guardTransaction, type SessionBaseline } from './guard';
import { appliedThisBundle, findStaleness, readHistory, type RecordedRun } from './history';
import { RunObserver, type RunObservation } from './table-locks';

interface FixtureRows {
  readonly file: string;
  readonly statement: number;
  readonly line: number;
  /** Rows per table the statement inserted, updated or deleted. */
  readonly tables: Readonly<Record<string, { inserted: number; updated: number; deleted: number }>>;
}

type PlanDecision = 'apply' | 'skip' | 'refuse';

const DECISION_WORDS: Readonly<Record<PlanDecision, string>> = { apply: 'apply', skip: 'skip (already applied)', refuse: 'refuse (outdated bundle)' };

/**
 * A plan's exit code, the one place it is decided (`gpu-dev-db plan` and the review): drift
 * fails it unless the drift mode only warns; an outdated bundle fails it unless forced.
 */
export function planExitCode(plan: Plan, options: { readonly drift: DriftMode; readonly force: boolean }): ExitCodeValue {
  if (plan.drift.errors.length > 0 && options.drift === 'fail') return ExitCode.drift;
  if (plan.decision === 'refuse' && !options.force) return ExitCode.staleBundle;
  return ExitCode.ok;
}

export interface Plan {
  readonly bundleHash: string;
  readonly lastApplied: RecordedRun | null;
  /** What `apply` would do with this bundle: the decision planExitCode maps to an exit code. */
  readonly decision: PlanDecision;
  /** The decision in words, as `plan` prints it. */
  readonly applyWould: string;
  readonly staleReasons: readonly string[];
  readonly changes: readonly CatalogChange[];
  readonly fixtures: readonly FixtureRows[];
  readonly drift: DriftReport;
  /** What convergence would generate for tables and indexes that exist (converge.ts), in order. */
  readonly converged: readonly GeneratedStatement[];
  /** Files that opt out of the transaction: plan cannot run them and roll back. */
  readonly notRun: readonly string[];
  /** With `observe`: per file, its time and the locks and rewrites on tables that existed before (table-locks.ts). */
  readonly observation?: RunObservation;
}

/**
 * Runs the whole bundle in one transaction with the run's timeouts, diffs the catalog before
 * and after, counts the rows each fixture statement touches, checks drift, then rolls back.
 * Sequences used by the fixtures may advance: PostgreSQL never rolls them back.
 */
export async function planBundle(
  client: Client,
  options: {
    bundle: ParsedBundle;
    declarations: Declarations;
    baseline: SessionBaseline;
    lockRetry: LockRetryPolicy;
    log: Logger;
    /** As apply's: converge existing tables in place, or leave them to drift. */
    converge: ConvergeMode;
    /** After every file, read this backend's locks on the tables that existed before, and their relfilenodes (a rewrite). */
    observe?: boolean;
  },
): Promise<Plan> {
  const { bundle, log } = options;
  const [latest] = await readHistory(client, 1);
  const applied = appliedThisBundle(latest, bundle);
  const staleReasons = applied ? [] : await findStaleness(client, bundle);
  const before = await readCatalog(client);
  const notRun = bundle.files.filter((file) => !file.transactional).map(displayName);
  const { changes, fixtures, drift, observation, converged } = await withLockRetry(client, options, async () => {
    const rolledBack = 'the plan was rolled back: the database is unchanged';
    const convergence = new Convergence(bundle, options.converge, log);
    const run = await beginRun(client, options.baseline);
    try {
      const observer = options.observe ? new RunObserver() : undefined;
      await observer?.start(client);
      const fixtureRows: FixtureRows[] = [];
      for (const file of bundle.files.filter((f) => f.transactional)) {
        let counts = file.folder === 'fixtures' ? await tupleCounts(client) : undefined;
        const startedMs = observer?.elapsed() ?? 0;
        const ran = await runFile(client, file, log, {
          convergence,
          afterEach: async (statement, index) => {
            if (!counts) return;
            const now = await tupleCounts(client);
            fixtureRows.push({ file: displayName(file), statement: index + 1, line: statement.line, tables: difference(counts, now) });
            counts = now;
          },
        });
        await guardTransaction(client, options.baseline, run, file, rolledBack);
        await observer?.file(client, displayName(file), startedMs, ran.durationMs);
      }
      const after = await readCatalog(client);
      // Plan does not run the files that opt out of the transaction: what they declare is not there yet.
      const drift = withRefusals(
        await checkDrift(
          client,
          bundle,
          declaredBy(options.declarations, (file) => file.transactional),
          { readOnly: false },
        ),
        convergence,
      );
      await guardTransaction(client, options.baseline, run, undefined, rolledBack);
      return { changes: diffCatalog(before, after), fixtures: fixtureRows, drift, observation: observer?.finish(), converged: convergence.generated };
    } catch (error) {
      throw explain(error, rolledBack, convergence);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  });
  const decision: PlanDecision = applied ? 'skip' : staleReasons.length > 0 ? 'refuse' : 'apply';
  return {
    bundleHash: bundle.hash,
    lastApplied: latest ?? null,
    decision,
    applyWould: DECISION_WORDS[decision],
    staleReasons,
    changes,
    fixtures,
    drift,
    converged,
    notRun,
    ...(observation ? { observation } : {}),
  };
}

type Counts = Map<string, { inserted: number; updated: number; deleted: number }>;

/** This transaction's row counters per table (pg_stat_get_xact_*), so fixture effects can be told apart. */
async function tupleCounts(client: Client): Promise<Counts> {
  const { rows } = await client.query<{ name: string; inserted: string; updated: string; deleted: string }>(
    `SELECT c.relname AS name, pg_stat_get_xact_tuples_inserted(c.oid) AS inserted,
            pg_stat_get_xact_tuples_updated(c.oid) AS updated, pg_stat_get_xact_tuples_deleted(c.oid) AS deleted
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))`,
  );
  return new Map(rows.map((r) => [r.name, { inserted: Number(r.inserted), updated: Number(r.updated), deleted: Number(r.deleted) }]));
}

function difference(before: Counts, after: Counts): FixtureRows['tables'] {
  const tables: Record<string, { inserted: number; updated: number; deleted: number }> = {};
  for (const [name, now] of after) {
    const then = before.get(name) ?? { inserted: 0, updated: 0, deleted: 0 };
    const delta = { inserted: now.inserted - then.inserted, updated: now.updated - then.updated, deleted: now.deleted - then.deleted };
    if (delta.inserted || delta.updated || delta.deleted) tables[name] = delta;
  }
  return tables;
}

/** The plan as text for a pull-request comment or a terminal. */
export function describePlan(plan: Plan, database: string): string[] {
  const lines = [`plan: bundle ${plan.bundleHash} against ${database}`];
  lines.push(
    plan.lastApplied
      ? `last applied: bundle ${plan.lastApplied.bundleHash} at ${plan.lastApplied.appliedAt.toISOString()} by ${plan.lastApplied.appliedBy}`
      : 'last applied: nothing (no schema_migrations history)',
  );
  lines.push(`apply would: ${plan.applyWould}`);
  for (const reason of plan.staleReasons) lines.push(`  ${reason}`);
  lines.push('', 'schema changes:');
  const createdTables = new Set(plan.changes.filter((c) => c.kind === 'table' && c.change === 'create').map((c) => c.name));
  // A new table's columns and NOT NULL constraints are summed up in its own line.
  const impliedByNewTable = (c: CatalogChange) =>
    c.change === 'create' &&
    createdTables.has(c.name.split('.')[0]) &&
    (c.kind === 'column' || (c.kind === 'constraint' && c.definition.startsWith('NOT NULL')));
  const order = ['table', 'column', 'constraint', 'index', 'trigger', 'function'];
  const shown = plan.changes.filter((c) => !impliedByNewTable(c)).sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || a.name.localeCompare(b.name));
  if (shown.length === 0) lines.push('  none');
  const sign = { create: '+', alter: '~', drop: '-' } as const;
  for (const change of shown) {
    const columns = plan.changes.filter((c) => c.kind === 'column' && c.name.startsWith(`${change.name}.`)).length;
    const detail =
      change.kind === 'table'
        ? change.change === 'create'
          ? ` (${columns} columns)`
          : ''
        : change.kind === 'function'
          ? change.change === 'alter'
            ? ' (definition changed)'
            : ''
          : ` ${change.definition}`;
    lines.push(`  ${sign[change.change]} ${change.kind} ${change.name}${detail}`);
  }
  lines.push('', 'generated by convergence (existing tables and indexes brought to what the files declare; every lock is held until the run commits):');
  if (plan.converged.length === 0) lines.push('  none');
  for (const generated of plan.converged) lines.push(`  ${generated.declaredAt}: ${generated.sql}`, `      lock ${generated.lock}; ${generated.cost}`);
  lines.push('', 'fixture rows:');
  if (plan.fixtures.length === 0) lines.push('  none');
  for (const fixture of plan.fixtures) {
    const effects = Object.entries(fixture.tables).map(
      ([t, n]) => `${t} ${n.inserted} inserted, ${n.updated} updated${n.deleted ? `, ${n.deleted} deleted` : ''}`,
    );
    lines.push(`  ${fixture.file} statement ${fixture.statement} (line ${fixture.line}): ${effects.join('; ') || 'no rows'}`);
  }
  lines.push('', 'drift:');
  if (plan.drift.errors.length + plan.drift.warnings.length === 0) lines.push('  none');
  for (const problem of plan.drift.errors) lines.push(`  ERROR ${problem.message}`);
  for (const problem of plan.drift.warnings) lines.push(`  warning ${problem.message}`);
  for (const file of plan.notRun) lines.push('', `not run by plan (runs outside a transaction, cannot be rolled back): ${file}`);
  lines.push('', 'All of this ran in a transaction that was rolled back: the database is unchanged (sequences may have advanced).');
  return lines;
}
