import { ForbiddenError, UnauthorizedError } from '../errors';
import type { Db } from '../repositories/db';
import { findKeyByHash, touchKey } from '../repositories/keys';
import { hashApiKey, issueKey, type IssuedKey } from './keys';

/** Who is calling: the user behind a valid key. */
export interface Caller {
  readonly userId: number;
  readonly username: string;
  readonly keyId: number;
}

export function authService(deps: { db: Db; apiKeyTtlHours: number }) {
  return {
    /**
     * `Authorization: Bearer <key>` to the caller. 401: no key, a key of a length no key has,
     * an unknown key. 403: a known key that may not be used, saying why.
     */
    async authenticate(authorization: string | undefined): Promise<Caller> {
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
      if (!match) throw new UnauthorizedError(authorization ? 'Authorization header must be "Bearer <api key>"' : 'Not authenticated');
      const apiKey = match[1];
      if (apiKey.length < 16 || apiKey.length > 256) throw new UnauthorizedError('Invalid API key format');
      const key = await findKeyByHash(deps.db, hashApiKey(apiKey));
      if (!key) throw new UnauthorizedError('Invalid API key');
      if (!key.user_active) throw new ForbiddenError('User account is disabled');
      if (!key.key_active) throw new ForbiddenError('API key has been revoked');
      if (key.expired) throw new ForbiddenError('API key has expired');
      await touchKey(deps.db, key.key_id);
      return { userId: key.user_id, username: key.username, keyId: key.key_id };
    },

    /** A new key for the caller; the current one stays valid until it expires. */
    rotate(caller: Caller): Promise<IssuedKey> {
      return issueKey(deps.db, { user_id: caller.userId, username: caller.username }, deps.apiKeyTtlHours, 'rotated through the API');
    },
  };
}

export type AuthService = ReturnType<typeof authService>;
