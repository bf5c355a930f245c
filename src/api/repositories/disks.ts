import type { Db } from './db';

export interface DiskRow {
  readonly disk_name: string;
  readonly user_id: string;
  readonly size_gb: number | null;
  readonly created_at: Date | null;
  readonly last_used: Date | null;
  readonly in_use: boolean | null;
  readonly reservation_id: string | null;
  readonly is_backing_up: boolean | null;
  readonly is_deleted: boolean | null;
  /** `YYYY-MM-DD`: the pool parses DATE as text, never as a local-time Date. */
  readonly delete_date: string | null;
  readonly snapshot_count: number | null;
  readonly pending_snapshot_count: number | null;
  readonly operation_id: string | null;
  readonly operation_status: string | null;
  readonly operation_error: string | null;
  readonly last_updated: Date | null;
}

const COLUMNS = `disk_name, user_id, size_gb, created_at, last_used, in_use, reservation_id, is_backing_up, is_deleted,
  delete_date, snapshot_count, pending_snapshot_count, operation_id, operation_status, operation_error, last_updated`;

/** The owner's disks that are not deleted, newest first. */
export async function listDisks(db: Db, owner: string): Promise<DiskRow[]> {
  const { rows } = await db.query<DiskRow>(
    `SELECT ${COLUMNS} FROM disks WHERE user_id = $1 AND NOT coalesce(is_deleted, false) ORDER BY created_at DESC NULLS LAST, disk_name`,
    [owner],
  );
  return rows;
}

export async function findDisk(db: Db, owner: string, diskName: string): Promise<DiskRow | undefined> {
  const { rows } = await db.query<DiskRow>(`SELECT ${COLUMNS} FROM disks WHERE user_id = $1 AND disk_name = $2`, [owner, diskName]);
  return rows[0];
}
