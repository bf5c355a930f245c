import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, readMessages, startTestApi, type TestApi } from '../support/api';

describe('API probes and HTTP errors', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  let key: string;

  beforeAll(async () => {
    db = await createApiDatabase('api_http');
    client = await db.connect();
    api = await startTestApi(db, { API_BODY_LIMIT_KB: '1' });
    key = (await createUserWithKey(client, 'alice')).api_key;
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });

  it('when all is well, then /health says healthy database and queue, and /ready is 200', async () => {
    const health = await call(`${api.url}/health`, null);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'healthy', database: 'healthy', queue: 'healthy', timestamp: expect.any(String) });
    expect(await call(`${api.url}/ready`, null)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('when the route does not exist, then 404 with a JSON detail', async () => {
    const response = await call(`${api.url}/nowhere`, null);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body).toEqual({ detail: 'Not Found' });
    expect((await call(`${api.url}/v1/nowhere`, key)).body).toEqual({ detail: 'Not Found' });
  });

  it('when the JSON body is malformed, then 400 saying so', async () => {
    const response = await call(`${api.url}/v1/jobs/submit`, key, { method: 'POST', body: '{"image": "x",' });
    expect(response).toMatchObject({ status: 400, body: { detail: 'Malformed JSON in request body' } });
  });

  it('when the body is over the configured limit, then 413 naming the limit and nothing is queued', async () => {
    const response = await call(`${api.url}/v1/jobs/submit`, key, { method: 'POST', body: { image: 'x', instance_type: 't', command: 'c'.repeat(2000) } });
    expect(response).toMatchObject({ status: 413, body: { detail: 'Request body is larger than the limit of 1024 bytes' } });
    expect(await readMessages(client, 'gpu_reservations')).toEqual([]);
  });

  it('when a request id is sent, then it is echoed and logged; an unsafe one is replaced by a new id', async () => {
    const kept = await call(`${api.url}/v1/gpu/availability`, key, { headers: { 'x-request-id': 'trace-42.a' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.a');
    expect(api.logs).toContainEqual(
      expect.objectContaining({ msg: 'request', request_id: 'trace-42.a', method: 'GET', path: '/v1/gpu/availability', status: 200, user: 'alice' }),
    );
    const replaced = await call(`${api.url}/health`, null, { headers: { 'x-request-id': 'a b"c' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  describe('when a table the API reads disappears after start-up', () => {
    beforeAll(() => client.query('ALTER TABLE gpu_types RENAME TO gpu_types_moved'));
    afterAll(() => client.query('ALTER TABLE gpu_types_moved RENAME TO gpu_types'));

    it('then a request fails with 500 that reveals only the request id, and the log has the cause under that id', async () => {
      const response = await call(`${api.url}/v1/gpu/availability`, key);
      expect(response.status).toBe(500);
      const requestId = response.headers.get('x-request-id');
      expect(response.body).toEqual({ detail: `Internal server error (request id ${requestId})` });
      const logged = api.logs.find((l) => l.msg === 'unexpected error' && l.request_id === requestId);
      expect(String(logged?.error)).toContain('relation "gpu_types" does not exist');
    });

    it('then /ready is 503 naming the missing table, while /health still answers 200', async () => {
      const ready = await call(`${api.url}/ready`, null);
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toContain('missing tables: gpu_types');
      expect((await call(`${api.url}/health`, null)).status).toBe(200);
    });
  });
});
