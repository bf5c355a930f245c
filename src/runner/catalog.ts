import type { ClientBase } from 'pg';
import { HISTORY_TABLES } from './history';

/** One object of the schema, with a definition that changes whenever the object does. */
export interface CatalogItem {
  readonly kind: 'table' | 'column' | 'index' | 'constraint' | 'trigger' | 'function';
  readonly name: string;
  readonly definition: string;
}

/**
 * The schema of the database's visible schemas (search_path), the runner's history tables
 * left out: what `plan` diffs before and after the bundle ran.
 */
export async function readCatalog(client: ClientBase): Promise<CatalogItem[]> {
  const { rows } = await client.query<CatalogItem>(
    `WITH rel AS (
       SELECT c.oid, c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false)) AND NOT c.relname = ANY ($1::text[])
     )
     SELECT 'table' AS kind, relname AS name, '' AS definition FROM rel
     UNION ALL
     SELECT 'column', rel.relname || '.' || a.attname,
            format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
              || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     UNION ALL
     SELECT 'index', ic.relname, pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END
       FROM rel JOIN pg_index i ON i.indrelid = rel.oid JOIN pg_class ic ON ic.oid = i.indexrelid
     UNION ALL
     SELECT 'constraint', rel.relname || '.' || co.conname, pg_get_constraintdef(co.oid)
       FROM rel JOIN pg_constraint co ON co.conrelid = rel.oid
     UNION ALL
     SELECT 'trigger', rel.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
       FROM rel JOIN pg_trigger t ON t.tgrelid = rel.oid AND NOT t.tgisinternal
     UNION ALL
     SELECT 'function', p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid))
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = ANY (current_schemas(false)) AND p.prokind IN ('f', 'p')
     ORDER BY 1, 2`,
    [[...HISTORY_TABLES]],
  );
  return rows;
}

export interface CatalogChange {
  readonly change: 'create' | 'alter' | 'drop';
  readonly kind: CatalogItem['kind'];
  readonly name: string;
  readonly definition: string;
}

export function diffCatalog(before: readonly CatalogItem[], after: readonly CatalogItem[]): CatalogChange[] {
  const key = (item: CatalogItem) => `${item.kind}:${item.name}`;
  const old = new Map(before.map((item) => [key(item), item]));
  const now = new Map(after.map((item) => [key(item), item]));
  const changes: CatalogChange[] = [];
  for (const item of after) {
    const previous = old.get(key(item));
    if (!previous) changes.push({ change: 'create', ...item });
    else if (previous.definition !== item.definition) changes.push({ change: 'alter', ...item });
  }
  for (const item of before) if (!now.has(key(item))) changes.push({ change: 'drop', ...item });
  return changes;
}
