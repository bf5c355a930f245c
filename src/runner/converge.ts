import { scanSync, type CreateStmt, type IndexStmt, type Node, type RangeVar } from 'libpg-query';
import type { Client, DatabaseError } from 'pg';
import { displayName, type ParsedBundle, type ParsedFile } from '../kernel/bundle';
import type { ConvergeMode } from '../kernel/converge-mode';
import type { Logger } from '../kernel/log';
import type { Statement } from '../kernel/sql-split';
import { indexShape, shapesOfIndexDefinitions } from './declarations';
import { readHistory } from './history';

/**
 * Convergence in place: a `CREATE TABLE IF NOT EXISTS t (…)` whose table exists, which PostgreSQL
 * would skip whole, first brings `t` to the shape it declares, and a `CREATE INDEX IF NOT EXISTS i`
 * whose index exists with another definition (or INVALID) rebuilds it, right where the statement
 * stands in the run's transaction, so the statements after it find what they expect.
 *
 * The declared shape is PostgreSQL's own reading of the declaration: the statement is run under a
 * savepoint into a scratch schema, its catalog read next to the table's, and the savepoint rolled
 * back (its locks go with it). Only what is safe is generated (CONVERGE_RULES); anything else is
 * refused, reported as drift (exit 11), and never dropped or renamed. Whatever a later statement
 * of the bundle changes (a column it retypes, drops, renames; a constraint or index it drops) is
 * left to that statement.
 */

/** What a generated statement costs while the run's transaction is open (every lock lasts until commit). */
type ConvergeCost = 'catalog-only' | 'scans the table under a lock held until commit' | 'blocks writes while the index builds';

/**
 * The rules, one row per case: what is generated, its lock and cost, or why it is refused. The
 * docs table is made from this (docs.test.ts keeps it in step).
 */
export const CONVERGE_RULES = [
  {
    declared: 'column, nullable or with a constant default (with or without NOT NULL)',
    generated: 'ADD COLUMN with the declared type, collation, default, NOT NULL',
    lock: 'ACCESS EXCLUSIVE',
    outcome: 'converge: catalog-only (PostgreSQL 11 and later store the default, no rewrite)',
  },
  {
    declared: 'column NOT NULL without a default, on a table with rows',
    generated: 'nothing',
    lock: '',
    outcome: 'refuse: give it a default, or add it nullable, backfill, then SET NOT NULL',
  },
  {
    declared: 'column with a volatile default, identity or stored generated column',
    generated: 'nothing',
    lock: '',
    outcome: 'refuse: it would rewrite the table under ACCESS EXCLUSIVE',
  },
  {
    declared: 'CHECK or FOREIGN KEY',
    generated: 'ADD CONSTRAINT',
    lock: 'ACCESS EXCLUSIVE (CHECK); SHARE ROW EXCLUSIVE on both tables (FOREIGN KEY)',
    outcome: 'converge: scans the table under a lock held until commit; failing rows are a permanent error naming the constraint',
  },
  {
    declared: 'UNIQUE, PRIMARY KEY or EXCLUDE',
    generated: 'CREATE UNIQUE INDEX, then ADD CONSTRAINT … USING INDEX',
    lock: 'SHARE, then ACCESS EXCLUSIVE',
    outcome: 'converge: blocks writes while the index builds; duplicates are a permanent error naming them',
  },
  {
    declared: 'a changed default',
    generated: 'ALTER COLUMN … SET DEFAULT (DROP DEFAULT when none is declared)',
    lock: 'ACCESS EXCLUSIVE',
    outcome: 'converge: catalog-only',
  },
  {
    declared: 'NOT NULL on an existing nullable column',
    generated: 'ALTER COLUMN … SET NOT NULL',
    lock: 'ACCESS EXCLUSIVE',
    outcome: 'converge: scans the table under a lock held until commit; NULL rows are a permanent error naming the column',
  },
  {
    declared: 'CREATE INDEX IF NOT EXISTS i, where i exists with another definition or INVALID',
    generated: 'CREATE INDEX under a temporary name, DROP INDEX i, ALTER INDEX … RENAME TO i',
    lock: 'SHARE, then ACCESS EXCLUSIVE',
    outcome: 'converge: blocks writes while the index builds',
  },
  {
    declared: "a changed type or collation, a column of an edited file's table that no statement declares any more (removed or renamed), a changed constraint",
    generated: 'nothing',
    lock: '',
    outcome: 'refuse as drift (exit 11), naming both sides: nothing is dropped or renamed',
  },
] as const;

/** One statement convergence generated (and, in apply, ran). */
export interface GeneratedStatement {
  readonly sql: string;
  /** The declaration it comes from: "schema/002_reservations.sql line 31". */
  readonly declaredAt: string;
  /** "reservations.priority", "reservations_status_check", "idx_reservations_status". */
  readonly subject: string;
  readonly lock: string;
  readonly cost: ConvergeCost;
  durationMs?: number;
}

/** A declaration convergence will not carry out: drift (exit 11) at the end of the run. */
export interface ConvergeRefusal {
  readonly subject: string;
  readonly declaredAt: string;
  readonly message: string;
}

/** A column a CREATE TABLE PostgreSQL skipped declares and the table still lacks after convergence. */
interface SkippedColumn {
  readonly table: string;
  readonly column: string;
  readonly declaredAt: string;
  /** The CREATE TABLE statement's own place. */
  readonly statementAt: string;
  /** Why it is still missing: convergence off, or the refusal's reason. */
  readonly why: string;
  /** Its definition as written, for a hand-written ALTER. */
  readonly definition: string;
}

/** A failure of a generated statement: which one, so the message can show it. */
export class GeneratedStatementError extends Error {
  constructor(
    readonly generated: GeneratedStatement,
    readonly error: unknown,
  ) {
    super(String((error as Error)?.message), { cause: error });
  }
}

const SCRATCH_SCHEMA = 'gpu_dev_converge_scratch';
const SAVEPOINT = 'gpu_dev_converge';

/** Later statements of the bundle that change a table's columns, constraints or indexes. */
interface LaterChanges {
  /** Table → columns a later statement alters, drops, renames or adds. */
  readonly columns: Map<string, Set<string>>;
  /** Table → constraint names a later statement adds, drops or renames. */
  readonly constraints: Map<string, Set<string>>;
  /** Tables a later statement drops or renames. */
  readonly tables: Set<string>;
  /** Indexes a later statement drops or renames. */
  readonly indexes: Set<string>;
}

interface Point {
  readonly kind: 'table' | 'index';
  readonly later: LaterChanges;
  /** Table → every column any statement of the bundle declares for it (ALTER TABLE ADD COLUMN, renames). */
  readonly declaredAnywhere: Map<string, Set<string>>;
}

export class Convergence {
  /** Statements generated so far in this run (in apply: also run). */
  readonly generated: GeneratedStatement[] = [];
  readonly refusals: ConvergeRefusal[] = [];
  private readonly skipped: SkippedColumn[] = [];
  private readonly points = new Map<Statement, Point>();
  private lastApplied?: ReadonlyMap<string, string>;

  constructor(
    bundle: ParsedBundle,
    readonly mode: ConvergeMode,
    private readonly log: Logger,
  ) {
    const statements = bundle.files.flatMap((file) => (file.transactional ? file.statements : []));
    const declaredAnywhere = columnsDeclaredAnywhere(statements);
    // Walk backwards, so each point sees what the statements after it change.
    const later: LaterChanges = { columns: new Map(), constraints: new Map(), tables: new Set(), indexes: new Set() };
    for (let i = statements.length - 1; i >= 0; i--) {
      const statement = statements[i];
      const tree = statement.tree;
      if (tree && 'CreateStmt' in tree && tree.CreateStmt.if_not_exists && isPlainTable(tree.CreateStmt)) {
        this.points.set(statement, { kind: 'table', later: copyChanges(later), declaredAnywhere });
      } else if (tree && 'IndexStmt' in tree && tree.IndexStmt.if_not_exists && tree.IndexStmt.idxname && !tree.IndexStmt.concurrent) {
        this.points.set(statement, { kind: 'index', later: copyChanges(later), declaredAnywhere });
      }
      if (tree) noteChanges(tree, later);
    }
  }

  /** Whether any statement of `file` is one convergence looks at first. */
  hasPoints(file: ParsedFile): boolean {
    return file.statements.some((statement) => this.points.has(statement));
  }

  isPoint(statement: Statement): boolean {
    return this.points.has(statement);
  }

  /** Where the run stands, to go back to when its transaction is rolled back and run again. */
  mark(): readonly [number, number, number] {
    return [this.generated.length, this.refusals.length, this.skipped.length];
  }

  rewind([generated, refusals, skipped]: readonly [number, number, number]): void {
    this.generated.length = generated;
    this.refusals.length = refusals;
    this.skipped.length = skipped;
  }

  /**
   * Before `statement` runs: compares, and in apply runs the generated statements. Throws a
   * GeneratedStatementError when one of them fails.
   */
  async before(client: Client, file: ParsedFile, statement: Statement): Promise<void> {
    const point = this.points.get(statement);
    const tree = statement.tree;
    if (!point || !tree) return;
    if (point.kind === 'table' && 'CreateStmt' in tree) await this.convergeTable(client, file, statement, tree.CreateStmt, point);
    if (point.kind === 'index' && 'IndexStmt' in tree) await this.convergeIndex(client, file, statement, tree.IndexStmt, point);
  }

  private async convergeTable(client: Client, file: ParsedFile, statement: Statement, create: CreateStmt, point: Point): Promise<void> {
    const table = relationName(create.relation);
    if (point.later.tables.has(table)) return;
    const { rows } = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [quoteQualified(create.relation)]);
    const oid = rows[0]?.oid;
    if (!oid) return;
    const statementAt = `${displayName(file)} line ${statement.line}`;
    const columnLines = declaredColumnLines(statement, create);
    const at = (column: string) => `${displayName(file)} line ${columnLines.get(column)?.line ?? statement.line}`;
    const definitionOf = (column: string) => columnLines.get(column)?.definition ?? column;
    const laterColumns = point.later.columns.get(table) ?? new Set<string>();
    if (this.mode === 'refuse') {
      const existing = new Set(
        (
          await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped`, [oid])
        ).rows.map((r) => r.name),
      );
      for (const column of columnLines.keys()) {
        if (!existing.has(column)) {
          this.skipped.push({
            table,
            column,
            declaredAt: at(column),
            statementAt,
            definition: definitionOf(column),
            why: 'convergence is off (--converge refuse, MIGRATION_CONVERGE=refuse)',
          });
        }
      }
      return;
    }
    const { real, declared, hasRows } = await readShapes(client, statement, create, oid);
    const target = qualifiedTable(create.relation);
    const generate = (subject: string, declaredAt: string, sql: string, lock: string, cost: ConvergeCost) => ({ sql, subject, declaredAt, lock, cost });
    const planned: GeneratedStatement[] = [];
    const refuse = (subject: string, declaredAt: string, message: string, column?: string) => {
      this.refusals.push({ subject, declaredAt, message: `${subject} (${declaredAt}): ${message}` });
      if (column) this.skipped.push({ table, column, declaredAt, statementAt, definition: definitionOf(column), why: `convergence refused it: ${message}` });
    };
    for (const column of declared.columns.values()) {
      const subject = `${table}.${column.name}`;
      const actual = real.columns.get(column.name);
      if (laterColumns.has(column.name)) continue;
      if (!actual) {
        const refused = refusalOfNewColumn(column, hasRows);
        if (refused) refuse(subject, at(column.name), refused, column.name);
        else planned.push(generate(subject, at(column.name), `ALTER TABLE ${target} ADD COLUMN ${addColumnText(column)}`, 'ACCESS EXCLUSIVE', 'catalog-only'));
        continue;
      }
      // A changed type is the drift check's to report (it knows from the history whether it changed outside migrations).
      if (actual.type !== column.type) continue;
      if (actual.collation !== column.collation) {
        refuse(
          subject,
          at(column.name),
          `the database has collation ${actual.collation ?? 'default'}, the declaration says ${column.collation ?? 'default'}; convergence never changes a column's collation (its indexes would have to be rebuilt). ` +
            `Remedy: declare the database's collation again, or change it in a new schema file (ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} TYPE ${column.type} COLLATE …)`,
        );
        continue;
      }
      if (actual.generated !== column.generated || (column.generated && actual.default !== column.default)) {
        refuse(
          subject,
          at(column.name),
          `the database has ${describeGeneration(actual)}, the declaration says ${describeGeneration(column)}; convergence does not change a generated column. Remedy: change it by hand in a new schema file`,
        );
        continue;
      }
      if (!column.generated && actual.default !== column.default) {
        const sql =
          column.default === null
            ? `ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} DROP DEFAULT`
            : `ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} SET DEFAULT ${column.default}`;
        planned.push(generate(subject, at(column.name), sql, 'ACCESS EXCLUSIVE', 'catalog-only'));
      }
      if (column.notNull && !actual.notNull) {
        planned.push(
          generate(
            subject,
            at(column.name),
            `ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} SET NOT NULL`,
            'ACCESS EXCLUSIVE',
            'scans the table under a lock held until commit',
          ),
        );
      }
    }
    const declaredHere = new Set(declared.columns.keys());
    const elsewhere = point.declaredAnywhere.get(table) ?? new Set<string>();
    const missing = [...declared.columns.keys()].filter((name) => !real.columns.has(name) && !laterColumns.has(name));
    // Only an edited file can have lost a column: an older bundle applied on purpose (--force) keeps the newer ones' columns.
    const edited = (await this.lastAppliedChecksums(client)).get(displayName(file)) !== file.checksum;
    for (const name of edited ? real.columns.keys() : []) {
      if (declaredHere.has(name) || elsewhere.has(name) || laterColumns.has(name)) continue;
      const renamed =
        missing.length > 0
          ? ` If it was renamed to ${missing.join(' or ')}, write ALTER TABLE ${target} RENAME COLUMN ${quoteIdent(name)} TO … in a new schema file instead of editing the CREATE TABLE.`
          : '';
      refuse(
        `${table}.${name}`,
        statementAt,
        `the column is in the database (${real.columns.get(name)?.type}) but no statement of the bundle declares it; convergence never drops or renames a column.${renamed} ` +
          `Remedy: declare it again in the CREATE TABLE, or drop it in a new schema file (ALTER TABLE ${target} DROP COLUMN ${quoteIdent(name)}) once nothing reads it`,
      );
    }
    const laterConstraints = point.later.constraints.get(table) ?? new Set<string>();
    // In the order they are written (the catalog's order is not the file's).
    const constraints = [...declared.constraints.values()]
      .map((constraint) => ({ constraint, line: constraintLine(statement, constraint, columnLines) }))
      .sort((a, b) => (a.line ?? statement.line) - (b.line ?? statement.line) || a.constraint.name.localeCompare(b.constraint.name));
    for (const { constraint, line } of constraints) {
      if (laterConstraints.has(constraint.name)) continue;
      const declaredAt = line ? `${displayName(file)} line ${line}` : statementAt;
      const same = real.constraints.get(constraint.name);
      if (same) {
        if (same.definition !== constraint.definition) {
          refuse(
            constraint.name,
            declaredAt,
            `the database has ${same.definition}, the declaration says ${constraint.definition}; convergence never drops or changes a constraint. Remedy: change it by hand in a new schema file (DROP CONSTRAINT, then ADD CONSTRAINT)`,
          );
        }
        continue;
      }
      if ([...real.constraints.values()].some((c) => c.type === constraint.type && c.definition === constraint.definition)) continue;
      if (constraint.type === 'p' && [...real.constraints.values()].some((c) => c.type === 'p')) {
        const existing = [...real.constraints.values()].find((c) => c.type === 'p');
        refuse(
          constraint.name,
          declaredAt,
          `the table already has primary key ${existing?.name} ${existing?.definition}; the declaration says ${constraint.definition}. Remedy: change it by hand in a new schema file`,
        );
        continue;
      }
      planned.push(...constraintStatements(target, constraint, declaredAt, declared.scratchTable));
    }
    if (planned.length > 0) await this.run(client, planned);
    for (const column of missing) {
      if (this.skipped.some((s) => s.table === table && s.column === column)) continue;
      if (!planned.some((p) => p.subject === `${table}.${column}`)) {
        this.skipped.push({ table, column, declaredAt: at(column), statementAt, definition: definitionOf(column), why: 'convergence did not add it' });
      }
    }
  }

  /** Each file's checksum as the last committed run applied it ("schema/002_reservations.sql" → sha256), read once. */
  private async lastAppliedChecksums(client: Client): Promise<ReadonlyMap<string, string>> {
    if (!this.lastApplied) {
      const [latest] = await readHistory(client, 1);
      this.lastApplied = new Map((latest?.files ?? []).map((f) => [`${f.folder}/${f.fileName}`, f.checksum]));
    }
    return this.lastApplied;
  }

  private async convergeIndex(client: Client, file: ParsedFile, statement: Statement, index: IndexStmt, point: Point): Promise<void> {
    const name = index.idxname as string;
    if (this.mode === 'refuse' || point.later.indexes.has(name)) return;
    const schema = index.relation?.schemaname;
    const qualified = schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name);
    const { rows } = await client.query<{ definition: string | null; valid: boolean; backsConstraint: boolean; qualified: string }>(
      `SELECT pg_get_indexdef(c.oid) AS definition, i.indisvalid AS valid, c.oid::regclass::text AS qualified,
              EXISTS (SELECT FROM pg_constraint WHERE conindid = c.oid) AS "backsConstraint"
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = to_regclass($1)`,
      [qualified],
    );
    const existing = rows[0];
    if (!existing?.definition || existing.backsConstraint) return;
    const [shape] = await shapesOfIndexDefinitions([existing.definition]);
    if (existing.valid && shape === indexShape(index)) return;
    const temporary = `${name.slice(0, 50)}_converging`;
    const declaredAt = `${displayName(file)} line ${statement.line}`;
    const why = existing.valid ? '' : ' (INVALID)';
    this.log.info(`${declaredAt}: index ${name} exists${why} as ${existing.definition}; convergence rebuilds it as declared`);
    await this.run(client, [
      { sql: renamedIndexStatement(statement, quoteIdent(temporary)), subject: name, declaredAt, lock: 'SHARE', cost: 'blocks writes while the index builds' },
      { sql: `DROP INDEX ${existing.qualified}`, subject: name, declaredAt, lock: 'ACCESS EXCLUSIVE', cost: 'catalog-only' },
      {
        sql: `ALTER INDEX ${schema ? `${quoteIdent(schema)}.` : ''}${quoteIdent(temporary)} RENAME TO ${quoteIdent(name)}`,
        subject: name,
        declaredAt,
        lock: 'SHARE UPDATE EXCLUSIVE',
        cost: 'catalog-only',
      },
    ]);
  }

  private async run(client: Client, statements: readonly GeneratedStatement[]): Promise<void> {
    for (const generated of statements) {
      const started = performance.now();
      try {
        await client.query(generated.sql);
      } catch (error) {
        throw new GeneratedStatementError(generated, error);
      }
      generated.durationMs = performance.now() - started;
      this.generated.push(generated);
      this.log.info(`converge: ${generated.declaredAt}: ${generated.sql} [${generated.lock}; ${generated.cost}] ${Math.round(generated.durationMs)} ms`);
    }
  }

  /**
   * Why a statement failed on a column that a CREATE TABLE PostgreSQL skipped declares: the
   * lines to add to its error, or undefined when the failure has nothing to do with one.
   */
  explainMissingColumn(error: Partial<DatabaseError>): string[] | undefined {
    if (error.code !== '42703') return undefined;
    const match = /column "?(?:[^"\s]+\.)?([^"\s]+?)"?(?: of relation "([^"]+)")? does not exist/.exec(error.message ?? '');
    if (!match) return undefined;
    const [, column, relation] = match;
    const causes = this.skipped.filter((s) => s.column === column && (!relation || s.table === relation || s.table.endsWith(`.${relation}`)));
    if (causes.length === 0) return undefined;
    return causes.flatMap((cause) => [
      `cause: column ${cause.table}.${cause.column} is declared at ${cause.declaredAt}, inside CREATE TABLE IF NOT EXISTS ${cause.table} (${cause.statementAt}), ` +
        `which PostgreSQL skipped because ${cause.table} already exists; ${cause.why}.`,
      this.mode === 'refuse'
        ? `remedy: turn convergence on (--converge apply, MIGRATION_CONVERGE=apply), or add ALTER TABLE ${cause.table} ADD COLUMN IF NOT EXISTS ${cause.definition}; right after that CREATE TABLE (a later file runs too late for this statement)`
        : `remedy: see the refusal above; or add ALTER TABLE ${cause.table} ADD COLUMN IF NOT EXISTS ${cause.definition}; by hand right after that CREATE TABLE`,
    ]);
  }
}

/** A column or constraint as PostgreSQL's catalog has it. */
interface ColumnShape {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly default: string | null;
  readonly collation: string | null;
  /** '' (plain), 's' (stored), 'v' (virtual). */
  readonly generated: string;
  readonly identity: string;
  readonly volatile: boolean;
}

interface ConstraintShape {
  readonly name: string;
  /** pg_constraint.contype: c, f, p, u, x. */
  readonly type: string;
  readonly definition: string;
  readonly indexDefinition: string | null;
  /** Columns it names (for the line it is declared on). */
  readonly columns: readonly string[];
}

interface TableShape {
  readonly columns: Map<string, ColumnShape>;
  readonly constraints: Map<string, ConstraintShape>;
}

/**
 * The table's shape and the declaration's, from the catalog: the declaration is created in a
 * scratch schema under a savepoint that is then rolled back, with the locks it took. Whether a
 * new column's default is volatile is PostgreSQL's own answer: a probe table of one row gets the
 * column, and only a default PostgreSQL could store once (atthasmissing) is catalog-only.
 */
async function readShapes(
  client: Client,
  statement: Statement,
  create: CreateStmt,
  oid: string,
): Promise<{ real: TableShape; declared: TableShape & { scratchTable: string }; hasRows: boolean }> {
  const scratchTable = `${SCRATCH_SCHEMA}.${quoteIdent(create.relation?.relname ?? '')}`;
  await client.query(`SAVEPOINT ${SAVEPOINT}; CREATE SCHEMA ${SCRATCH_SCHEMA}`);
  try {
    await client.query(replaceRelation(statement, create.relation, scratchTable));
    const { rows } = await client.query<ShapeRow>(SHAPE_QUERY, [oid, scratchTable]);
    const shape = (side: 'real' | 'declared'): TableShape => ({
      columns: new Map(rows.filter((r) => r.side === side && r.kind === 'column').map((r) => [r.name, columnShape(r)])),
      constraints: new Map(rows.filter((r) => r.side === side && r.kind === 'constraint').map((r) => [r.name, constraintShape(r)])),
    });
    const real = shape('real');
    const declared = shape('declared');
    // A serial column's default names the sequence CREATE TABLE made beside the scratch table: the real one is beside the table.
    const schema = create.relation?.schemaname ? `${quoteIdent(create.relation.schemaname)}.` : '';
    for (const [name, column] of declared.columns) {
      if (column.default?.includes(`'${SCRATCH_SCHEMA}.`))
        declared.columns.set(name, { ...column, default: column.default.split(`'${SCRATCH_SCHEMA}.`).join(`'${schema}`) });
    }
    const added = [...declared.columns.values()].filter((c) => !real.columns.has(c.name));
    const volatile = await volatileDefaults(
      client,
      added.filter((c) => c.default !== null && !c.generated && !c.identity),
    );
    for (const name of volatile) declared.columns.set(name, { ...(declared.columns.get(name) as ColumnShape), volatile: true });
    const needRows = added.some((c) => c.notNull && c.default === null && !c.generated && !c.identity);
    const hasRows = needRows && (await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT FROM ${qualifiedTable(create.relation)}) AS any`)).rows[0].any;
    return { real, declared: { ...declared, scratchTable }, hasRows };
  } finally {
    await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`);
  }
}

/** Names of the columns whose default PostgreSQL would compute per row (a rewrite), asked of a one-row probe table. */
async function volatileDefaults(client: Client, columns: readonly ColumnShape[]): Promise<string[]> {
  if (columns.length === 0) return [];
  const probe = `${SCRATCH_SCHEMA}.gpu_dev_probe`;
  const adds = columns.map((c) => `ADD COLUMN ${quoteIdent(c.name)} ${c.type} DEFAULT ${c.default}`).join(', ');
  await client.query(`CREATE TABLE ${probe} AS SELECT 1 AS gpu_dev_probe_row; ALTER TABLE ${probe} ${adds}`);
  const { rows } = await client.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 1 AND NOT attisdropped AND NOT atthasmissing`,
    [probe],
  );
  return rows.map((r) => r.name);
}

interface ShapeRow {
  side: 'real' | 'declared';
  kind: 'column' | 'constraint';
  name: string;
  type: string;
  not_null: boolean;
  default: string | null;
  collation: string | null;
  generated: string;
  identity: string;
  index_definition: string | null;
  columns: string[] | null;
}

/**
 * Columns (type, NOT NULL, default, collation when not the type's, generation, identity) and
 * constraints other than NOT NULL, with their definition (in "default"), type (contype) and
 * index. $1: the table's oid; $2: the scratch table.
 */
const SHAPE_QUERY = `
WITH sides AS (SELECT 'real' AS side, $1::oid AS rel UNION ALL SELECT 'declared', to_regclass($2)::oid)
SELECT s.side, 'column' AS kind, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default,
       CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END AS collation,
       a.attgenerated::text AS generated, a.attidentity::text AS identity, NULL AS index_definition, NULL::text[] AS columns
  FROM sides s JOIN pg_attribute a ON a.attrelid = s.rel JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT s.side, 'constraint', c.conname, c.contype::text, false, pg_get_constraintdef(c.oid), NULL, '', '',
       CASE WHEN c.conindid <> 0 AND c.contype IN ('p', 'u', 'x') THEN pg_get_indexdef(c.conindid) END,
       ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.conrelid AND attnum = ANY (c.conkey))
  FROM sides s JOIN pg_constraint c ON c.conrelid = s.rel
 WHERE c.contype <> 'n'`;

function columnShape(row: ShapeRow): ColumnShape {
  return {
    name: row.name,
    type: row.type,
    notNull: row.not_null,
    default: row.default,
    collation: row.collation,
    generated: row.generated,
    identity: row.identity,
    volatile: false,
  };
}

function constraintShape(row: ShapeRow): ConstraintShape {
  return { name: row.name, type: row.type, definition: row.default ?? '', indexDefinition: row.index_definition, columns: row.columns ?? [] };
}

function refusalOfNewColumn(column: ColumnShape, hasRows: boolean): string | undefined {
  if (column.generated === 's')
    return 'a stored generated column: adding it computes every row, a rewrite of the table under ACCESS EXCLUSIVE. Remedy: add it by hand in a new schema file at a quiet time, or make it a plain column filled by the application';
  if (column.identity)
    return 'an identity column: adding it numbers every row, a rewrite of the table under ACCESS EXCLUSIVE. Remedy: add it by hand in a new schema file at a quiet time';
  if (column.volatile)
    return `its default ${column.default} is volatile: adding it computes a value for every row, a rewrite of the table under ACCESS EXCLUSIVE. Remedy: add the column without a default (or with a constant one) and SET DEFAULT ${column.default} in a new schema file, then backfill in batches`;
  if (column.notNull && column.default === null && !column.generated && hasRows) {
    return 'NOT NULL without a default, on a table with rows: every existing row would break it. Remedy: give it a default (DEFAULT …, catalog-only), or declare it nullable, backfill it, then SET NOT NULL in a later schema file';
  }
  return undefined;
}

function addColumnText(column: ColumnShape): string {
  const parts = [quoteIdent(column.name), column.type];
  if (column.collation) parts.push(`COLLATE ${column.collation}`);
  if (column.generated === 'v') parts.push(`GENERATED ALWAYS AS (${column.default}) VIRTUAL`);
  else if (column.default !== null) parts.push(`DEFAULT ${column.default}`);
  if (column.notNull) parts.push('NOT NULL');
  return parts.join(' ');
}

function describeGeneration(column: ColumnShape): string {
  return column.generated ? `GENERATED ALWAYS AS (${column.default}) ${column.generated === 's' ? 'STORED' : 'VIRTUAL'}` : 'a plain column';
}

/** ADD CONSTRAINT for a CHECK or FOREIGN KEY; for UNIQUE and PRIMARY KEY the index first, then USING INDEX. */
function constraintStatements(target: string, constraint: ConstraintShape, declaredAt: string, scratchTable: string): GeneratedStatement[] {
  const name = quoteIdent(constraint.name);
  const base = { subject: constraint.name, declaredAt };
  if (constraint.type === 'c')
    return [
      {
        ...base,
        sql: `ALTER TABLE ${target} ADD CONSTRAINT ${name} ${constraint.definition}`,
        lock: 'ACCESS EXCLUSIVE',
        cost: 'scans the table under a lock held until commit',
      },
    ];
  if (constraint.type === 'f') {
    return [
      {
        ...base,
        sql: `ALTER TABLE ${target} ADD CONSTRAINT ${name} ${constraint.definition}`,
        lock: 'SHARE ROW EXCLUSIVE on both tables',
        cost: 'scans the table under a lock held until commit',
      },
    ];
  }
  if ((constraint.type === 'u' || constraint.type === 'p') && constraint.indexDefinition) {
    const index = constraint.indexDefinition.replace(` ON ${scratchTable} `, ` ON ${target} `);
    const deferrable = /\sDEFERRABLE.*$/.exec(constraint.definition)?.[0] ?? '';
    const kind = constraint.type === 'p' ? 'PRIMARY KEY' : 'UNIQUE';
    return [
      { ...base, sql: index, lock: 'SHARE', cost: 'blocks writes while the index builds' },
      {
        ...base,
        sql: `ALTER TABLE ${target} ADD CONSTRAINT ${name} ${kind} USING INDEX ${name}${deferrable}`,
        lock: 'ACCESS EXCLUSIVE',
        cost: constraint.type === 'p' ? 'scans the table under a lock held until commit' : 'catalog-only',
      },
    ];
  }
  return [
    {
      ...base,
      sql: `ALTER TABLE ${target} ADD CONSTRAINT ${name} ${constraint.definition}`,
      lock: 'ACCESS EXCLUSIVE',
      cost: 'blocks writes while the index builds',
    },
  ];
}

/** The line a constraint is written on: where CONSTRAINT names it, else its one column's line. */
function constraintLine(statement: Statement, constraint: ConstraintShape, columnLines: Map<string, { line: number }>): number | undefined {
  return lineOfWord(statement, constraint.name) ?? (constraint.columns.length === 1 ? columnLines.get(constraint.columns[0])?.line : undefined);
}

function lineOfWord(statement: Statement, word: string): number | undefined {
  const index = statement.text.search(new RegExp(`\\bCONSTRAINT\\s+"?${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\b`, 'i'));
  return index < 0 ? undefined : statement.line + (statement.text.slice(0, index).match(/\n/g)?.length ?? 0);
}

/** Each declared column's line and its definition as written. */
function declaredColumnLines(statement: Statement, create: CreateStmt): Map<string, { line: number; definition: string }> {
  const lines = new Map<string, { line: number; definition: string }>();
  const bytes = Buffer.from(statement.text);
  for (const element of create.tableElts ?? []) {
    if (!('ColumnDef' in element) || !element.ColumnDef.colname) continue;
    const start = bytes.subarray(0, Math.max(0, (element.ColumnDef.location ?? statement.treeBase) - statement.treeBase)).toString().length;
    lines.set(element.ColumnDef.colname, {
      line: statement.line + (statement.text.slice(0, start).match(/\n/g)?.length ?? 0),
      definition: definitionAt(statement.text, start),
    });
  }
  return lines;
}

/** A column definition's text, up to the next top-level comma or the closing parenthesis. */
function definitionAt(sql: string, start: number): string {
  let depth = 0;
  let i = start;
  for (; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'") {
      i = sql.indexOf("'", i + 1);
      if (i < 0) return sql.slice(start).trim();
    } else if (ch === '(') depth++;
    else if (ch === ')') {
      if (depth === 0) break;
      depth--;
    } else if (ch === ',' && depth === 0) break;
  }
  return sql.slice(start, i).replace(/\s+/g, ' ').trim();
}

/** The CREATE TABLE's text with its table name replaced (by byte positions from PostgreSQL's scanner). */
function replaceRelation(statement: Statement, relation: RangeVar | undefined, replacement: string): string {
  const bytes = Buffer.from(statement.text);
  const start = (relation?.location ?? 0) - statement.treeBase;
  const tokens = scanSync(statement.text).tokens;
  let index = tokens.findIndex((token) => token.start === start);
  if (index < 0) throw new Error(`cannot find the table name of the statement at line ${statement.line}`);
  let end = tokens[index].end;
  while (tokens[index + 1]?.text === '.' && tokens[index + 2]) {
    end = tokens[index + 2].end;
    index += 2;
  }
  return `${bytes.subarray(0, start).toString()}${replacement}${bytes.subarray(end).toString()}`;
}

/** The CREATE INDEX with another name and without IF NOT EXISTS (the temporary index must be new). */
function renamedIndexStatement(statement: Statement, name: string): string {
  const bytes = Buffer.from(statement.text);
  const tokens = scanSync(statement.text).tokens;
  const on = tokens.findIndex((token) => token.text.toUpperCase() === 'ON');
  const nameToken = tokens[on - 1];
  const ifNotExists = tokens.findIndex(
    (token, i) => token.text.toUpperCase() === 'IF' && tokens[i + 1]?.text.toUpperCase() === 'NOT' && tokens[i + 2]?.text.toUpperCase() === 'EXISTS',
  );
  const head = ifNotExists >= 0 && ifNotExists < on ? bytes.subarray(0, tokens[ifNotExists].start).toString() : bytes.subarray(0, nameToken.start).toString();
  return `${head}${name} ${bytes.subarray(nameToken.end).toString().trimStart()}`;
}

function isPlainTable(create: CreateStmt): boolean {
  const relation = create.relation;
  return (
    !create.inhRelations?.length &&
    !create.partbound &&
    !create.partspec &&
    !create.ofTypename &&
    relation?.relpersistence !== 't' &&
    !(create.tableElts ?? []).some((e) => 'TableLikeClause' in e)
  );
}

function relationName(relation: RangeVar | undefined): string {
  if (!relation?.relname) return '';
  return relation.schemaname ? `${relation.schemaname}.${relation.relname}` : relation.relname;
}

function qualifiedTable(relation: RangeVar | undefined): string {
  return relation?.schemaname ? `${quoteIdent(relation.schemaname)}.${quoteIdent(relation.relname ?? '')}` : quoteIdent(relation?.relname ?? '');
}

function quoteQualified(relation: RangeVar | undefined): string {
  return qualifiedTable(relation);
}

/** An identifier as PostgreSQL's quote_ident writes it: bare when it can be. */
function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** Words that must be quoted as names (PostgreSQL's reserved keywords that a column is likely to be called). */
const RESERVED = new Set([
  'all',
  'analyse',
  'analyze',
  'and',
  'any',
  'array',
  'as',
  'asc',
  'both',
  'case',
  'cast',
  'check',
  'collate',
  'column',
  'constraint',
  'create',
  'default',
  'desc',
  'distinct',
  'do',
  'else',
  'end',
  'except',
  'false',
  'for',
  'foreign',
  'from',
  'grant',
  'group',
  'having',
  'in',
  'into',
  'leading',
  'limit',
  'not',
  'null',
  'offset',
  'on',
  'only',
  'or',
  'order',
  'primary',
  'references',
  'select',
  'table',
  'then',
  'to',
  'true',
  'union',
  'unique',
  'user',
  'using',
  'when',
  'where',
  'with',
]);

function copyChanges(changes: LaterChanges): LaterChanges {
  return {
    columns: new Map([...changes.columns].map(([table, names]) => [table, new Set(names)])),
    constraints: new Map([...changes.constraints].map(([table, names]) => [table, new Set(names)])),
    tables: new Set(changes.tables),
    indexes: new Set(changes.indexes),
  };
}

function add(map: Map<string, Set<string>>, key: string, value: string | undefined): void {
  if (!value) return;
  if (!map.has(key)) map.set(key, new Set());
  map.get(key)?.add(value);
}

/** Records what one statement changes, for the points before it. */
function noteChanges(tree: Node, changes: LaterChanges): void {
  if ('AlterTableStmt' in tree) {
    const table = relationName(tree.AlterTableStmt.relation);
    for (const command of tree.AlterTableStmt.cmds ?? []) {
      if (!('AlterTableCmd' in command)) continue;
      const cmd = command.AlterTableCmd;
      const def = cmd.def;
      if (def && 'ColumnDef' in def) add(changes.columns, table, def.ColumnDef.colname);
      else if (def && 'Constraint' in def) add(changes.constraints, table, def.Constraint.conname);
      if (cmd.subtype === 'AT_DropConstraint' || cmd.subtype === 'AT_ValidateConstraint' || cmd.subtype === 'AT_AlterConstraint')
        add(changes.constraints, table, cmd.name);
      else add(changes.columns, table, cmd.name);
    }
  } else if ('RenameStmt' in tree) {
    const rename = tree.RenameStmt;
    const table = relationName(rename.relation);
    if (rename.renameType === 'OBJECT_COLUMN') {
      add(changes.columns, table, rename.subname);
      add(changes.columns, table, rename.newname);
    } else if (rename.renameType === 'OBJECT_TABCONSTRAINT') {
      add(changes.constraints, table, rename.subname);
      add(changes.constraints, table, rename.newname);
    } else if (rename.renameType === 'OBJECT_TABLE') {
      changes.tables.add(table);
    } else if (rename.renameType === 'OBJECT_INDEX' && rename.relation?.relname) {
      changes.indexes.add(rename.relation.relname);
    }
  } else if ('DropStmt' in tree) {
    for (const object of tree.DropStmt.objects ?? []) {
      const names = 'List' in object ? (object.List.items ?? []).map((n) => ('String' in n ? (n.String.sval ?? '') : '')) : [];
      if (tree.DropStmt.removeType === 'OBJECT_TABLE') changes.tables.add(names.join('.'));
      if (tree.DropStmt.removeType === 'OBJECT_INDEX') changes.indexes.add(names[names.length - 1]);
    }
  }
}

/** Every column that a statement other than a CREATE TABLE declares for a table (ADD COLUMN, renames). */
function columnsDeclaredAnywhere(statements: readonly Statement[]): Map<string, Set<string>> {
  const declared = new Map<string, Set<string>>();
  for (const { tree } of statements) {
    if (tree && 'AlterTableStmt' in tree) {
      const table = relationName(tree.AlterTableStmt.relation);
      for (const command of tree.AlterTableStmt.cmds ?? []) {
        if ('AlterTableCmd' in command && command.AlterTableCmd.def && 'ColumnDef' in command.AlterTableCmd.def)
          add(declared, table, command.AlterTableCmd.def.ColumnDef.colname);
      }
    } else if (tree && 'RenameStmt' in tree && tree.RenameStmt.renameType === 'OBJECT_COLUMN') {
      add(declared, relationName(tree.RenameStmt.relation), tree.RenameStmt.newname);
    }
  }
  return declared;
}
