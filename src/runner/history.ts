import type { ClientBase, DatabaseError } from 'pg';
import { displayName, type Bundle, type BundleFile } from '../kernel/bundle';
import type { GeneratedStatement } from './converge';

const UNDEFINED_TABLE = '42P01';

/** History tables the runner owns, in `public` so `\dt` shows them next to the schema. */
export const HISTORY_TABLES = ['schema_migrations', 'schema_migration_files'] as const;

const CREATE_HISTORY = `
CREATE TABLE IF NOT EXISTS schema_migrations (
    run_id          BIGSERIAL PRIMARY KEY,
    bundle_hash     TEXT NOT NULL,
    runner_digest   TEXT NOT NULL,
    applied_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    duration_ms     INTEGER NOT NULL,
    applied_by      TEXT NOT NULL,
    forced          BOOLEAN NOT NULL DEFAULT false,
    file_count      INTEGER NOT NULL,
    statement_count INTEGER NOT NULL,
    drift_overridden BOOLEAN NOT NULL DEFAULT false,
    converged       JSONB NOT NULL DEFAULT '[]'
);
-- Histories written before the columns existed: their runs count as checked, and generated nothing.
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS drift_overridden BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS converged JSONB NOT NULL DEFAULT '[]';
CREATE INDEX IF NOT EXISTS idx_schema_migrations_bundle_hash ON schema_migrations (bundle_hash);
CREATE TABLE IF NOT EXISTS schema_migration_files (
    run_id        BIGINT NOT NULL REFERENCES schema_migrations (run_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    folder        TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    checksum      TEXT NOT NULL,
    statements    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    transactional BOOLEAN NOT NULL,
    PRIMARY KEY (run_id, position)
)`;

export interface FileRun {
  readonly file: BundleFile;
  readonly statements: number;
  readonly durationMs: number;
  /** Rows each statement inserted, updated or deleted (null for DDL). */
  readonly rowCounts: readonly (number | null)[];
}

/** A successful run as schema_migrations has it. */
export interface RunSummary {
  readonly runId: number;
  readonly bundleHash: string;
  readonly runnerDigest: string;
  readonly appliedAt: Date;
  readonly durationMs: number;
  readonly appliedBy: string;
  readonly forced: boolean;
}

export interface RecordedRun extends RunSummary {
  readonly files: readonly { folder: string; fileName: string; checksum: string }[];
  /** What convergence generated in this run (empty for runs recorded before it existed). */
  readonly converged: readonly Pick<GeneratedStatement, 'sql' | 'declaredAt' | 'subject' | 'lock' | 'cost' | 'durationMs'>[];
}

/**
 * Creates or completes the history tables, only when they are not as this runner makes them:
 * the DDL would otherwise take ACCESS EXCLUSIVE on schema_migrations in every run, blocking
 * `status` and `plan` readers until the run commits.
 */
export async function ensureHistoryTables(client: ClientBase): Promise<void> {
  const { rows } = await client.query<{ ready: boolean }>(
    `SELECT to_regclass('schema_migration_files') IS NOT NULL
        AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('schema_migrations') AND attname IN ('drift_overridden', 'converged') AND NOT attisdropped) = 2 AS ready`,
  );
  if (!rows[0].ready) await client.query(CREATE_HISTORY);
}

export async function recordRun(
  client: ClientBase,
  run: {
    bundle: Bundle;
    files: readonly FileRun[];
    durationMs: number;
    appliedBy: string;
    forced: boolean;
    driftOverridden: boolean;
    /** What convergence generated and ran (converge.ts): the statement, its declaration, lock and cost. */
    converged: readonly GeneratedStatement[];
  },
): Promise<number> {
  const statementCount = run.files.reduce((sum, file) => sum + file.statements, 0);
  const { rows } = await client.query<{ run_id: string }>(
    `INSERT INTO schema_migrations (bundle_hash, runner_digest, duration_ms, applied_by, forced, file_count, statement_count, drift_overridden, converged)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING run_id`,
    [
      run.bundle.hash,
      run.bundle.runnerDigest,
      Math.round(run.durationMs),
      run.appliedBy,
      run.forced,
      run.files.length,
      statementCount,
      run.driftOverridden,
      JSON.stringify(
        run.converged.map(({ sql, declaredAt, subject, lock, cost, durationMs }) => ({
          sql,
          declaredAt,
          subject,
          lock,
          cost,
          durationMs: Math.round(durationMs ?? 0),
        })),
      ),
    ],
  );
  const runId = Number(rows[0].run_id);
  await client.query(
    `INSERT INTO schema_migration_files (run_id, position, folder, file_name, checksum, statements, duration_ms, transactional)
     SELECT $1, f.position, f.folder, f.file_name, f.checksum, f.statements, f.duration_ms, f.transactional
       FROM jsonb_to_recordset($2::jsonb)
         AS f(position int, folder text, file_name text, checksum text, statements int, duration_ms int, transactional boolean)`,
    [
      runId,
      JSON.stringify(
        run.files.map((f, position) => ({
          position,
          folder: f.file.folder,
          file_name: f.file.name,
          checksum: f.file.checksum,
          statements: f.statements,
          duration_ms: Math.round(f.durationMs),
          transactional: f.file.transactional,
        })),
      ),
    ],
  );
  return runId;
}

interface RunRow {
  run_id: string;
  bundle_hash: string;
  runner_digest: string;
  applied_at: Date;
  duration_ms: number;
  applied_by: string;
  forced: boolean;
}

const RUN_COLUMNS = 'm.run_id, m.bundle_hash, m.runner_digest, m.applied_at, m.duration_ms, m.applied_by, m.forced';

function summary(row: RunRow): RunSummary {
  return {
    runId: Number(row.run_id),
    bundleHash: row.bundle_hash,
    runnerDigest: row.runner_digest,
    appliedAt: row.applied_at,
    durationMs: row.duration_ms,
    appliedBy: row.applied_by,
    forced: row.forced,
  };
}

async function historyExists(client: ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT to_regclass('public.schema_migrations') IS NOT NULL AND to_regclass('public.schema_migration_files') IS NOT NULL AS ok`,
  );
  return rows[0].ok;
}

/** Successful runs, newest first; empty when the history tables do not exist yet. */
export async function readHistory(client: ClientBase, limit = 20): Promise<RecordedRun[]> {
  if (!(await historyExists(client))) return [];
  const { rows } = await client.query<RunRow & { files: RecordedRun['files']; converged: RecordedRun['converged'] }>(
    `SELECT ${RUN_COLUMNS}, coalesce(to_jsonb(m) -> 'converged', '[]'::jsonb) AS converged,
            coalesce((SELECT jsonb_agg(jsonb_build_object('folder', f.folder, 'fileName', f.file_name, 'checksum', f.checksum) ORDER BY f.position)
                        FROM schema_migration_files f WHERE f.run_id = m.run_id), '[]'::jsonb) AS files
       FROM schema_migrations m ORDER BY m.run_id DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({ ...summary(row), files: row.files, converged: row.converged }));
}

/**
 * The last successful run without its files: all `apply` needs to find its bundle already
 * applied. One query, on the path every re-run of a deployed bundle takes; it runs outside any
 * transaction, so a missing table only means nothing was recorded yet.
 */
export async function latestRun(client: ClientBase): Promise<RunSummary | undefined> {
  try {
    const { rows } = await client.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM schema_migrations m ORDER BY m.run_id DESC LIMIT 1`);
    return rows[0] && summary(rows[0]);
  } catch (error) {
    if ((error as DatabaseError).code === UNDEFINED_TABLE) return undefined;
    throw error;
  }
}

/**
 * Whether `run` applied this bundle: the same bundle hash; or, for a runner outside a Job, the
 * same runner build and the same files byte for byte. A Job's hash also covers the image it ran
 * on (MIGRATION_RUNNER_IMAGE), which a runner run by hand does not know.
 */
export function appliedThisBundle(run: RecordedRun | undefined, bundle: Bundle): boolean {
  if (!run) return false;
  if (run.bundleHash === bundle.hash) return true;
  if (bundle.runnerImage !== undefined || run.runnerDigest !== bundle.runnerDigest) return false;
  const { files, missingOnDisk } = compareWithRun(bundle, run);
  return missingOnDisk.length === 0 && files.every((file) => file.state === 'unchanged');
}

export type FileState = 'unchanged' | 'changed' | 'new';

/** How each file on disk compares with what the last run applied, and what that run had that disk lacks. */
export function compareWithRun(bundle: Bundle, run: RecordedRun | undefined): { files: { name: string; state: FileState }[]; missingOnDisk: string[] } {
  const applied = new Map((run?.files ?? []).map((f) => [`${f.folder}/${f.fileName}`, f.checksum]));
  const files = bundle.files.map((file) => {
    const checksum = applied.get(displayName(file));
    const state: FileState = checksum === undefined ? 'new' : checksum === file.checksum ? 'unchanged' : 'changed';
    return { name: displayName(file), state };
  });
  const onDisk = new Set(bundle.files.map(displayName));
  return { files, missingOnDisk: [...applied.keys()].filter((name) => !onDisk.has(name)) };
}

/**
 * Why applying this bundle would roll the database back, if it would: the bundle was applied
 * before and superseded since, it lacks files the last run applied, or a file is back to a
 * version an earlier run had after a newer one ran (an outdated checkout, an old Job's pod).
 */
export async function findStaleness(client: ClientBase, bundle: Bundle): Promise<string[]> {
  const history = await readHistory(client, 1);
  const latest = history[0];
  if (!latest) return [];
  const reasons: string[] = [];
  const newer = `bundle ${latest.bundleHash}, applied ${latest.appliedAt.toISOString()} by ${latest.appliedBy}`;
  const earlier = await client.query<{ applied_at: Date }>(
    'SELECT max(applied_at) AS applied_at FROM schema_migrations WHERE bundle_hash = $1 AND run_id < $2',
    [bundle.hash, latest.runId],
  );
  if (earlier.rows[0].applied_at) {
    reasons.push(`this bundle was applied ${earlier.rows[0].applied_at.toISOString()} and has been superseded by ${newer}`);
  }
  const { missingOnDisk, files } = compareWithRun(bundle, latest);
  if (missingOnDisk.length > 0) {
    reasons.push(`it lacks ${missingOnDisk.length === 1 ? 'a file' : 'files'} the database has already applied (in ${newer}): ${missingOnDisk.join(', ')}`);
  }
  const changed = bundle.files.filter((_, i) => files[i].state === 'changed');
  if (changed.length > 0) {
    const { rows } = await client.query<{ folder: string; file_name: string; bundle_hash: string; applied_at: Date }>(
      `SELECT DISTINCT ON (f.folder, f.file_name) f.folder, f.file_name, m.bundle_hash, m.applied_at
         FROM schema_migration_files f JOIN schema_migrations m USING (run_id)
         JOIN jsonb_to_recordset($1::jsonb) AS c(folder text, file_name text, checksum text)
           ON c.folder = f.folder AND c.file_name = f.file_name AND c.checksum = f.checksum
        WHERE m.run_id < $2
        ORDER BY f.folder, f.file_name, m.run_id DESC`,
      [JSON.stringify(changed.map((file) => ({ folder: file.folder, file_name: file.name, checksum: file.checksum }))), latest.runId],
    );
    for (const row of rows) {
      reasons.push(
        `${row.folder}/${row.file_name} is the version bundle ${row.bundle_hash} applied ${row.applied_at.toISOString()}; the database has a newer one (from ${newer})`,
      );
    }
  }
  return reasons;
}

/** A committed run that applied a file as it is now, for drift messages. */
export type CheckedRun = Pick<RunSummary, 'runId' | 'bundleHash' | 'appliedAt' | 'appliedBy'>;

/**
 * The files of `bundle` whose present bytes a committed run applied with its drift check in
 * force (not overridden by --drift warn), where every file that run applied after them is still
 * in the bundle unchanged. Such a run committed only once everything the bundle now declares
 * from that file existed, so whatever of it is missing now was changed after that run, outside
 * migrations. Keyed by "folder/name"; the newest such run per file.
 */
export async function checkedRuns(client: ClientBase, bundle: Bundle): Promise<Map<string, CheckedRun>> {
  const exists = await client.query<{ ok: boolean }>(`SELECT to_regclass('public.schema_migration_files') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return new Map();
  // to_jsonb: a history written by an older runner lacks drift_overridden until its next run adds it.
  const { rows } = await client.query<{ folder: string; file_name: string; run_id: string; bundle_hash: string; applied_at: Date; applied_by: string }>(
    `WITH present AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(folder text, file_name text, checksum text))
     SELECT DISTINCT ON (f.folder, f.file_name) f.folder, f.file_name, m.run_id, m.bundle_hash, m.applied_at, m.applied_by
       FROM schema_migration_files f
       JOIN schema_migrations m USING (run_id)
       JOIN present p USING (folder, file_name, checksum)
      WHERE NOT coalesce((to_jsonb(m) ->> 'drift_overridden')::boolean, false)
        AND NOT EXISTS (SELECT 1 FROM schema_migration_files later
                         WHERE later.run_id = f.run_id AND later.position > f.position
                           AND NOT EXISTS (SELECT 1 FROM present p2 WHERE (p2.folder, p2.file_name, p2.checksum) = (later.folder, later.file_name, later.checksum)))
      ORDER BY f.folder, f.file_name, m.run_id DESC`,
    [JSON.stringify(bundle.files.map((file) => ({ folder: file.folder, file_name: file.name, checksum: file.checksum })))],
  );
  return new Map(
    rows.map((row) => [
      `${row.folder}/${row.file_name}`,
      { runId: Number(row.run_id), bundleHash: row.bundle_hash, appliedAt: row.applied_at, appliedBy: row.applied_by },
    ]),
  );
}
