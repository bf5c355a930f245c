import { randomUUID } from 'node:crypto';
import { conflict, notFound } from '../errors';
import type { Db } from '../repositories/db';
import { findDisk, listDisks, type DiskRow } from '../repositories/disks';
import { sendMessage } from '../repositories/queue';
import type { Caller } from './auth';

/** Deleted disks are kept this long (their snapshots can still be restored) before removal. */
const DELETE_AFTER_DAYS = 30;

/** Operation statuses after which the job processor does nothing more. */
const FINAL_OPERATION_STATUSES = ['completed', 'failed'];

function diskView(row: DiskRow) {
  return {
    disk_name: row.disk_name,
    user_id: row.user_id,
    size_gb: row.size_gb,
    created_at: row.created_at,
    last_used: row.last_used,
    in_use: row.in_use ?? false,
    reservation_id: row.reservation_id,
    is_backing_up: row.is_backing_up ?? false,
    is_deleted: row.is_deleted ?? false,
    delete_date: row.delete_date,
    snapshot_count: row.snapshot_count ?? 0,
    pending_snapshot_count: row.pending_snapshot_count ?? 0,
    operation_id: row.operation_id,
    operation_status: row.operation_status,
  };
}

/** Disks are owned by username, like reservations. Create and delete are carried out by the job processor. */
export function disksService(deps: { db: Db; diskQueueName: string }) {
  async function ownDisk(caller: Caller, diskName: string): Promise<DiskRow> {
    const row = await findDisk(deps.db, caller.username, diskName);
    if (!row) throw notFound(`Disk '${diskName}' not found`);
    return row;
  }

  return {
    async list(caller: Caller) {
      const rows = await listDisks(deps.db, caller.username);
      return { disks: rows.map(diskView), total: rows.length };
    },

    async get(caller: Caller, diskName: string) {
      return diskView(await ownDisk(caller, diskName));
    },

    async operation(caller: Caller, diskName: string, operationId: string) {
      const row = await ownDisk(caller, diskName);
      if (row.operation_id !== operationId) throw notFound(`Operation '${operationId}' not found for disk '${diskName}'`);
      return {
        operation_id: operationId,
        disk_name: row.disk_name,
        status: row.operation_status ?? 'unknown',
        error: row.operation_error,
        completed: FINAL_OPERATION_STATUSES.includes(row.operation_status ?? ''),
        is_deleted: row.is_deleted ?? false,
        delete_date: row.delete_date,
        created_at: row.created_at,
        last_updated: row.last_updated,
      };
    },

    /** (user, disk name) is unique in `disks`, deleted disks included: a taken name would fail in the processor. */
    async create(caller: Caller, diskName: string, sizeGb: number | null) {
      const existing = await findDisk(deps.db, caller.username, diskName);
      if (existing) {
        throw conflict(
          existing.is_deleted
            ? `Disk '${diskName}' is marked for deletion${existing.delete_date ? ` (on ${existing.delete_date})` : ''}; choose another name`
            : `Disk '${diskName}' already exists`,
        );
      }
      const operationId = randomUUID();
      const requestedAt = new Date().toISOString();
      await sendMessage(deps.db, deps.diskQueueName, {
        action: 'create_disk',
        operation_id: operationId,
        user_id: caller.username,
        disk_name: diskName,
        size_gb: sizeGb,
        requested_at: requestedAt,
      });
      return { operation_id: operationId, disk_name: diskName, action: 'create', message: 'Disk creation request queued', requested_at: requestedAt };
    },

    async delete(caller: Caller, diskName: string) {
      const disk = await ownDisk(caller, diskName);
      if (disk.is_deleted) throw notFound(`Disk '${diskName}' not found (already marked for deletion)`);
      if (disk.in_use) throw conflict(`Disk '${diskName}' is in use by reservation ${disk.reservation_id ?? '(unknown)'}; cancel it first`);
      const operationId = randomUUID();
      const now = new Date();
      const deleteDate = new Date(now.getTime() + DELETE_AFTER_DAYS * 86_400_000).toISOString().slice(0, 10);
      await sendMessage(deps.db, deps.diskQueueName, {
        action: 'delete_disk',
        operation_id: operationId,
        user_id: caller.username,
        disk_name: diskName,
        delete_date: deleteDate,
        requested_at: now.toISOString(),
      });
      return {
        operation_id: operationId,
        disk_name: diskName,
        action: 'delete',
        message: `Disk deletion request queued; the disk will be deleted on ${deleteDate}`,
        requested_at: now.toISOString(),
        delete_date: deleteDate,
      };
    },
  };
}

export type DisksService = ReturnType<typeof disksService>;
