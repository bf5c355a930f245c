import type { ClientBase } from 'pg';
import { inTransaction, type Db } from './db';

/**
 * PGMQ, through the three functions every PGMQ 1.x has (create, send, list_queues), so the
 * API runs unchanged on the real extension and on the tests' stand-in.
 */

/** Sends one JSON message; returns PGMQ's message id. */
export async function sendMessage(db: Db, queue: string, message: Record<string, unknown>): Promise<string> {
  const { rows } = await db.query<{ msg_id: string }>(`SELECT pgmq.send($1::text, $2::jsonb) AS msg_id`, [queue, JSON.stringify(message)]);
  return rows[0].msg_id;
}

/** Which of `names` exist as queues. */
export async function existingQueues(db: Db, names: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ queue_name: string }>(`SELECT queue_name::text AS queue_name FROM pgmq.list_queues() WHERE queue_name = ANY($1::text[])`, [
    names,
  ]);
  return rows.map((r) => r.queue_name);
}

/** How long a starting API waits for another one creating the queues: bounded, never forever. */
const QUEUE_LOCK_TIMEOUT = '30s';

/**
 * Creates the queues that do not exist yet and returns their names. Replicas start together,
 * and concurrent `pgmq.create` calls race inside PostgreSQL (two CREATE TABLE IF NOT EXISTS of
 * one name: one fails on a unique catalog index), so creation is serialised by a
 * transaction-scoped advisory lock. Queues that exist are not re-created: create would still
 * take DDL locks on their tables, stalling the sends of replicas already serving.
 */
export async function ensureQueues(client: ClientBase, names: readonly string[]): Promise<string[]> {
  return inTransaction(client, async (tx) => {
    await tx.query(`SET LOCAL lock_timeout = '${QUEUE_LOCK_TIMEOUT}'`);
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('gpu-dev:pgmq-queues', 0))`);
    const existing = await existingQueues(tx, names);
    const missing = names.filter((name) => !existing.includes(name));
    for (const name of missing) await tx.query(`SELECT pgmq.create($1::text)`, [name]);
    return missing;
  });
}
