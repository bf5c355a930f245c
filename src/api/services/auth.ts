import { forbidden, unauthorized } from '../errors';
import type { TransactionalDb } from '../repositories/db';
import { findKeyByHash, touchKey } from '../repositories/keys';
import { hashApiKey, issueKey, type IssuedKey, type KeyPolicy } from './keys';

/** Who is calling: the user behind a valid key. */
export interface Caller {
  readonly userId: number;
  readonly username: string;
  readonly keyId: number;
}

export function authService(deps: { db: TransactionalDb; keyPolicy: KeyPolicy }) {
  return {
    /**
     * `Authorization: Bearer <key>` to the caller. 401: no key, a key of a length no key has,
     * an unknown key. 403: a known key that may not be used, saying why.
     */
    async authenticate(authorization: string | undefined): Promise<Caller> {
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
      if (!match) throw unauthorized(authorization ? 'Authorization header must be "Bearer <api key>"' : 'Not authenticated');
      const apiKey = match[1];
      if (apiKey.length < 16 || apiKey.length > 256) throw unauthorized('Invalid API key format');
      const key = await findKeyByHash(deps.db, hashApiKey(apiKey));
      if (!key) throw unauthorized('Invalid API key');
      if (!key.user_active) throw forbidden('User account is disabled');
      if (!key.key_active) throw forbidden('API key has been revoked');
      if (key.expired) throw forbidden('API key has expired');
      await touchKey(deps.db, key.key_id);
      return { userId: key.user_id, username: key.username, keyId: key.key_id };
    },

    /**
     * A new key for the caller, replacing the one it called with, which is revoked at once: a
     * chain of rotations has one live key, and revoking any key of it revokes those after it.
     */
    async rotate(caller: Caller): Promise<IssuedKey> {
      const { issued } = await issueKey(deps.db, { user_id: caller.userId, username: caller.username }, deps.keyPolicy, { rotatedFrom: caller.keyId });
      return issued;
    },
  };
}

export type AuthService = ReturnType<typeof authService>;
