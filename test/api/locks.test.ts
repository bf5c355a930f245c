import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, insertReservation, startTestApi, timedCall, type TestApi } from '../support/api';

/** The API's lock_timeout in this test; production's default is 5 s. */
const LOCK_TIMEOUT_SECONDS = 1;
/** lock_timeout plus room for a busy machine, and far below statement_timeout (30 s), where the wait used to end in a 500. */
const ANSWER_WITHIN_MS = 5000;
const LOCKED = { detail: 'A schema change holds a lock on a table this request needs; try again shortly' };

describe('API behind a migration holding ACCESS EXCLUSIVE on reservations', () => {
  let db: TestDatabase;
  let client: Client;
  let migration: Client;
  let api: TestApi;
  let key: string;

  beforeAll(async () => {
    db = await createApiDatabase('api_locks');
    client = await db.connect();
    migration = await db.connect();
    api = await startTestApi(db, { DB_LOCK_TIMEOUT_SECONDS: String(LOCK_TIMEOUT_SECONDS) });
    key = (await createUserWithKey(client, 'alice')).api_key;
    await insertReservation(client, { id: 'res-1', user: 'alice', status: 'active', gpu_type: 'h100', gpu_count: 8 });
  });
  afterAll(async () => {
    await migration.query('ROLLBACK').catch(() => undefined);
    await api.stop();
    await db.drop();
  });

  /** A migration frozen inside its transaction, as a runner stopped mid-apply would be. */
  async function holdLock(): Promise<void> {
    await migration.query('BEGIN');
    await migration.query('LOCK TABLE reservations IN ACCESS EXCLUSIVE MODE');
  }

  describe('when the lock is held and the endpoints reading reservations are called', () => {
    let responses: Awaited<ReturnType<typeof timedCall>>[];

    beforeAll(async () => {
      await holdLock();
      try {
        responses = await Promise.all([
          timedCall(`${api.url}/v1/jobs`, key),
          timedCall(`${api.url}/v1/jobs/res-1`, key),
          timedCall(`${api.url}/v1/jobs/res-1/cancel`, key, { method: 'POST' }),
          timedCall(`${api.url}/v1/gpu/availability`, key),
          timedCall(`${api.url}/v1/cluster/status`, key),
        ]);
      } finally {
        await migration.query('ROLLBACK');
      }
    });

    it('then every one answers 503 saying a schema change holds a lock', () => {
      expect(responses).toHaveLength(5);
      for (const response of responses) expect(response).toMatchObject({ status: 503, body: LOCKED });
    });

    it('then every one sends Retry-After', () => {
      expect(responses).toHaveLength(5);
      for (const response of responses) expect(response.headers.get('retry-after')).toBe('5');
    });

    it('then every one answers within the bound', () => {
      expect(responses).toHaveLength(5);
      for (const response of responses) expect(response.ms).toBeLessThan(ANSWER_WITHIN_MS);
    });

    it('then the log has no error line', () => {
      expect(api.logs.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('then the log warns of the lock timeout', () => {
      expect(api.logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'lock timeout', error: 'canceling statement due to lock timeout' }));
    });
  });

  it('when the lock is held, then /ready and /health stay 200 and endpoints not reading reservations still answer 200', async () => {
    await holdLock();
    try {
      expect(await call(`${api.url}/ready`, null)).toMatchObject({ status: 200, body: { status: 'ready' } });
      expect((await call(`${api.url}/health`, null)).body).toMatchObject({ status: 'healthy', database: 'healthy' });
      expect((await call(`${api.url}/v1/disks`, key)).status).toBe(200);
    } finally {
      await migration.query('ROLLBACK');
    }
  });

  it('when the lock is released, then the same endpoints answer 200 at once', async () => {
    for (const path of ['/v1/jobs', '/v1/jobs/res-1', '/v1/gpu/availability', '/v1/cluster/status']) {
      expect((await call(`${api.url}${path}`, key)).status).toBe(200);
    }
  });

  it('when the lock is released before lock_timeout, then a request waiting for it succeeds instead of failing', async () => {
    await holdLock();
    const waiting = call(`${api.url}/v1/jobs`, key);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await migration.query('ROLLBACK');
    expect(await waiting).toMatchObject({ status: 200, body: { total: 1 } });
  });
});
