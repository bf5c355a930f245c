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

  describe('when a user is created', () => {
    let result: Awaited<ReturnType<typeof admin>>;
    let key: string;
    let keyStatus: number;
    let rows: Record<string, unknown>[];

    beforeAll(async () => {
      result = await admin('create-user', 'alice', '--email', 'alice@example.com');
      key = result.stdout.trim();
      keyStatus = (await availability(key)).status;
      rows = (
        await client.query(
          `SELECT u.email, round(extract(epoch FROM k.expires_at - now()) / 3600) AS hours
             FROM api_keys k JOIN api_users u USING (user_id) WHERE u.username = 'alice'`,
        )
      ).rows;
    });

    it('then it exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then the key alone is printed on stdout', () => {
      expect(result.stdout).toMatch(/^[A-Za-z0-9_-]{86}\n$/);
    });

    it("then stderr names the user and the key's prefix, never the key", () => {
      expect(result.stderr).toContain('created user alice (user_id ');
      expect(result.stderr).toContain(`new API key for alice, prefix ${key.slice(0, 8)}, expires `);
      expect(result.stderr).not.toContain(key);
    });

    it('then the key works', () => {
      expect(keyStatus).toBe(200);
    });

    it('then the user has the email and the key expires after API_KEY_TTL_HOURS', () => {
      expect(rows).toEqual([{ email: 'alice@example.com', hours: '24' }]);
    });
  });

  describe('when create-user names a user that exists', () => {
    let again: Awaited<ReturnType<typeof admin>>;

    beforeAll(async () => {
      again = await admin('create-user', 'alice');
    });

    it('then it exits 2', () => {
      expect(again.code).toBe(2);
    });

    it('then stderr points to create-key', () => {
      expect(again.stderr).toContain('user "alice" exists; use create-key alice for a new key');
    });

    it('then nothing is printed on stdout', () => {
      expect(again.stdout).toBe('');
    });

    describe('when create-key is run for that user', () => {
      let second: Awaited<ReturnType<typeof admin>>;
      let keyStatus: number;
      let keys: number;

      beforeAll(async () => {
        second = await admin('create-key', 'alice');
        keyStatus = (await availability(second.stdout.trim())).status;
        keys = (await client.query(`SELECT count(*)::int AS n FROM api_keys`)).rows[0].n;
      });

      it('then it exits 0', () => {
        expect(second.code).toBe(0);
      });

      it('then the second key it prints works', () => {
        expect(keyStatus).toBe(200);
      });

      it('then there are two keys', () => {
        expect(keys).toBe(2);
      });
    });
  });

  describe('when a key is revoked by prefix', () => {
    let first: string;
    let second: string;
    let byPrefix: Awaited<ReturnType<typeof admin>>;
    let firstAnswer: Awaited<ReturnType<typeof call>>;
    let secondStatus: number;

    beforeAll(async () => {
      first = (await admin('create-key', 'alice')).stdout.trim();
      second = (await admin('create-key', 'alice')).stdout.trim();
      byPrefix = await admin('revoke-key', first.slice(0, 8));
      firstAnswer = await availability(first);
      secondStatus = (await availability(second)).status;
    });

    it('then it exits 0', () => {
      expect(byPrefix.code).toBe(0);
    });

    it('then stderr names the revoked key, its prefix and its user', () => {
      expect(byPrefix.stderr).toMatch(/revoked key \d+ \(prefix .{8}\) of alice/);
      expect(byPrefix.stderr).toContain(`(prefix ${first.slice(0, 8)}) of alice`);
    });

    it('then the API refuses that key with 403', () => {
      expect(firstAnswer).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    });

    it('then the other key still works', () => {
      expect(secondStatus).toBe(200);
    });

    describe('when the other key is revoked by id', () => {
      let byId: Awaited<ReturnType<typeof admin>>;
      let secondAfter: number;

      beforeAll(async () => {
        const { rows } = await client.query(`SELECT key_id FROM api_keys WHERE key_prefix = $1`, [second.slice(0, 8)]);
        byId = await admin('revoke-key', String(rows[0].key_id));
        secondAfter = (await availability(second)).status;
      });

      it('then it exits 0', () => {
        expect(byId.code).toBe(0);
      });

      it('then the API refuses that key with 403', () => {
        expect(secondAfter).toBe(403);
      });
    });
  });

  describe('when a key was rotated twice and the first of the chain is revoked', () => {
    let k1: string;
    let k3: string;
    let other: string;
    let ids: number[];
    let liveBefore: number;
    let result: Awaited<ReturnType<typeof admin>>;
    let chainAnswers: Awaited<ReturnType<typeof call>>[];
    let otherStatus: number;

    beforeAll(async () => {
      k1 = (await admin('create-user', 'carol')).stdout.trim();
      other = (await admin('create-key', 'carol')).stdout.trim();
      const rotate = async (key: string) => (await call(`${api.url}/v1/keys/rotate`, key, { method: 'POST' })).body.api_key as string;
      const k2 = await rotate(k1);
      k3 = await rotate(k2);
      liveBefore = (await availability(k3)).status;
      ids = [await keyId(k1), await keyId(k2), await keyId(k3)];

      result = await admin('revoke-key', k1.slice(0, 8));
      chainAnswers = [];
      for (const key of [k1, k2, k3]) chainAnswers.push(await availability(key));
      otherStatus = (await availability(other)).status;
    });

    it('then it exits 0', () => {
      expect(result.code).toBe(0);
    });

    it('then stderr says the first key was already revoked', () => {
      expect(result.stderr).toContain(`key ${ids[0]} (prefix ${k1.slice(0, 8)}) of carol was already revoked`);
    });

    it('then stderr names the live key it revoked at the end of the chain and the key it was rotated from', () => {
      expect(result.stderr).toContain(`revoked key ${ids[2]} (prefix ${k3.slice(0, 8)}) of carol, rotated from key ${ids[1]}`);
    });

    it('then every key of the chain is refused with 403, the live one included', () => {
      expect(liveBefore).toBe(200);
      expect(chainAnswers).toHaveLength(3);
      for (const answer of chainAnswers) expect(answer).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    });

    it("then the user's other key stays valid", () => {
      expect(otherStatus).toBe(200);
    });
  });

  describe('when a user would hold more than API_MAX_ACTIVE_KEYS usable keys', () => {
    const limit = { API_MAX_ACTIVE_KEYS: '2' };
    let d1: string;
    let d1Id: number;
    let d2: string;
    let d3: string;
    let third: Awaited<ReturnType<typeof admin>>;
    let d1Answer: Awaited<ReturnType<typeof call>>;
    let newerStatuses: number[];

    beforeAll(async () => {
      d1 = (await adminWith(limit, 'create-user', 'dave')).stdout.trim();
      d2 = (await adminWith(limit, 'create-key', 'dave')).stdout.trim();
      third = await adminWith(limit, 'create-key', 'dave');
      d3 = third.stdout.trim();
      d1Id = await keyId(d1);
      d1Answer = await availability(d1);
      newerStatuses = [(await availability(d2)).status, (await availability(d3)).status];
    });

    it('then the oldest key is revoked, saying so', () => {
      expect(third.stderr).toContain(`revoked key ${d1Id} (prefix ${d1.slice(0, 8)}) of dave: over API_MAX_ACTIVE_KEYS (2) usable keys, oldest first`);
    });

    it('then the API refuses the oldest key with 403', () => {
      expect(d1Answer).toMatchObject({ status: 403, body: { detail: 'API key has been revoked' } });
    });

    it('then the two newer keys work', () => {
      expect(newerStatuses).toEqual([200, 200]);
    });

    describe('when one of them has expired and another key is created', () => {
      let fourth: Awaited<ReturnType<typeof admin>>;
      let statuses: number[];

      beforeAll(async () => {
        await client.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_prefix = $1`, [d2.slice(0, 8)]);
        fourth = await adminWith(limit, 'create-key', 'dave');
        statuses = [(await availability(d3)).status, (await availability(fourth.stdout.trim())).status];
      });

      it('then no key is revoked: expired keys do not count', () => {
        expect(fourth.stderr).not.toContain('revoked key');
      });

      it('then the usable key and the new one both work', () => {
        expect(statuses).toEqual([200, 200]);
      });
    });
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

  describe('when the arguments are wrong, name nothing, or ask for help', () => {
    let unknown: Awaited<ReturnType<typeof admin>>;
    let badName: Awaited<ReturnType<typeof admin>>;
    let nobody: Awaited<ReturnType<typeof admin>>;
    let unknownCommand: Awaited<ReturnType<typeof admin>>;
    let noCommand: Awaited<ReturnType<typeof admin>>;
    let help: Awaited<ReturnType<typeof admin>>;

    beforeAll(async () => {
      unknown = await admin('revoke-key', 'zzzzzzzz');
      badName = await admin('create-user', 'bob smith');
      nobody = await admin('create-key', 'nobody');
      unknownCommand = await admin('frobnicate', 'x');
      noCommand = await admin();
      help = await admin('--help');
    });

    it('then a key prefix that names nothing exits 2 saying so', () => {
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no key has the id or prefix "zzzzzzzz"');
    });

    it('then an invalid username exits 2 with the rule and the usage', () => {
      expect(badName.code).toBe(2);
      expect(badName.stderr).toContain('username must be 1 to 255 letters, digits, dots, dashes or underscores, got "bob smith"');
      expect(badName.stderr).toContain('Usage: gpu-dev-api-admin <command>');
    });

    it('then create-key for a user that does not exist points to create-user', () => {
      expect(nobody.stderr).toContain('no user "nobody"; use create-user nobody');
    });

    it('then an unknown command exits 2', () => {
      expect(unknownCommand.code).toBe(2);
    });

    it('then no command says so', () => {
      expect(noCommand.stderr).toContain('no command given');
    });

    it('then --help exits 0 with the usage on stdout', () => {
      expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('revoke-key <key prefix | key id>') });
    });
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
