import type { ClientBase } from 'pg';
import { displayName, type Bundle } from '../kernel/bundle';
import { indexShape, shapesOfIndexDefinitions, type DeclaredColumn, type DeclaredIndex, type Declarations, type Origin } from './declarations';
import { checkedRuns, type CheckedRun } from './history';

/**
 * Compares what the files declare with what the database has: inside the run's transaction
 * after the files ran, and, read-only, when the bundle is already applied (apply, status).
 * The trap it catches: a column added by editing an old CREATE TABLE IF NOT EXISTS never
 * reaches a database where the table exists. The history tells that apart from an object that
 * was there and was changed since, outside migrations.
 */

export interface DriftCheck {
  /**
   * Catalog reads that take no lock on a user table: tables, columns, types, and that each
   * index exists. Index definitions are left out: pg_get_indexdef locks the table (ACCESS
   * SHARE, so it would wait behind any ALTER TABLE); after the files ran, the run holds
   * stronger locks anyway.
   */
  readonly readOnly: boolean;
}

export interface DriftProblem {
  readonly kind: 'missing-table' | 'missing-column' | 'missing-index' | 'type-mismatch' | 'index-differs' | 'refused';
  /** "reservations.priority", "reservations" or the index name. */
  readonly subject: string;
  /** Where it was declared: "schema/002_reservations.sql line 31". */
  readonly declaredAt: string;
  /**
   * A committed run applied the declaring file as it is now with this in place (history.ts
   * checkedRuns), so it was changed after that run, outside migrations.
   */
  readonly changedOutsideMigrations: boolean;
  readonly message: string;
}

export interface DriftReport {
  /** Missing tables, columns and indexes, type mismatches: the run fails unless drift is set to warn. */
  readonly errors: readonly DriftProblem[];
  /** Indexes whose existing definition differs from the declared one. */
  readonly warnings: readonly DriftProblem[];
}

/** An error found, explained once the history says whether a checked run had it in place. */
interface Finding {
  readonly kind: Exclude<DriftProblem['kind'], 'index-differs' | 'refused'>;
  readonly subject: string;
  readonly origin: Origin;
  explain(run: CheckedRun | undefined): string;
}

export async function checkDrift(client: ClientBase, bundle: Bundle, declarations: Declarations, check: DriftCheck): Promise<DriftReport> {
  const { tables, columns, indexes } = declarations;
  const catalog = await readCatalogFacts(client, declarations, check);
  const findings: Finding[] = [];
  const missingTables = new Set<string>();
  for (const table of tables.filter((t) => catalog.relation.get(t.table) === null)) {
    missingTables.add(table.table);
    const declaredAt = where(table);
    findings.push({
      kind: 'missing-table',
      subject: table.table,
      origin: table,
      explain: (run) =>
        run
          ? `table ${table.table} is missing: ${declaredAt} creates it: it was ${changedOutside(run, 'dropped')}.\n` +
            '    Remedy: `gpu-dev-db apply --force` runs every file again, so its CREATE TABLE IF NOT EXISTS creates it again, empty: restore its rows from a backup if they mattered.'
          : `table ${table.table} is missing, though ${declaredAt} creates it; a later file may drop or rename it`,
    });
  }
  for (const column of columns) {
    const relation = catalog.relation.get(column.table);
    if (missingTables.has(column.table) || !relation) continue;
    const subject = `${column.table}.${column.column}`;
    const actual = catalog.columns.get(relation)?.get(column.column);
    const declared = catalog.type.get(column.type);
    if (actual === undefined) {
      findings.push({ kind: 'missing-column', subject, origin: column, explain: (run) => missingColumnMessage(column, declarations.nextSchemaNumber, run) });
    } else if (declared && actual !== declared) {
      findings.push({
        kind: 'type-mismatch',
        subject,
        origin: column,
        explain: (run) =>
          `column ${subject} is ${actual} in the database, but ${where(column)} declares it ${declared}. ` +
          (run
            ? `It was ${changedOutside(run, 'retyped')}. `
            : column.via === 'create-table'
              ? 'Convergence never changes the type of an existing column (it rewrites the table). '
              : '') +
          `Remedy: a new schema file with ALTER TABLE ${column.table} ALTER COLUMN ${column.column} TYPE ${declared}; ` +
          '(check first whether that rewrites the table and how long it would hold its lock), or declare the type the database has.',
      });
    }
  }
  for (const index of indexes.filter((i) => catalog.relation.get(i.name) === null && !missingTables.has(i.table))) {
    const declaredAt = where(index);
    findings.push({
      kind: 'missing-index',
      subject: index.name,
      origin: index,
      explain: (run) =>
        run
          ? `index ${index.name} is missing: ${declaredAt} creates it: it was ${changedOutside(run, 'dropped')}.\n` +
            `    Remedy: \`gpu-dev-db apply --force\` runs every file again, so this one builds it again (it blocks writes to ${index.table} while it builds; on a large table, run it by hand with CONCURRENTLY first):\n` +
            `      ${flat(index.text)}`
          : `index ${index.name} is missing, though ${declaredAt} creates it; a later statement may drop or rename it`,
    });
  }
  // The history is read only when something is wrong.
  const runs = findings.length > 0 ? await checkedRuns(client, bundle) : new Map<string, CheckedRun>();
  const errors = findings.map((finding): DriftProblem => {
    const run = runs.get(displayName(finding.origin.file));
    return {
      kind: finding.kind,
      subject: finding.subject,
      declaredAt: where(finding.origin),
      changedOutsideMigrations: run !== undefined,
      message: finding.explain(run),
    };
  });
  const defined = indexes.flatMap((index) => {
    const definition = catalog.definition.get(index.name);
    return definition ? [{ index, definition }] : [];
  });
  return { errors, warnings: await differentIndexes(defined) };
}

/** What the catalog says about the declared names; null: no such relation. */
interface CatalogFacts {
  /** Table or index name → its oid. */
  readonly relation: ReadonlyMap<string, string | null>;
  /** Table oid → column name → type as format_type prints it. */
  readonly columns: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Declared type text → the same as format_type prints it (null: unknown type). */
  readonly type: ReadonlyMap<string, string | null>;
  /** Index name → pg_get_indexdef, unless the check is read-only. */
  readonly definition: ReadonlyMap<string, string | null>;
}

/**
 * One plain statement with the names inlined as literals: on the fresh connection every run
 * opens, each extra statement, catalog table, function and parameter costs catalog lookups, and
 * re-running an applied bundle should stay about as cheap as before the check existed. Its first
 * row carries the lookups by name; the others, the columns of the declared tables.
 */
async function readCatalogFacts(client: ClientBase, declarations: Declarations, check: DriftCheck): Promise<CatalogFacts> {
  const tableNames = [...new Set([...declarations.tables.map((t) => t.table), ...declarations.columns.map((c) => c.table)])];
  const indexNames = declarations.indexes.map((index) => index.name);
  const typeTexts = [...new Set(declarations.columns.map((c) => c.type))];
  const literal = (text: string) => client.escapeLiteral(text);
  const regclass = (name: string) => `to_regclass(${literal(quoteQualified(name))})`;
  const array = (items: string[], type: string) => `ARRAY[${items.join(', ')}]::${type}[]`;
  const { rows } = await client.query<{ relation: string | null; name: string | null; type: string | null; lookups: (string | null)[] | null }>(
    `SELECT NULL::text AS relation, NULL::name AS name, NULL::text AS type,
            ${array(
              [
                ...[...tableNames, ...indexNames].map((name) => `${regclass(name)}::oid::text`),
                ...typeTexts.map((t) => `format_type(to_regtype(${literal(t)}), to_regtypemod(${literal(t)}))`),
                ...(check.readOnly ? [] : indexNames.map((name) => `pg_get_indexdef(${regclass(name)})`)),
              ],
              'text',
            )} AS lookups
     UNION ALL
     SELECT attrelid::text, attname, format_type(atttypid, atttypmod), NULL FROM pg_attribute
      WHERE attrelid = ANY (${array(
        tableNames.map((name) => `${regclass(name)}::oid`),
        'oid',
      )}) AND attnum > 0 AND NOT attisdropped`,
  );
  const lookups = rows.find((row) => row.lookups !== null)?.lookups ?? [];
  const columns = new Map<string, Map<string, string>>();
  for (const row of rows) {
    if (row.relation === null || row.name === null || row.type === null) continue;
    if (!columns.has(row.relation)) columns.set(row.relation, new Map());
    columns.get(row.relation)?.set(row.name, row.type);
  }
  const relations = [...tableNames, ...indexNames];
  const definitions = lookups.slice(relations.length + typeTexts.length);
  return {
    relation: new Map(relations.map((name, i) => [name, lookups[i]])),
    columns,
    type: new Map(typeTexts.map((text, i) => [text, lookups[relations.length + i]])),
    definition: new Map(indexNames.map((name, i) => [name, definitions[i] ?? null])),
  };
}

/** Existing indexes whose definition differs from the declared one: CREATE INDEX IF NOT EXISTS kept the old. */
async function differentIndexes(found: readonly { index: DeclaredIndex; definition: string }[]): Promise<DriftProblem[]> {
  const shapes = await shapesOfIndexDefinitions(found.map((f) => f.definition));
  return found
    .filter(({ index }, i) => shapes[i] !== indexShape(index.tree))
    .map(({ index, definition }) => {
      const declaredAt = where(index);
      return {
        kind: 'index-differs',
        subject: index.name,
        declaredAt,
        changedOutsideMigrations: false,
        message:
          `index ${index.name} exists with a different definition than ${declaredAt} declares; CREATE INDEX IF NOT EXISTS kept the old one.\n` +
          `    database: ${definition}\n    declared: ${flat(index.text)}\n` +
          '    To change an index, create one under a new name (CONCURRENTLY, in a no-transaction file) and drop the old one.',
      };
    });
}

function missingColumnMessage(column: DeclaredColumn, nextSchemaNumber: string, run: CheckedRun | undefined): string {
  const table = column.table.replace(/\W/g, '_');
  const addColumn = `      ALTER TABLE ${column.table} ADD COLUMN IF NOT EXISTS ${column.definition};\n`;
  if (run) {
    return (
      `column ${column.table}.${column.column} is missing: ${where(column)}: it was ${changedOutside(run, 'dropped')}.\n` +
      `    Remedy: bring it back with a new schema file, e.g. database/schema/${nextSchemaNumber}_restore_${table}_${column.column}.sql, with\n` +
      addColumn +
      '    Its data is gone: restore it from a backup if it mattered.'
    );
  }
  const why =
    column.via === 'create-table'
      ? `it is declared inside CREATE TABLE IF NOT EXISTS ${column.table}, but ${column.table} already existed, so PostgreSQL skipped that whole statement and the column never arrived`
      : 'a later statement may drop or rename it';
  return (
    `column ${column.table}.${column.column} is missing: ${where(column)}: ${why}.\n` +
    `    Remedy: add a new schema file, e.g. database/schema/${nextSchemaNumber}_add_${table}_${column.column}.sql, with\n` +
    addColumn +
    '    Keeping the column in the CREATE TABLE too is fine: new databases get it there, existing ones from the new file.'
  );
}

/** Why a declared object that a checked run had in place is gone or different now ("it was …"). */
function changedOutside(run: CheckedRun, what: 'dropped' | 'retyped'): string {
  return (
    `changed outside migrations: run ${run.runId} (bundle ${run.bundleHash.slice(0, 12)}, ${run.appliedAt.toISOString()}, by ${run.appliedBy}) ` +
    `applied this file as it is now and committed only with this in place, so it was ${what} after that run, by hand or by another tool`
  );
}

function where(origin: Origin): string {
  return `${displayName(origin.file)} line ${origin.line}`;
}

function flat(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

function quoteQualified(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

/** The drift report as log lines: on-call reads these first. */
export function describeDrift(report: DriftReport): string[] {
  return [...report.errors.map((p) => `drift: ${p.message}`), ...report.warnings.map((p) => `drift (warning): ${p.message}`)];
}
