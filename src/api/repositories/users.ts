import type { Db } from './db';

export interface UserRow {
  readonly user_id: number;
  readonly username: string;
  readonly email: string | null;
  readonly is_active: boolean;
}

/** Inserts the user; undefined when the username is taken. */
export async function insertUser(db: Db, username: string, email: string | null): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO api_users (username, email) VALUES ($1, $2)
     ON CONFLICT (username) DO NOTHING
     RETURNING user_id, username, email, is_active`,
    [username, email],
  );
  return rows[0];
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`SELECT user_id, username, email, is_active FROM api_users WHERE username = $1`, [username]);
  return rows[0];
}
