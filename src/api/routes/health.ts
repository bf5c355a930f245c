import { Router } from 'express';
import type { Pool } from 'pg';
import { checkContract, describeContractFailure } from '../../kernel/contract';
import type { Lifecycle } from '../http';
import type { ApiLogger } from '../log';
import { existingQueues } from '../repositories/queue';

/** Liveness must answer within the probe's timeout even when the database hangs. */
const HEALTH_PROBE_TIMEOUT_MS = 1000;

export function healthRouter(deps: {
  pool: Pool;
  queueNames: readonly string[];
  databaseDescription: string;
  namespace: string;
  lifecycle: Lifecycle;
  log: ApiLogger;
}): Router {
  async function probe(): Promise<{ database: string; queue: string }> {
    try {
      const queues = await existingQueues(deps.pool, deps.queueNames);
      return { database: 'healthy', queue: queues.length === deps.queueNames.length ? 'healthy' : 'missing' };
    } catch {
      return { database: 'unhealthy', queue: 'unknown' };
    }
  }

  return Router()
    .get('/health', async (_req, res) => {
      // Always 200: liveness restarts a pod, and restarting cannot fix the database.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<{ database: string; queue: string }>((resolve) => {
        timer = setTimeout(() => resolve({ database: 'timeout', queue: 'unknown' }), HEALTH_PROBE_TIMEOUT_MS);
      });
      const result = await Promise.race([probe(), timeout]);
      clearTimeout(timer);
      const healthy = result.database === 'healthy' && result.queue === 'healthy';
      res.json({ status: healthy ? 'healthy' : 'unhealthy', ...result, timestamp: new Date() });
    })
    .get('/ready', async (_req, res) => {
      if (deps.lifecycle.shuttingDown) {
        res.status(503).json({ status: 'shutting_down', detail: 'the API is shutting down' });
        return;
      }
      // The same one-query check as start-up: a schema broken after start takes the pod out of service.
      let report: Awaited<ReturnType<typeof checkContract>>;
      try {
        const client = await deps.pool.connect();
        try {
          report = await checkContract(client, { pgmq: true });
        } finally {
          client.release();
        }
      } catch (error) {
        deps.log.warn('ready: database unreachable', { error: (error as Error).message });
        res.status(503).json({ status: 'unavailable', detail: 'database unreachable' });
        return;
      }
      if (!report.ok) {
        const detail = describeContractFailure(report, deps.databaseDescription, deps.namespace);
        deps.log.warn('ready: schema check failed', { detail });
        res.status(503).json({ status: 'unavailable', detail });
        return;
      }
      res.json({ status: 'ready' });
    });
}
