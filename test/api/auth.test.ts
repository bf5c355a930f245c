import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, startTestApi, type TestApi } from '../support/api';

describe('API authentication', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  const keysUsed: string[] = [];

  beforeAll(async () => {
    db = await createApiDatabase('api_auth');
    client = await db.connect();
    api = await startTestApi(db, { API_KEY_TTL_HOURS: '5' });
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });

  const availability = (key: string | null, headers?: Record<string, string>) => call(`${api.url}/v1/gpu/availability`, key, { headers });
  async function newKey(username: string) {
    const key = await createUserWithKey(client, username);
    keysUsed.push(key.api_key);
    return key;
  }

  it('when no Authorization header is sent, then 401 "Not authenticated" with WWW-Authenticate: Bearer', async () => {
    const response = await availability(null);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ detail: 'Not authenticated' });
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('when the header is not a Bearer token, then 401 saying the expected form', async () => {
    const response = await availability(null, { authorization: 'Basic YWxpY2U6c2VjcmV0' });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ detail: 'Authorization header must be "Bearer <api key>"' });
  });

  it('when the key is shorter than 16 or longer than 256 characters, then 401 "Invalid API key format"', async () => {
    for (const key of ['k'.repeat(15), 'k'.repeat(257)]) {
      const response = await availability(key);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ detail: 'Invalid API key format' });
    }
  });

  it('when the key has a valid length but is unknown, then 401 "Invalid API key" (at both length limits)', async () => {
    for (const key of ['k'.repeat(16), 'k'.repeat(256)]) {
      const response = await availability(key);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ detail: 'Invalid API key' });
    }
  });

  it('when the key is valid, then 200 and its last_used_at is set to now', async () => {
    const key = await newKey('valid_user');
    const before = await client.query(`SELECT last_used_at FROM api_keys WHERE key_prefix = $1`, [key.key_prefix]);
    expect(before.rows).toEqual([{ last_used_at: null }]);
    const response = await availability(key.api_key);
    expect(response.status).toBe(200);
    const after = await client.query(`SELECT extract(epoch FROM now() - last_used_at) AS age FROM api_keys WHERE key_prefix = $1`, [key.key_prefix]);
    expect(Number(after.rows[0].age)).toBeGreaterThanOrEqual(0);
    expect(Number(after.rows[0].age)).toBeLessThan(5);
  });

  it('when the user is disabled, then 403 "User account is disabled"', async () => {
    const key = await newKey('disabled_user');
    await client.query(`UPDATE api_users SET is_active = false WHERE username = 'disabled_user'`);
    const response = await availability(key.api_key);
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ detail: 'User account is disabled' });
  });

  it('when the key is revoked, then 403 "API key has been revoked"', async () => {
    const key = await newKey('revoked_user');
    await client.query(`UPDATE api_keys SET is_active = false WHERE key_prefix = $1`, [key.key_prefix]);
    const response = await availability(key.api_key);
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ detail: 'API key has been revoked' });
  });

  it('when the key has expired, then 403 "API key has expired" and last_used_at stays unset', async () => {
    const key = await newKey('expired_user');
    await client.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_prefix = $1`, [key.key_prefix]);
    const response = await availability(key.api_key);
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ detail: 'API key has expired' });
    const row = await client.query(`SELECT last_used_at FROM api_keys WHERE key_prefix = $1`, [key.key_prefix]);
    expect(row.rows).toEqual([{ last_used_at: null }]);
  });

  describe('when a key is rotated', () => {
    let old: Awaited<ReturnType<typeof newKey>>;
    let response: Awaited<ReturnType<typeof call>>;
    let fresh: string;
    let rows: Record<string, any>[];
    let freshAnswer: Awaited<ReturnType<typeof call>>;
    let oldAnswer: Awaited<ReturnType<typeof call>>;
    let oldRotation: Awaited<ReturnType<typeof call>>;

    beforeAll(async () => {
      old = await newKey('rotating_user');
      response = await call(`${api.url}/v1/keys/rotate`, old.api_key, { method: 'POST' });
      fresh = response.body.api_key;
      keysUsed.push(fresh);
      rows = (
        await client.query(
          `SELECT key_hash, key_prefix, extract(epoch FROM expires_at - created_at) AS ttl_seconds, expires_at, is_active
             FROM api_keys WHERE user_id = $1 AND key_prefix = $2`,
          [old.user_id, response.body.key_prefix],
        )
      ).rows;
      freshAnswer = await availability(fresh);
      oldAnswer = await availability(old.api_key);
      oldRotation = await call(`${api.url}/v1/keys/rotate`, old.api_key, { method: 'POST' });
    });

    it('then 200 with a new 86-character key, its prefix, the user id and the username', () => {
      expect(response.status).toBe(200);
      const { key_prefix, user_id, username } = response.body;
      expect(fresh).toMatch(/^[A-Za-z0-9_-]{86}$/);
      expect({ key_prefix, user_id, username }).toEqual({ key_prefix: fresh.slice(0, 8), user_id: old.user_id, username: 'rotating_user' });
    });

    it('then the key is stored as its sha256 with its prefix and the configured TTL', () => {
      expect(rows).toHaveLength(1);
      expect(rows[0].key_hash).toBe(createHash('sha256').update(fresh).digest('hex'));
      expect(Math.round(Number(rows[0].ttl_seconds))).toBe(5 * 3600);
      expect(rows[0].expires_at.toISOString()).toBe(response.body.expires_at);
    });

    it('then the key itself is not stored, so it is returned once', () => {
      expect(JSON.stringify(rows)).not.toContain(fresh);
    });

    it('then the new key works', () => {
      expect(freshAnswer.status).toBe(200);
    });

    it('then the old key is refused at once with 403 "API key has been revoked"', () => {
      expect(oldAnswer).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    });

    it('then the old key cannot rotate again', () => {
      expect(oldRotation).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    });
  });

  it('when one key is rotated 20 times at once, then exactly one rotation succeeds, the others get 403, and the user has one active key', async () => {
    const key = await newKey('racing_user');
    const responses = await Promise.all(Array.from({ length: 20 }, () => call(`${api.url}/v1/keys/rotate`, key.api_key, { method: 'POST' })));
    const succeeded = responses.filter((r) => r.status === 200);
    expect(succeeded).toHaveLength(1);
    keysUsed.push(succeeded[0].body.api_key);
    expect(responses.filter((r) => r.status !== 200)).toEqual(
      Array(19).fill(expect.objectContaining({ status: 403, body: { detail: 'API key has been revoked' } })),
    );
    const active = await client.query(`SELECT key_prefix FROM api_keys WHERE user_id = $1 AND is_active`, [key.user_id]);
    expect(active.rows).toEqual([{ key_prefix: succeeded[0].body.key_prefix }]);
  });

  it('when a key is rotated 50 times in a row, each time with the key the last rotation returned, then only the last key is active', async () => {
    let key = (await newKey('chain_user')).api_key;
    for (let i = 0; i < 50; i++) {
      const response = await call(`${api.url}/v1/keys/rotate`, key, { method: 'POST' });
      expect(response.status).toBe(200);
      key = response.body.api_key;
    }
    keysUsed.push(key);
    const { rows } = await client.query(
      `SELECT count(*)::int AS keys, count(*) FILTER (WHERE k.is_active)::int AS active FROM api_keys k JOIN api_users u USING (user_id) WHERE u.username = 'chain_user'`,
    );
    expect(rows).toEqual([{ keys: 51, active: 1 }]);
    expect((await availability(key)).status).toBe(200);
  });

  it('when keys were used, then no log line contains a key or an Authorization header', () => {
    const logs = JSON.stringify(api.logs);
    expect(keysUsed.length).toBeGreaterThan(5);
    for (const key of keysUsed) expect(logs).not.toContain(key);
    expect(logs).not.toMatch(/bearer|authorization/i);
    expect(api.logs.filter((l) => l.msg === 'request' && l.user === 'rotating_user')).toHaveLength(2);
  });
});
