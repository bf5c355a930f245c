import type { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { call, createApiDatabase, spawnApi, startTestApi, type TestApi } from '../support/api';

describe('gpu-dev-api-admin', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;

  beforeAll(async () => {
    db = await createApiDatabase('api_admin');
    client = await db.connect();
    api = await startTestApi(db);
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });

  async function adminWith(env: Record<string, string>, ...args: string[]) {
    const run = spawnApi({ DATABASE_URL: db.url, API_KEY_TTL_HOURS: '24', ...env }, 'gpu-dev-api-admin.js', args);
    return { code: await run.exited, stdout: run.stdout(), stderr: run.stderr() };
  }
  const admin = (...args: string[]) => adminWith({}, ...args);
  const availability = (key: string) => call(`${api.url}/v1/gpu/availability`, key);
  const keyId = async (key: string) => (await client.query(`SELECT key_id FROM api_keys WHERE key_prefix = $1`, [key.slice(0, 8)])).rows[0].key_id as number;

  it('when a user is created, then the key alone is printed on stdout, works, and expires after API_KEY_TTL_HOURS', async () => {
    const result = await admin('create-user', 'alice', '--email', 'alice@example.com');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^[A-Za-z0-9_-]{86}\n$/);
    const key = result.stdout.trim();
    expect(result.stderr).toContain('created user alice (user_id ');
    expect(result.stderr).toContain(`new API key for alice, prefix ${key.slice(0, 8)}, expires `);
    expect(result.stderr).not.toContain(key);
    expect((await availability(key)).status).toBe(200);
    const { rows } = await client.query(
      `SELECT u.email, round(extract(epoch FROM k.expires_at - now()) / 3600) AS hours
         FROM api_keys k JOIN api_users u USING (user_id) WHERE u.username = 'alice'`,
    );
    expect(rows).toEqual([{ email: 'alice@example.com', hours: '24' }]);
  });

  it('when the user exists, then create-user exits 2 pointing to create-key, which prints a second working key', async () => {
    const again = await admin('create-user', 'alice');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('user "alice" exists; use create-key alice for a new key');
    expect(again.stdout).toBe('');
    const second = await admin('create-key', 'alice');
    expect(second.code).toBe(0);
    expect((await availability(second.stdout.trim())).status).toBe(200);
    expect((await client.query(`SELECT count(*)::int AS n FROM api_keys`)).rows[0].n).toBe(2);
  });

  it('when a key is revoked by prefix or by id, then the API refuses it with 403 and the other key still works', async () => {
    const first = (await admin('create-key', 'alice')).stdout.trim();
    const second = (await admin('create-key', 'alice')).stdout.trim();
    const byPrefix = await admin('revoke-key', first.slice(0, 8));
    expect(byPrefix.code).toBe(0);
    expect(byPrefix.stderr).toMatch(/revoked key \d+ \(prefix .{8}\) of alice/);
    expect(byPrefix.stderr).toContain(`(prefix ${first.slice(0, 8)}) of alice`);
    expect(await availability(first)).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    expect((await availability(second)).status).toBe(200);
    const { rows } = await client.query(`SELECT key_id FROM api_keys WHERE key_prefix = $1`, [second.slice(0, 8)]);
    expect((await admin('revoke-key', String(rows[0].key_id))).code).toBe(0);
    expect((await availability(second)).status).toBe(403);
  });

  it("when a key was rotated twice, then revoking the first revokes the live key at the end of the chain, and the user's other key stays valid", async () => {
    const k1 = (await admin('create-user', 'carol')).stdout.trim();
    const other = (await admin('create-key', 'carol')).stdout.trim();
    const rotate = async (key: string) => (await call(`${api.url}/v1/keys/rotate`, key, { method: 'POST' })).body.api_key as string;
    const k2 = await rotate(k1);
    const k3 = await rotate(k2);
    expect((await availability(k3)).status).toBe(200);
    const [id1, id2, id3] = [await keyId(k1), await keyId(k2), await keyId(k3)];

    const result = await admin('revoke-key', k1.slice(0, 8));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`key ${id1} (prefix ${k1.slice(0, 8)}) of carol was already revoked`);
    expect(result.stderr).toContain(`revoked key ${id3} (prefix ${k3.slice(0, 8)}) of carol, rotated from key ${id2}`);
    for (const key of [k1, k2, k3]) expect(await availability(key)).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    expect((await availability(other)).status).toBe(200);
  });

  it('when a user would hold more than API_MAX_ACTIVE_KEYS usable keys, then the oldest are revoked, saying so; expired keys do not count', async () => {
    const limit = { API_MAX_ACTIVE_KEYS: '2' };
    const d1 = (await adminWith(limit, 'create-user', 'dave')).stdout.trim();
    const d2 = (await adminWith(limit, 'create-key', 'dave')).stdout.trim();
    const third = await adminWith(limit, 'create-key', 'dave');
    const d3 = third.stdout.trim();
    expect(third.stderr).toContain(`revoked key ${await keyId(d1)} (prefix ${d1.slice(0, 8)}) of dave: over API_MAX_ACTIVE_KEYS (2) usable keys, oldest first`);
    expect(await availability(d1)).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    expect((await availability(d2)).status).toBe(200);
    expect((await availability(d3)).status).toBe(200);

    await client.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_prefix = $1`, [d2.slice(0, 8)]);
    const fourth = await adminWith(limit, 'create-key', 'dave');
    expect(fourth.stderr).not.toContain('revoked key');
    expect((await availability(d3)).status).toBe(200);
    expect((await availability(fourth.stdout.trim())).status).toBe(200);
  });

  it('when a key prefix starts with "-" (base64url allows it), then revoke-key takes it as the prefix, not as an option', async () => {
    const user = await client.query(`SELECT user_id FROM api_users WHERE username = 'alice'`);
    await client.query(`INSERT INTO api_keys (user_id, key_hash, key_prefix, expires_at) VALUES ($1, 'dash-key-hash', '-dashKey', now() + interval '1 hour')`, [
      user.rows[0].user_id,
    ]);
    const result = await admin('revoke-key', '-dashKey');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('(prefix -dashKey) of alice');
    expect((await client.query(`SELECT is_active FROM api_keys WHERE key_prefix = '-dashKey'`)).rows).toEqual([{ is_active: false }]);
  });

  it('when the arguments are wrong or name nothing, then it exits 2 with the reason and the usage', async () => {
    const unknown = await admin('revoke-key', 'zzzzzzzz');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no key has the id or prefix "zzzzzzzz"');
    const badName = await admin('create-user', 'bob smith');
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('username must be 1 to 255 letters, digits, dots, dashes or underscores, got "bob smith"');
    expect(badName.stderr).toContain('Usage: gpu-dev-api-admin <command>');
    expect((await admin('create-key', 'nobody')).stderr).toContain('no user "nobody"; use create-user nobody');
    expect((await admin('frobnicate', 'x')).code).toBe(2);
    expect((await admin()).stderr).toContain('no command given');
    expect(await admin('--help')).toMatchObject({ code: 0, stdout: expect.stringContaining('revoke-key <key prefix | key id>') });
  });

  it('when the users and keys tables are missing, then it exits 9 naming them and the migration Job', async () => {
    const empty = await createTestDatabase('api_admin_empty');
    try {
      const run = spawnApi({ DATABASE_URL: empty.url }, 'gpu-dev-api-admin.js', ['create-user', 'alice']);
      expect(await run.exited).toBe(9);
      expect(run.stderr()).toContain('missing tables: api_users, api_keys');
      expect(run.stderr()).toContain('kubectl logs -n gpu-controlplane -l app=database-migration');
    } finally {
      await empty.drop();
    }
  });
});
