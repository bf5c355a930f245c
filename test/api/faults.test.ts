import { Client } from 'pg';
import { applyProductSchema, call, createUserWithKey, installPgmqStandIn, startTestApi, timedCall, type TestApi } from '../support/api';
import { ownPostgres, type OwnPostgres } from '../support/own-postgres';
import { waitFor } from '../support/wait';

/** "Quickly": well under a client's or probe's patience; pg's connection timeout is 5 s. */
const ANSWER_WITHIN_MS = 5000;
/** Recovery needs no restart, only a new pooled connection once the server accepts them. */
const RECOVER_WITHIN_MS = 10_000;

describe('when the API loses its database after start', () => {
  // A server of its own: this test stops PostgreSQL, which the shared one must never see.
  let pg: OwnPostgres;
  let api: TestApi;
  let key: string;

  beforeAll(async () => {
    pg = await ownPostgres('api-faults');
    await pg.start();
    await applyProductSchema({ url: pg.url() });
    const client = new Client({ connectionString: pg.url() });
    // The server goes away under this client; without a listener that would fail the test run.
    client.on('error', () => undefined);
    await client.connect();
    await installPgmqStandIn(client);
    key = (await createUserWithKey(client, 'alice')).api_key;
    await client.end();
    api = await startTestApi({ url: pg.url() });
  });
  afterAll(async () => {
    await api?.stop();
    await pg?.remove();
  });

  it('when the database is up, then /ready and an authenticated request answer 200', async () => {
    expect((await call(`${api.url}/ready`, null)).status).toBe(200);
    const jobs = await call(`${api.url}/v1/jobs`, key);
    expect(jobs.status).toBe(200);
  });

  describe('when PostgreSQL stops', () => {
    let ready: Awaited<ReturnType<typeof timedCall>>;
    let health: Awaited<ReturnType<typeof timedCall>>;
    let jobs: Awaited<ReturnType<typeof timedCall>>;

    beforeAll(async () => {
      await pg.stop();
      ready = await timedCall(`${api.url}/ready`, null);
      health = await timedCall(`${api.url}/health`, null);
      jobs = await timedCall(`${api.url}/v1/jobs`, key);
    });

    it('then /ready answers 503 "database unreachable" quickly', () => {
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: 'unavailable', detail: 'database unreachable' });
      expect(ready.ms).toBeLessThan(ANSWER_WITHIN_MS);
    });

    it('then /health answers 200 saying unhealthy, quickly', () => {
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'unhealthy', database: expect.stringMatching(/^(unhealthy|timeout)$/) });
      expect(health.ms).toBeLessThan(ANSWER_WITHIN_MS);
    });

    it('then a request answers 503 with a JSON detail and Retry-After, quickly', () => {
      expect(jobs.status).toBe(503);
      expect(jobs.headers.get('content-type')).toMatch(/^application\/json/);
      expect(jobs.body).toEqual({ detail: 'Database unavailable, try again shortly' });
      expect(jobs.headers.get('retry-after')).toBe('5');
      expect(jobs.ms).toBeLessThan(ANSWER_WITHIN_MS);
    });

    // Not a bug: warned, never logged as an unexpected error with a stack.
    it('then the log has no error line', () => {
      expect(api.logs.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('then the log warns "database unavailable"', () => {
      expect(api.logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'database unavailable' }));
    });
  });

  it('when PostgreSQL is back on the same data and port, then /ready returns to 200 and requests succeed without restarting the API', async () => {
    await pg.start();
    const started = performance.now();
    await waitFor('/ready to answer 200 again', async () => (await call(`${api.url}/ready`, null)).status === 200, RECOVER_WITHIN_MS);
    expect(performance.now() - started).toBeLessThan(RECOVER_WITHIN_MS);

    const jobs = await call(`${api.url}/v1/jobs`, key);
    expect(jobs.status).toBe(200);
    expect((await call(`${api.url}/health`, null)).body).toMatchObject({ status: 'healthy', database: 'healthy', queue: 'healthy' });
  });
});
