import type { Db } from '../repositories/db';
import { countByStatus, gpuTypeUsage, IN_USE_STATUSES, WAITING_STATUSES } from '../repositories/reservations';

export interface GpuTypeAvailability {
  readonly gpu_type: string;
  readonly total: number;
  /** total minus in_use, never below 0 (reservations can outnumber a shrunk cluster). */
  readonly available: number;
  readonly in_use: number;
  readonly queued: number;
  readonly max_per_node: number;
}

export function capacityService(deps: { db: Db }) {
  async function byGpuType(): Promise<Record<string, GpuTypeAvailability>> {
    const rows = await gpuTypeUsage(deps.db);
    return Object.fromEntries(
      rows.map((r) => [
        r.gpu_type,
        { gpu_type: r.gpu_type, total: r.total, available: Math.max(0, r.total - r.in_use), in_use: r.in_use, queued: r.queued, max_per_node: r.max_per_node },
      ]),
    );
  }

  return {
    async availability() {
      return { availability: await byGpuType(), timestamp: new Date() };
    },

    /** Cluster totals are the sums over active GPU types, so they always add up to by_gpu_type. */
    async clusterStatus() {
      const [types, counts] = await Promise.all([byGpuType(), countByStatus(deps.db, [...IN_USE_STATUSES, ...WAITING_STATUSES])]);
      const sum = (pick: (t: GpuTypeAvailability) => number) => Object.values(types).reduce((n, t) => n + pick(t), 0);
      return {
        total_gpus: sum((t) => t.total),
        available_gpus: sum((t) => t.available),
        in_use_gpus: sum((t) => t.in_use),
        queued_gpus: sum((t) => t.queued),
        active_reservations: counts.active,
        preparing_reservations: counts.preparing,
        queued_reservations: counts.queued,
        pending_reservations: counts.pending,
        by_gpu_type: types,
        timestamp: new Date(),
      };
    },
  };
}

export type CapacityService = ReturnType<typeof capacityService>;
