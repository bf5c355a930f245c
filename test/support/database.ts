import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A connected client; closed by `drop`. */
  connect(): Promise<Client>;
  drop(): Promise<void>;
}

function adminUrl(): string {
  return process.env.TEST_PG_ADMIN_URL as string;
}

function urlFor(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh, empty database on the run's PostgreSQL server, dropped with `drop()`. */
export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${name}`));
  const clients: Client[] = [];
  return {
    name,
    url: urlFor(name),
    async connect() {
      const client = new Client({ connectionString: urlFor(name) });
      client.on('error', () => undefined);
      await client.connect();
      clients.push(client);
      return client;
    },
    async drop() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withAdmin<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/**
 * Everything a run could change, as comparable text: tables and columns with types and
 * defaults, indexes, constraints, triggers, functions, and every table's rows.
 */
export async function snapshot(client: Client): Promise<string> {
  const catalog = await client.query(`
    SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '') AS item
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'trigger', tgname || ' ' || tgrelid::regclass FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'function', p.oid::regprocedure::text || ' ' || md5(p.prosrc)
      FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    ORDER BY 1, 2`);
  const lines = catalog.rows.map((r) => `${r.kind} ${r.item}`);
  const tables = await client.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  for (const { t } of tables.rows) {
    const rows = await client.query(`SELECT * FROM ${t}`);
    lines.push(`rows ${t}: ${JSON.stringify(rows.rows.map((r) => JSON.stringify(r)).sort())}`);
  }
  return lines.join('\n');
}

/**
 * The schema as a fresh install and an upgrade must agree on it, in an order that ignores column
 * order: columns (type, default, NOT NULL, comment), indexes, constraints with their validated
 * flag, and table comments.
 */
export async function catalogShape(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ item: string }>(`
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || ' default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
           || ' comment ' || coalesce(col_description(c.oid, a.attnum), '-') AS item
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' validated ' || convalidated
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'table ' || c.relname || ' comment ' || obj_description(c.oid, 'pg_class')
      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NOT NULL
    ORDER BY 1`);
  return rows.map((r) => r.item);
}
