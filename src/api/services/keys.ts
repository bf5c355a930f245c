import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../repositories/db';
import { insertKey } from '../repositories/keys';

/** What a client sees exactly once, when a key is made. */
export interface IssuedKey {
  readonly api_key: string;
  readonly key_prefix: string;
  readonly user_id: number;
  readonly username: string;
  readonly expires_at: Date;
}

/** Keys are 64 random bytes as base64url (86 characters); only their sha256 is stored. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

export async function issueKey(
  db: Db,
  user: { user_id: number; username: string },
  ttlHours: number,
  description: string,
): Promise<IssuedKey> {
  const apiKey = randomBytes(64).toString('base64url');
  const keyPrefix = apiKey.slice(0, 8);
  const { expires_at } = await insertKey(db, { userId: user.user_id, keyHash: hashApiKey(apiKey), keyPrefix, ttlHours, description });
  return { api_key: apiKey, key_prefix: keyPrefix, user_id: user.user_id, username: user.username, expires_at };
}
