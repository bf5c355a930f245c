import type { ClientBase } from 'pg';
import { displayName, type Bundle, type BundleFile } from '../kernel/bundle';

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
    statement_count INTEGER NOT NULL
);
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

export interface RecordedRun {
  readonly runId: number;
  readonly bundleHash: string;
  readonly runnerDigest: string;
  readonly appliedAt: Date;
  readonly durationMs: number;
  readonly appliedBy: string;
  readonly forced: boolean;
  readonly files: readonly { folder: string; fileName: string; checksum: string }[];
}

export async function ensureHistoryTables(client: ClientBase): Promise<void> {
  await client.query(CREATE_HISTORY);
}

export async function recordRun(
  client: ClientBase,
  run: { bundle: Bundle; files: readonly FileRun[]; durationMs: number; appliedBy: string; forced: boolean },
): Promise<number> {
  const statementCount = run.files.reduce((sum, file) => sum + file.statements, 0);
  const { rows } = await client.query<{ run_id: string }>(
    `INSERT INTO schema_migrations (bundle_hash, runner_digest, duration_ms, applied_by, forced, file_count, statement_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING run_id`,
    [run.bundle.hash, run.bundle.runnerDigest, Math.round(run.durationMs), run.appliedBy, run.forced, run.files.length, statementCount],
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

/** Successful runs, newest first; empty when the history tables do not exist yet. */
export async function readHistory(client: ClientBase, limit = 20): Promise<RecordedRun[]> {
  const exists = await client.query<{ ok: boolean }>(
    `SELECT to_regclass('public.schema_migrations') IS NOT NULL AND to_regclass('public.schema_migration_files') IS NOT NULL AS ok`,
  );
  if (!exists.rows[0].ok) return [];
  const { rows } = await client.query<{
    run_id: string;
    bundle_hash: string;
    runner_digest: string;
    applied_at: Date;
    duration_ms: number;
    applied_by: string;
    forced: boolean;
    files: { folder: string; fileName: string; checksum: string }[];
  }>(
    `SELECT m.run_id, m.bundle_hash, m.runner_digest, m.applied_at, m.duration_ms, m.applied_by, m.forced,
            coalesce((SELECT jsonb_agg(jsonb_build_object('folder', f.folder, 'fileName', f.file_name, 'checksum', f.checksum) ORDER BY f.position)
                        FROM schema_migration_files f WHERE f.run_id = m.run_id), '[]'::jsonb) AS files
       FROM schema_migrations m ORDER BY m.run_id DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({
    runId: Number(row.run_id),
    bundleHash: row.bundle_hash,
    runnerDigest: row.runner_digest,
    appliedAt: row.applied_at,
    durationMs: row.duration_ms,
    appliedBy: row.applied_by,
    forced: row.forced,
    files: row.files,
  }));
}

export type FileState = 'unchanged' | 'changed' | 'new';

/** How each file on disk compares with what the last run applied, and what that run had that disk lacks. */
export function compareWithRun(
  bundle: Bundle,
  run: RecordedRun | undefined,
): { files: { name: string; state: FileState }[]; missingOnDisk: string[] } {
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
      reasons.push(`${row.folder}/${row.file_name} is the version bundle ${row.bundle_hash} applied ${row.applied_at.toISOString()}; the database has a newer one (from ${newer})`);
    }
  }
  return reasons;
}
