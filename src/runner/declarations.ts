import { parse, type ColumnDef, type IndexStmt, type Node, type RangeVar, type TypeName } from 'libpg-query';
import type { ParsedBundle, ParsedFile } from '../kernel/bundle';
import { textIndex, type Statement } from '../kernel/sql-split';

/**
 * What the bundle's SQL declares, read with the real PostgreSQL parser (libpg-query, as
 * WebAssembly): tables and their columns with types, added or retyped columns, indexes.
 * The drift check compares this with the catalog after the files ran.
 */

export interface Origin {
  readonly file: ParsedFile;
  readonly line: number;
}

export interface DeclaredColumn extends Origin {
  readonly table: string;
  readonly column: string;
  /** Type as PostgreSQL's to_regtype / to_regtypemod read it ("pg_catalog.varchar(255)"). */
  readonly type: string;
  /** The column's definition as written, for the remedy ("priority INTEGER DEFAULT 0"). */
  readonly definition: string;
  /** How it was declared: inside CREATE TABLE (skipped when the table exists) or by ALTER TABLE. */
  readonly via: 'create-table' | 'alter-table';
}

interface DeclaredTable extends Origin {
  readonly table: string;
}

export interface DeclaredIndex extends Origin {
  readonly name: string;
  readonly table: string;
  /** The definition as parsed; indexShape() compares it, only when definitions are compared. */
  readonly tree: IndexStmt;
  readonly text: string;
}

export interface Declarations {
  readonly tables: readonly DeclaredTable[];
  readonly columns: readonly DeclaredColumn[];
  readonly indexes: readonly DeclaredIndex[];
  /** The number a new schema file would take ("005"), for remedies. */
  readonly nextSchemaNumber: string;
}

/** Serial types are not types: the column they make is the integer type. */
const SERIAL_TYPES: Record<string, string> = {
  serial: 'pg_catalog.int4',
  serial4: 'pg_catalog.int4',
  bigserial: 'pg_catalog.int8',
  serial8: 'pg_catalog.int8',
  smallserial: 'pg_catalog.int2',
  serial2: 'pg_catalog.int2',
};

/**
 * Reads every file's declarations in order; a later statement overrides an earlier one
 * (ALTER COLUMN TYPE, RENAME, DROP), so what remains is what the database should have.
 */
export function readDeclarations(bundle: ParsedBundle): Declarations {
  const tables = new Map<string, DeclaredTable>();
  const columns = new Map<string, DeclaredColumn>();
  const indexes = new Map<string, DeclaredIndex>();
  for (const file of bundle.files) {
    for (const statement of file.statements) {
      const stmt = statement.tree;
      if (!stmt) continue;
      const at = (location: number | undefined): number => statement.line + lineOffset(statement.text, textIndex(statement, location));
      const statementLine = statement.line;
      if ('CreateStmt' in stmt) {
        const create = stmt.CreateStmt;
        const table = relationName(create.relation);
        tables.set(table, { table, file, line: statementLine });
        for (const element of create.tableElts ?? []) {
          if (!('ColumnDef' in element)) continue;
          const def = element.ColumnDef;
          setColumn(columns, {
            table,
            column: def.colname as string,
            type: typeText(def.typeName),
            definition: columnText(statement, def),
            via: 'create-table',
            file,
            line: at(def.location),
          });
        }
      } else if ('AlterTableStmt' in stmt) {
        const table = relationName(stmt.AlterTableStmt.relation);
        for (const command of stmt.AlterTableStmt.cmds ?? []) {
          if (!('AlterTableCmd' in command)) continue;
          const cmd = command.AlterTableCmd;
          const def = cmd.def && 'ColumnDef' in cmd.def ? cmd.def.ColumnDef : undefined;
          if (cmd.subtype === 'AT_AddColumn' && def) {
            setColumn(columns, {
              table,
              column: def.colname as string,
              type: typeText(def.typeName),
              definition: columnText(statement, def),
              via: 'alter-table',
              file,
              line: at(def.location),
            });
          } else if (cmd.subtype === 'AT_AlterColumnType' && def && cmd.name) {
            const previous = columns.get(`${table}.${cmd.name}`);
            if (previous) setColumn(columns, { ...previous, type: typeText(def.typeName), via: 'alter-table', file, line: at(def.location) });
          } else if (cmd.subtype === 'AT_DropColumn' && cmd.name) {
            columns.delete(`${table}.${cmd.name}`);
          }
        }
      } else if ('IndexStmt' in stmt && stmt.IndexStmt.idxname) {
        const index = stmt.IndexStmt;
        const name = index.idxname as string;
        indexes.set(name, { name, table: relationName(index.relation), tree: index, text: statement.text, file, line: statementLine });
      } else if ('RenameStmt' in stmt) {
        const rename = stmt.RenameStmt;
        const table = relationName(rename.relation);
        if (rename.renameType === 'OBJECT_COLUMN' && rename.subname && rename.newname) {
          const previous = columns.get(`${table}.${rename.subname}`);
          columns.delete(`${table}.${rename.subname}`);
          if (previous) setColumn(columns, { ...previous, column: rename.newname, file, line: statementLine, via: 'alter-table' });
        } else if (rename.renameType === 'OBJECT_TABLE' && rename.newname) {
          renameTable(tables, columns, table, rename.newname);
        } else if (rename.renameType === 'OBJECT_INDEX' && rename.relation?.relname && rename.newname) {
          const previous = indexes.get(rename.relation.relname);
          indexes.delete(rename.relation.relname);
          if (previous) indexes.set(rename.newname, { ...previous, name: rename.newname });
        }
      } else if ('DropStmt' in stmt && stmt.DropStmt.removeType === 'OBJECT_TABLE') {
        for (const object of stmt.DropStmt.objects ?? []) {
          const names = 'List' in object ? (object.List.items ?? []).map(stringValue) : [];
          const table = names.join('.');
          tables.delete(table);
          for (const key of [...columns.keys()]) if (key.startsWith(`${table}.`)) columns.delete(key);
        }
      } else if ('DropStmt' in stmt && stmt.DropStmt.removeType === 'OBJECT_INDEX') {
        for (const object of stmt.DropStmt.objects ?? []) {
          const names = 'List' in object ? (object.List.items ?? []).map(stringValue) : [];
          indexes.delete(names[names.length - 1]);
        }
      }
    }
  }
  const schemaNumbers = bundle.files.filter((f) => f.folder === 'schema').map((f) => f.number);
  const nextSchemaNumber = String(Math.max(0, ...schemaNumbers) + 1).padStart(3, '0');
  return { tables: [...tables.values()], columns: [...columns.values()], indexes: [...indexes.values()], nextSchemaNumber };
}

/** Only what the given files declare (plan runs the transactional files only). */
export function declaredBy(declarations: Declarations, keep: (file: ParsedFile) => boolean): Declarations {
  return {
    tables: declarations.tables.filter((t) => keep(t.file)),
    columns: declarations.columns.filter((c) => keep(c.file)),
    indexes: declarations.indexes.filter((i) => keep(i.file)),
    nextSchemaNumber: declarations.nextSchemaNumber,
  };
}

function setColumn(columns: Map<string, DeclaredColumn>, column: DeclaredColumn): void {
  columns.set(`${column.table}.${column.column}`, column);
}

function renameTable(tables: Map<string, DeclaredTable>, columns: Map<string, DeclaredColumn>, from: string, to: string): void {
  const table = tables.get(from);
  tables.delete(from);
  if (table) tables.set(to, { ...table, table: to });
  for (const [key, column] of [...columns.entries()]) {
    if (column.table !== from) continue;
    columns.delete(key);
    setColumn(columns, { ...column, table: to });
  }
}

function relationName(relation: RangeVar | undefined): string {
  if (!relation?.relname) return '';
  return relation.schemaname ? `${relation.schemaname}.${relation.relname}` : relation.relname;
}

function stringValue(node: Node): string {
  return 'String' in node ? (node.String.sval ?? '') : '';
}

/** TypeName node to text PostgreSQL's to_regtype reads: "pg_catalog.varchar(255)", "text[]". */
function typeText(typeName: TypeName | undefined): string {
  const names = (typeName?.names ?? []).map(stringValue);
  const base = names.join('.');
  if (names.length === 1 && SERIAL_TYPES[base]) return SERIAL_TYPES[base];
  const mods = (typeName?.typmods ?? []).map((mod) => {
    if ('A_Const' in mod) {
      const value = mod.A_Const as { ival?: { ival?: number }; sval?: { sval?: string } };
      return value.sval?.sval ?? String(value.ival?.ival ?? 0);
    }
    return '';
  });
  const arrays = '[]'.repeat(typeName?.arrayBounds?.length ?? 0);
  return `${names.map((n) => (/^[a-z_][a-z0-9_]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`)).join('.')}${mods.length ? `(${mods.join(',')})` : ''}${arrays}`;
}

/** The text of one column definition, up to the next top-level comma or the closing parenthesis. */
function columnText(statement: Statement, def: ColumnDef): string {
  const sql = statement.text;
  const start = textIndex(statement, def.location);
  let depth = 0;
  let i = start;
  for (; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'") i = sql.indexOf("'", i + 1);
    else if (ch === '(') depth++;
    else if (ch === ')') {
      if (depth === 0) break;
      depth--;
    } else if ((ch === ',' || ch === ';') && depth === 0) break;
    if (i < 0) return sql.slice(start).trim();
  }
  return sql.slice(start, i).replace(/\s+/g, ' ').trim();
}

/** Lines between the start of `text` and a character offset in it. */
function lineOffset(text: string, offset: number): number {
  let lines = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) lines++;
  return lines;
}

/**
 * An index definition reduced to what makes it a different index: no positions, no
 * IF NOT EXISTS / CONCURRENTLY, no schema, btree made explicit, and casts unwrapped
 * (pg_get_indexdef writes the implicit casts the declaration left out).
 */
export function indexShape(index: IndexStmt): string {
  const { relation, indexParams, indexIncludingParams, whereClause, unique, nulls_not_distinct, accessMethod } = index;
  return JSON.stringify(
    strip({
      table: relation?.relname,
      accessMethod: accessMethod ?? 'btree',
      unique: unique ?? false,
      nulls_not_distinct: nulls_not_distinct ?? false,
      indexParams,
      indexIncludingParams,
      whereClause,
    }),
  );
}

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('TypeCast' in record) return strip((record.TypeCast as { arg: unknown }).arg);
    return Object.fromEntries(
      Object.entries(record)
        .filter(([key, v]) => key !== 'location' && v !== undefined)
        .map(([key, v]) => [key, strip(v)]),
    );
  }
  return value;
}

/** Parses pg_get_indexdef outputs (in one parser call) into the same shape as declarations. */
export async function shapesOfIndexDefinitions(definitions: readonly string[]): Promise<string[]> {
  if (definitions.length === 0) return [];
  const statements = (await parse(definitions.join(';\n'))).stmts ?? [];
  return statements.map(({ stmt }) => (stmt && 'IndexStmt' in stmt ? indexShape(stmt.IndexStmt) : ''));
}
