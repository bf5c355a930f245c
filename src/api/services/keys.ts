import { createHash, randomBytes } from 'node:crypto';
import type { ApiConfig } from '../config';
import { forbidden } from '../errors';
import type { TransactionalDb } from '../repositories/db';
import {
  insertKey,
  lockUserKeys,
  revokeActiveKey,
  revokeKeyAndRotations,
  revokeOldestActiveKeys,
  rotatedFromDescription,
  type RevokedKey,
} from '../repositories/keys';

/** What a client sees exactly once, when a key is made. */
export interface IssuedKey {
  readonly api_key: string;
  readonly key_prefix: string;
  readonly user_id: number;
  readonly username: string;
  readonly expires_at: Date;
}

/** How long keys live and how many one user may hold. */
export type KeyPolicy = Pick<ApiConfig, 'apiKeyTtlHours' | 'maxActiveKeys'>;

/** Keys are 64 random bytes as base64url (86 characters); only their sha256 is stored. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/**
 * Issues a key for the user, in one transaction: a rotation first revokes the key it replaces
 * (refused with 403 if that key was revoked or rotated meanwhile, so one key yields one
 * successor), then the user's oldest usable keys beyond `maxActiveKeys` are revoked. Returns
 * the key and the keys revoked for the limit.
 */
export async function issueKey(
  db: TransactionalDb,
  user: { user_id: number; username: string },
  policy: KeyPolicy,
  origin: { readonly description: string } | { readonly rotatedFrom: number },
): Promise<{ issued: IssuedKey; overLimit: RevokedKey[] }> {
  const apiKey = randomBytes(64).toString('base64url');
  const keyPrefix = apiKey.slice(0, 8);
  return db.transaction(async (tx) => {
    await lockUserKeys(tx, user.user_id);
    if ('rotatedFrom' in origin && !(await revokeActiveKey(tx, origin.rotatedFrom))) throw forbidden('API key has been revoked');
    const description = 'rotatedFrom' in origin ? rotatedFromDescription(origin.rotatedFrom) : origin.description;
    const { expires_at } = await insertKey(tx, { userId: user.user_id, keyHash: hashApiKey(apiKey), keyPrefix, ttlHours: policy.apiKeyTtlHours, description });
    const overLimit = await revokeOldestActiveKeys(tx, user.user_id, policy.maxActiveKeys);
    return { issued: { api_key: apiKey, key_prefix: keyPrefix, user_id: user.user_id, username: user.username, expires_at }, overLimit };
  });
}

/** Revokes the key and every key rotated from it, under the user's lock so no rotation slips past. */
export function revokeKey(db: TransactionalDb, key: { key_id: number; user_id: number }): Promise<RevokedKey[]> {
  return db.transaction(async (tx) => {
    await lockUserKeys(tx, key.user_id);
    return revokeKeyAndRotations(tx, key.key_id);
  });
}
