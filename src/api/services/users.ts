import type { Db } from '../repositories/db';
import { findUserByUsername, insertUser, type UserRow } from '../repositories/users';

/**
 * Users, as the admin command, `npm run local` and the seed make and find them: the one way in
 * to the users repository outside a request.
 */

/** Creates the user; undefined when one of that name exists (nothing is changed then). */
export function createUser(db: Db, username: string, email: string | null): Promise<UserRow | undefined> {
  return insertUser(db, username, email);
}

export function findUser(db: Db, username: string): Promise<UserRow | undefined> {
  return findUserByUsername(db, username);
}

/** The user of that name, created if there is none (a development user). */
export async function ensureUser(db: Db, username: string, email: string | null): Promise<UserRow> {
  const user = (await findUserByUsername(db, username)) ?? (await insertUser(db, username, email));
  if (!user) throw new Error(`could not create the user "${username}"`);
  return user;
}
