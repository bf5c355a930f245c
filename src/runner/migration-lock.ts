import type { Client } from 'pg';
import { DEFAULT_NAMESPACE } from '../kernel/contract';
import { ExitCode } from '../kernel/exit-codes';
import { formatSeconds, sleep, type Logger } from '../kernel/log';
import { MigrationError } from './errors';

/** One advisory lock key for every runner of every bundle: runs never overlap. */
const LOCK_KEY = "hashtextextended('gpu-dev:schema-migration', 0)";
const ADVISORY_LOCK_IS_OURS = `l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = ${LOCK_KEY}`;

/** SQL: true while this session holds the migration lock (the run's guard checks it). */
export const HOLDS_MIGRATION_LOCK = `EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = pg_backend_pid() AND ${ADVISORY_LOCK_IS_OURS})`;

export interface LockWaitPolicy {
  /** How long a runner waits for another runner to finish before giving up. */
  readonly timeoutMs: number;
  readonly pollInitialMs: number;
  readonly pollMaxMs: number;
  /** Where the migration Jobs are, for the kubectl command in the message: the pod's own namespace (POD_NAMESPACE). */
  readonly namespace: string;
}

export const DEFAULT_LOCK_WAIT: LockWaitPolicy = { timeoutMs: 300_000, pollInitialMs: 250, pollMaxMs: 5000, namespace: DEFAULT_NAMESPACE };

/**
 * Runs `work` holding the migration advisory lock. The lock is taken by polling
 * pg_try_advisory_lock outside any transaction, so a waiting runner holds no snapshot and no
 * lock that could block anyone; it is a session lock, released in `finally` (and by
 * PostgreSQL if the connection dies).
 */
export async function withMigrationLock<T>(client: Client, policy: LockWaitPolicy, log: Logger, work: () => Promise<T>): Promise<T> {
  await acquire(client, policy, log);
  try {
    return await work();
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => undefined);
  }
}

async function acquire(client: Client, policy: LockWaitPolicy, log: Logger): Promise<void> {
  const started = Date.now();
  let delay = policy.pollInitialMs;
  for (let attempt = 1; ; attempt++) {
    const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`);
    if (rows[0].locked) {
      if (attempt > 1) log.info(`lock: migration lock acquired after ${formatSeconds(Date.now() - started)}`);
      return;
    }
    const waited = Date.now() - started;
    const holder = await describeHolder(client);
    if (waited + delay > policy.timeoutMs) {
      throw new MigrationError(
        `another migration runner (${holder}) held the migration lock for the whole ${formatSeconds(policy.timeoutMs)} this runner may wait (--lock-wait); ` +
          `check \`kubectl get jobs -n ${policy.namespace} | grep db-migration\` for a Job still running, then run again`,
        ExitCode.migrationLockBusy,
      );
    }
    log.info(
      `lock: migration lock held by ${holder}; waiting (attempt ${attempt}, ${formatSeconds(waited)} of ${formatSeconds(policy.timeoutMs)}), next try in ${formatSeconds(delay)}`,
    );
    await sleep(delay);
    delay = Math.min(delay * 2, policy.pollMaxMs);
  }
}

async function describeHolder(client: Client): Promise<string> {
  const { rows } = await client.query<{ pid: number; application_name: string; seconds: number | null }>(
    `SELECT a.pid, a.application_name, extract(epoch FROM now() - a.backend_start)::int AS seconds
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE ${ADVISORY_LOCK_IS_OURS}`,
  );
  if (rows.length === 0) return 'a session that just released it';
  const { pid, application_name, seconds: age } = rows[0];
  return `pid ${pid}${application_name ? `, ${application_name}` : ''}, connected ${age ?? '?'}s ago`;
}
