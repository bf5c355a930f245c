import type { ClientBase } from 'pg';
import { displayName } from '../kernel/bundle';
import { shapesOfIndexDefinitions, type DeclaredColumn, type Declarations } from './declarations';

/**
 * Compares what the files declare with what the database has, inside the run's transaction
 * after the files ran. The trap it catches: a column added by editing an old
 * CREATE TABLE IF NOT EXISTS never reaches a database where the table exists.
 */

export interface DriftProblem {
  readonly kind: 'missing-table' | 'missing-column' | 'type-mismatch' | 'index-differs';
  /** "reservations.priority", "reservations" or the index name. */
  readonly subject: string;
  /** Where it was declared: "schema/002_reservations.sql line 31". */
  readonly declaredAt: string;
  readonly message: string;
}

export interface DriftReport {
  /** Missing tables and columns, type mismatches: the run fails unless drift is set to warn. */
  readonly errors: readonly DriftProblem[];
  /** Indexes whose existing definition differs from the declared one. */
  readonly warnings: readonly DriftProblem[];
}

export async function checkDrift(client: ClientBase, declarations: Declarations): Promise<DriftReport> {
  // One round trip for every declared table and column (col NULL: the table itself), one for the indexes.
  const { rows } = await client.query<{ i: number; table_exists: boolean; column_exists: boolean; actual: string | null; declared: string | null }>(
    `SELECT d.i,
            to_regclass(d.tbl) IS NOT NULL AS table_exists,
            a.attname IS NOT NULL AS column_exists,
            format_type(a.atttypid, a.atttypmod) AS actual,
            format_type(to_regtype(d.typ), to_regtypemod(d.typ)) AS declared
       FROM jsonb_to_recordset($1::jsonb) AS d(i int, tbl text, col text, typ text)
       LEFT JOIN pg_attribute a ON a.attrelid = to_regclass(d.tbl) AND a.attname = d.col AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY d.i`,
    [
      JSON.stringify([
        ...declarations.tables.map((t, i) => ({ i: -1 - i, tbl: quoteQualified(t.table), col: null, typ: null })),
        ...declarations.columns.map((c, i) => ({ i, tbl: quoteQualified(c.table), col: c.column, typ: c.type })),
      ]),
    ],
  );
  const errors: DriftProblem[] = [];
  const missingTables = new Set<string>();
  for (const row of rows.filter((r) => r.i < 0 && !r.table_exists)) {
    const table = declarations.tables[-1 - row.i];
    missingTables.add(table.table);
    errors.push({
      kind: 'missing-table',
      subject: table.table,
      declaredAt: `${displayName(table.file)} line ${table.line}`,
      message: `table ${table.table} is missing, though ${displayName(table.file)} line ${table.line} creates it; a later file may drop or rename it`,
    });
  }
  for (const row of rows.filter((r) => r.i >= 0)) {
    const column = declarations.columns[row.i];
    if (missingTables.has(column.table) || !row.table_exists) continue;
    const declaredAt = `${displayName(column.file)} line ${column.line}`;
    if (!row.column_exists) {
      errors.push({ kind: 'missing-column', subject: `${column.table}.${column.column}`, declaredAt, message: missingColumnMessage(column, declarations.nextSchemaNumber) });
    } else if (row.declared !== null && row.actual !== row.declared) {
      errors.push({
        kind: 'type-mismatch',
        subject: `${column.table}.${column.column}`,
        declaredAt,
        message:
          `column ${column.table}.${column.column} is ${row.actual} in the database, but ${declaredAt} declares it ${row.declared}. ` +
          `${column.via === 'create-table' ? `CREATE TABLE IF NOT EXISTS never changes an existing table. ` : ''}` +
          `Remedy: a new schema file with ALTER TABLE ${column.table} ALTER COLUMN ${column.column} TYPE ${row.declared}; ` +
          '(check first whether that rewrites the table and how long it would hold its lock), or declare the type the database has.',
      });
    }
  }
  return { errors, warnings: await indexWarnings(client, declarations) };
}

async function indexWarnings(client: ClientBase, declarations: Declarations): Promise<DriftProblem[]> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(c.oid) AS definition
       FROM pg_class c WHERE c.relkind IN ('i', 'I') AND c.relname = ANY($1::text[]) AND pg_table_is_visible(c.oid)`,
    [declarations.indexes.map((index) => index.name)],
  );
  const shapes = await shapesOfIndexDefinitions(rows.map((row) => row.definition));
  const existing = new Map(rows.map((row, i) => [row.name, { definition: row.definition, shape: shapes[i] }]));
  const warnings: DriftProblem[] = [];
  for (const index of declarations.indexes) {
    const found = existing.get(index.name);
    if (!found || found.shape === index.shape) continue;
    const declaredAt = `${displayName(index.file)} line ${index.line}`;
    warnings.push({
      kind: 'index-differs',
      subject: index.name,
      declaredAt,
      message:
        `index ${index.name} exists with a different definition than ${declaredAt} declares; CREATE INDEX IF NOT EXISTS kept the old one.\n` +
        `    database: ${found.definition}\n    declared: ${index.text.replace(/\s+/g, ' ')}\n` +
        '    To change an index, create one under a new name (CONCURRENTLY, in a no-transaction file) and drop the old one.',
    });
  }
  return warnings;
}

function missingColumnMessage(column: DeclaredColumn, nextSchemaNumber: string): string {
  const declaredAt = `${displayName(column.file)} line ${column.line}`;
  const why =
    column.via === 'create-table'
      ? `it is declared inside CREATE TABLE IF NOT EXISTS ${column.table}, but ${column.table} already existed, so PostgreSQL skipped that whole statement and the column never arrived`
      : 'a later statement may drop or rename it';
  return (
    `column ${column.table}.${column.column} is missing: ${declaredAt}: ${why}.\n` +
    `    Remedy: add a new schema file, e.g. database/schema/${nextSchemaNumber}_add_${column.table.replace(/\W/g, '_')}_${column.column}.sql, with\n` +
    `      ALTER TABLE ${column.table} ADD COLUMN IF NOT EXISTS ${column.definition};\n` +
    '    Keeping the column in the CREATE TABLE too is fine: new databases get it there, existing ones from the new file.'
  );
}

function quoteQualified(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

/** The drift report as log lines: on-call reads these first. */
export function describeDrift(report: DriftReport): string[] {
  return [
    ...report.errors.map((p) => `drift: ${p.message}`),
    ...report.warnings.map((p) => `drift (warning): ${p.message}`),
  ];
}
