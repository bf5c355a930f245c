import type { Client, ClientBase } from 'pg';
import { clientDb } from '../api/repositories/db';
import { issueKey, type IssuedKey } from '../api/services/keys';
import { createUser } from '../api/services/users';

/** Rows the API reads, written as their real writers would: for the bench and the tests. */

/** A user and a fresh key for it, made by the same code the admin command uses. */
export async function createUserWithKey(client: ClientBase, username: string, ttlHours = 2): Promise<IssuedKey> {
  const db = clientDb(client);
  const user = await createUser(db, username, `${username}@example.com`);
  if (!user) throw new Error(`user ${username} exists`);
  // The limit is moot: a new user's only key.
  return (await issueKey(db, user, { apiKeyTtlHours: ttlHours, maxActiveKeys: 1 }, { description: 'test' })).issued;
}

/** Inserts a reservation as the job processor would; `created` is minutes ago. */
export async function insertReservation(
  client: Client,
  row: { id: string; user: string; status: string; gpu_type?: string | null; gpu_count?: number | null; created?: number; [column: string]: unknown },
): Promise<void> {
  const { id, user, status, created = 0, ...rest } = row;
  const columns = { reservation_id: id, user_id: user, status, duration_hours: 2, created_at: new Date(Date.now() - created * 60_000), ...rest };
  const names = Object.keys(columns);
  await client.query(`INSERT INTO reservations (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(columns));
}
