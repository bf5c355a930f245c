import type { Db } from './db';

export interface ReservationRow {
  readonly reservation_id: string;
  readonly user_id: string;
  readonly status: string;
  readonly gpu_type: string | null;
  readonly gpu_count: number | null;
  readonly instance_type: string | null;
  readonly duration_hours: number;
  readonly created_at: Date;
  readonly expires_at: Date | null;
  readonly name: string | null;
  readonly pod_name: string | null;
  readonly node_ip: string | null;
  readonly node_port: number | null;
  readonly ssh_command: string | null;
  readonly jupyter_enabled: boolean | null;
  readonly jupyter_url: string | null;
  readonly jupyter_port: number | null;
  readonly jupyter_token: string | null;
  readonly jupyter_error: string | null;
  readonly github_user: string | null;
}

const COLUMNS = `reservation_id, user_id, status, gpu_type, gpu_count, instance_type, duration_hours, created_at, expires_at,
  name, pod_name, node_ip, node_port, ssh_command, jupyter_enabled, jupyter_url, jupyter_port, jupyter_token,
  jupyter_error, github_user`;

/** One owner's reservations, newest first, optionally only some statuses; with the total count. */
export async function listReservations(
  db: Db,
  owner: string,
  filter: { statuses: readonly string[] | null; limit: number; offset: number },
): Promise<{ rows: ReservationRow[]; total: number }> {
  const where = `user_id = $1 AND ($2::text[] IS NULL OR status = ANY($2::text[]))`;
  const [page, count] = await Promise.all([
    db.query<ReservationRow>(`SELECT ${COLUMNS} FROM reservations WHERE ${where} ORDER BY created_at DESC, reservation_id LIMIT $3 OFFSET $4`, [
      owner,
      filter.statuses,
      filter.limit,
      filter.offset,
    ]),
    db.query<{ total: number }>(`SELECT count(*)::int AS total FROM reservations WHERE ${where}`, [owner, filter.statuses]),
  ]);
  return { rows: page.rows, total: count.rows[0].total };
}

export async function findReservation(db: Db, reservationId: string): Promise<ReservationRow | undefined> {
  const { rows } = await db.query<ReservationRow>(`SELECT ${COLUMNS} FROM reservations WHERE reservation_id = $1`, [reservationId]);
  return rows[0];
}

export async function reservationOwner(db: Db, reservationId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ user_id: string }>(`SELECT user_id FROM reservations WHERE reservation_id = $1`, [reservationId]);
  return rows[0]?.user_id;
}

/** GPUs and reservation counts per active GPU type; reservations match types case-insensitively. */
export interface GpuTypeUsageRow {
  readonly gpu_type: string;
  readonly total: number;
  readonly max_per_node: number;
  /** GPUs of active or preparing reservations. */
  readonly in_use: number;
  /** GPUs of queued or pending reservations. */
  readonly queued: number;
}

export const IN_USE_STATUSES = ['active', 'preparing'] as const;
export const WAITING_STATUSES = ['queued', 'pending'] as const;

export async function gpuTypeUsage(db: Db): Promise<GpuTypeUsageRow[]> {
  const { rows } = await db.query<GpuTypeUsageRow>(
    `SELECT g.gpu_type,
            coalesce(g.total_cluster_gpus, 0) AS total,
            coalesce(g.max_per_node, 0) AS max_per_node,
            coalesce(sum(r.gpu_count) FILTER (WHERE r.status = ANY($1::text[])), 0)::int AS in_use,
            coalesce(sum(r.gpu_count) FILTER (WHERE r.status = ANY($2::text[])), 0)::int AS queued
       FROM gpu_types g
       LEFT JOIN reservations r ON lower(r.gpu_type) = lower(g.gpu_type) AND r.status = ANY($1::text[] || $2::text[])
      WHERE g.is_active
      GROUP BY g.gpu_type, g.total_cluster_gpus, g.max_per_node
      ORDER BY g.gpu_type`,
    [IN_USE_STATUSES, WAITING_STATUSES],
  );
  return rows;
}

/** Number of reservations in each of `statuses` (zero included). */
export async function countByStatus(db: Db, statuses: readonly string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    `SELECT s.status, count(r.reservation_id)::int AS n
       FROM unnest($1::text[]) AS s(status) LEFT JOIN reservations r ON r.status = s.status
      GROUP BY s.status`,
    [statuses],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
