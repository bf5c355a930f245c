import type { Db } from './db';

/** A key looked up by its hash, with what authentication decides on. */
export interface KeyLookup {
  readonly key_id: number;
  readonly user_id: number;
  readonly username: string;
  readonly user_active: boolean;
  readonly key_active: boolean;
  /** Decided by the database clock, the same clock that set expires_at. */
  readonly expired: boolean;
}

export interface KeyRow {
  readonly key_id: number;
  readonly key_prefix: string;
  readonly user_id: number;
  readonly username: string;
  readonly is_active: boolean;
}

export async function findKeyByHash(db: Db, keyHash: string): Promise<KeyLookup | undefined> {
  const { rows } = await db.query<KeyLookup>(
    `SELECT k.key_id, u.user_id, u.username,
            coalesce(u.is_active, false) AS user_active,
            coalesce(k.is_active, false) AS key_active,
            coalesce(k.expires_at <= now(), false) AS expired
       FROM api_keys k JOIN api_users u ON u.user_id = k.user_id
      WHERE k.key_hash = $1`,
    [keyHash],
  );
  return rows[0];
}

export async function touchKey(db: Db, keyId: number): Promise<void> {
  await db.query(`UPDATE api_keys SET last_used_at = now() WHERE key_id = $1`, [keyId]);
}

export async function insertKey(
  db: Db,
  key: { userId: number; keyHash: string; keyPrefix: string; ttlHours: number; description: string },
): Promise<{ key_id: number; expires_at: Date }> {
  const { rows } = await db.query<{ key_id: number; expires_at: Date }>(
    `INSERT INTO api_keys (user_id, key_hash, key_prefix, expires_at, description)
     VALUES ($1, $2, $3, now() + make_interval(hours => $4), $5)
     RETURNING key_id, expires_at`,
    [key.userId, key.keyHash, key.keyPrefix, key.ttlHours, key.description],
  );
  return rows[0];
}

/** Keys whose id is `idOrPrefix` (when it is a number) or whose prefix it is. */
export async function findKeys(db: Db, idOrPrefix: string): Promise<KeyRow[]> {
  const keyId = /^[0-9]{1,9}$/.test(idOrPrefix) ? Number(idOrPrefix) : null;
  const { rows } = await db.query<KeyRow>(
    `SELECT k.key_id, k.key_prefix, k.user_id, u.username, coalesce(k.is_active, false) AS is_active
       FROM api_keys k JOIN api_users u ON u.user_id = k.user_id
      WHERE k.key_prefix = $1 OR k.key_id = $2
      ORDER BY k.key_id`,
    [idOrPrefix, keyId],
  );
  return rows;
}

/** A key revoked by a change, and the key it was rotated from when it was made by a rotation. */
export interface RevokedKey {
  readonly key_id: number;
  readonly key_prefix: string;
  readonly rotated_from: number | null;
}

/**
 * How a key made by rotation records the key it replaced. api_keys has no column for it and its
 * schema is the platform's; `description` is the one free-text field, and this exact text in it
 * is the lineage that revoking follows.
 */
const ROTATED_FROM = 'rotated from key ';

export function rotatedFromDescription(keyId: number): string {
  return `${ROTATED_FROM}${keyId}`;
}

/**
 * Locks the user's row until the transaction ends: every change to a user's keys (issuing,
 * rotating, revoking) takes it first, so they happen one after another and each sees the last.
 */
export async function lockUserKeys(db: Db, userId: number): Promise<void> {
  await db.query(`SELECT 1 FROM api_users WHERE user_id = $1 FOR UPDATE`, [userId]);
}

/** Revokes the key if it is active; false if it was not (revoked, or rotated, meanwhile). */
export async function revokeActiveKey(db: Db, keyId: number): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE api_keys SET is_active = false WHERE key_id = $1 AND is_active`, [keyId]);
  return rowCount === 1;
}

/** Revokes the user's usable keys beyond the `keep` newest (by key_id: the order they were issued in). */
export async function revokeOldestActiveKeys(db: Db, userId: number, keep: number): Promise<RevokedKey[]> {
  const { rows } = await db.query<RevokedKey>(
    `UPDATE api_keys SET is_active = false
      WHERE key_id IN (SELECT key_id FROM api_keys
                        WHERE user_id = $1 AND is_active AND (expires_at IS NULL OR expires_at > now())
                        ORDER BY key_id DESC OFFSET $2)
      RETURNING key_id, key_prefix, NULL::int AS rotated_from`,
    [userId, keep],
  );
  return rows.sort((a, b) => a.key_id - b.key_id);
}

/**
 * Revokes the key and every key rotated from it, transitively (of the same user); returns those
 * that were still active, oldest first.
 */
export async function revokeKeyAndRotations(db: Db, keyId: number): Promise<RevokedKey[]> {
  const { rows } = await db.query<RevokedKey>(
    `WITH RECURSIVE lineage AS (
       SELECT key_id, user_id, NULL::int AS rotated_from FROM api_keys WHERE key_id = $1
       UNION
       SELECT k.key_id, k.user_id, l.key_id FROM api_keys k JOIN lineage l ON k.user_id = l.user_id AND k.description = $2 || l.key_id
     )
     UPDATE api_keys k SET is_active = false FROM lineage l
      WHERE k.key_id = l.key_id AND k.is_active
      RETURNING k.key_id, k.key_prefix, l.rotated_from`,
    [keyId, ROTATED_FROM],
  );
  return rows.sort((a, b) => a.key_id - b.key_id);
}
