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

export async function revokeKey(db: Db, keyId: number): Promise<void> {
  await db.query(`UPDATE api_keys SET is_active = false WHERE key_id = $1`, [keyId]);
}
