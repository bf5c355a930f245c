import type { ClientBase } from 'pg';

/**
 * The schema the API needs: its tables and the columns it reads. `gpu-dev-db verify` and the
 * API's start-up check both run `checkContract`, so "verify passes" means "the API starts".
 */
export const SCHEMA_CONTRACT: Readonly<Record<string, readonly string[]>> = {
  api_users: ['user_id', 'username', 'email', 'created_at', 'is_active'],
  api_keys: ['key_id', 'user_id', 'key_hash', 'key_prefix', 'created_at', 'expires_at', 'last_used_at', 'is_active', 'description'],
  reservations: [
    'reservation_id',
    'user_id',
    'status',
    'gpu_type',
    'gpu_count',
    'instance_type',
    'duration_hours',
    'created_at',
    'launched_at',
    'expires_at',
    'name',
    'github_user',
    'pod_name',
    'node_ip',
    'node_port',
    'ssh_command',
    'jupyter_enabled',
    'jupyter_url',
    'jupyter_port',
    'jupyter_token',
    'jupyter_error',
  ],
  disks: [
    'disk_id',
    'disk_name',
    'user_id',
    'size_gb',
    'created_at',
    'last_used',
    'in_use',
    'reservation_id',
    'is_backing_up',
    'is_deleted',
    'delete_date',
    'snapshot_count',
    'pending_snapshot_count',
    'operation_id',
    'operation_status',
    'operation_error',
    'last_updated',
  ],
  gpu_types: ['gpu_type', 'instance_type', 'max_gpus', 'cpus', 'memory_gb', 'total_cluster_gpus', 'max_per_node', 'is_active', 'description'],
};

/**
 * PGMQ functions the API calls, with PGMQ 1.x's argument types. `a|b` accepts either
 * signature (reported as `a`): PGMQ 1.0-1.4 has only send(text, jsonb, integer DEFAULT 0),
 * 1.5 added send(text, jsonb); both answer the API's two-argument call.
 */
const PGMQ_FUNCTIONS = ['pgmq.create(text)', 'pgmq.send(text,jsonb)|pgmq.send(text,jsonb,integer)', 'pgmq.list_queues()'] as const;

export interface ContractReport {
  readonly missingTables: readonly string[];
  readonly missingColumns: readonly { table: string; column: string }[];
  /** PGMQ functions not found; checked only when asked. */
  readonly missingPgmq: readonly string[];
  readonly ok: boolean;
}

/** Checks every table, column and (optionally) PGMQ function in one query. */
export async function checkContract(
  client: ClientBase,
  options: { pgmq: boolean; contract?: Readonly<Record<string, readonly string[]>> } = { pgmq: true },
): Promise<ContractReport> {
  const contract = options.contract ?? SCHEMA_CONTRACT;
  const required = Object.entries(contract).flatMap(([table, columns]) => columns.map((column) => ({ table, column })));
  const { rows } = await client.query<{ kind: string; table_name: string | null; column_name: string | null }>(
    `WITH required AS (
       SELECT r.table_name, r.column_name, to_regclass(quote_ident(r.table_name)) AS rel
         FROM jsonb_to_recordset($1::jsonb) AS r(table_name text, column_name text)
     )
     SELECT CASE WHEN rel IS NULL THEN 'table' ELSE 'column' END AS kind, table_name, column_name
       FROM required
      WHERE rel IS NULL
         OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped)
     UNION ALL
     SELECT 'pgmq', NULL, split_part(f, '|', 1) FROM unnest($2::text[]) AS f
      WHERE NOT EXISTS (SELECT 1 FROM unnest(string_to_array(f, '|')) AS alt WHERE to_regprocedure(alt) IS NOT NULL)`,
    [JSON.stringify(required.map(({ table, column }) => ({ table_name: table, column_name: column }))), options.pgmq ? [...PGMQ_FUNCTIONS] : []],
  );
  const missingTables = [...new Set(rows.filter((r) => r.kind === 'table').map((r) => r.table_name as string))];
  const missingColumns = rows.filter((r) => r.kind === 'column').map((r) => ({ table: r.table_name as string, column: r.column_name as string }));
  const missingPgmq = rows.filter((r) => r.kind === 'pgmq').map((r) => r.column_name as string);
  return { missingTables, missingColumns, missingPgmq, ok: rows.length === 0 };
}

/** The platform's namespace, where the migration Job runs unless the stack is configured otherwise. */
export const DEFAULT_NAMESPACE = 'gpu-controlplane';

/**
 * The API's lock_timeout by default (DB_LOCK_TIMEOUT_SECONDS): above the runner's own (3 s), so a
 * migration still queueing for its lock delays requests without failing them. The review reads
 * it to say which requests wait on a migration's lock.
 */
export const DEFAULT_API_LOCK_TIMEOUT_SECONDS = 5;

/** One message listing everything missing and where to look: what the API prints before it exits. */
export function describeContractFailure(report: ContractReport, database: string, namespace = DEFAULT_NAMESPACE): string {
  const lines = [`the database ${database} lacks what the API needs:`];
  if (report.missingTables.length > 0) lines.push(`  missing tables: ${report.missingTables.join(', ')}`);
  if (report.missingColumns.length > 0) {
    lines.push(`  missing columns: ${report.missingColumns.map(({ table, column }) => `${table}.${column}`).join(', ')}`);
  }
  if (report.missingPgmq.length > 0) {
    lines.push(
      `  PGMQ is not available (missing ${report.missingPgmq.join(', ')}): install it with CREATE EXTENSION pgmq, or use a PGMQ-enabled PostgreSQL image`,
    );
  }
  if (report.missingTables.length > 0 || report.missingColumns.length > 0) {
    lines.push(
      'The schema is applied by the database-migration Job. Check that it ran and succeeded:',
      `  kubectl get jobs -n ${namespace} | grep db-migration`,
      `  kubectl logs -n ${namespace} -l app=database-migration`,
    );
  }
  return lines.join('\n');
}
