import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, spawnApi, waitFor } from '../support/api';

describe('API shutdown on SIGTERM', () => {
  let db: TestDatabase;
  let client: Client;

  beforeAll(async () => {
    db = await createApiDatabase('api_shutdown');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  const apiSessions = async (where = 'true') =>
    (await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gpu-dev-api' AND ${where}`))
      .rows[0].n as number;

  /**
   * Starts the bundled API and holds one authenticated request in flight: another session
   * locks the caller's api_keys row, so the API's last_used_at update waits for it.
   */
  async function apiWithRequestInFlight(username: string, env: Record<string, string> = {}) {
    const key = await createUserWithKey(client, username);
    const api = spawnApi({ DATABASE_URL: db.url, PORT: '0', ...env });
    const url = `http://127.0.0.1:${await api.port()}`;
    const blocker = await db.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM api_keys WHERE key_prefix = $1 FOR UPDATE`, [key.key_prefix]);
    const inFlight = call(`${url}/v1/gpu/availability`, key.api_key);
    await waitFor(async () => (await apiSessions(`wait_event_type = 'Lock'`)) === 1);
    return { api, url, blocker, inFlight };
  }

  it('when SIGTERM arrives with a request in flight, then it refuses new connections, completes that request, closes its pool and exits 0', async () => {
    const { api, url, blocker, inFlight } = await apiWithRequestInFlight('alice');
    api.kill('SIGTERM');
    await waitFor(async () => api.stdout().includes('shutdown: SIGTERM'));
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    await blocker.query('COMMIT');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(response.body.availability.h100).toMatchObject({ total: 16 });
    expect(await api.exited).toBe(0);
    expect(api.stdout()).toContain('shutdown: SIGTERM; accepting no new connections, 1 request(s) in flight, waiting up to 20.0s');
    expect(api.stdout()).toContain('"msg":"shutdown: done"');
    expect(await apiSessions()).toBe(0);
  });

  it('when a request outlasts API_SHUTDOWN_GRACE_SECONDS, then its connection is cut and the API exits 1 at the end of the grace period', async () => {
    const { api, blocker, inFlight } = await apiWithRequestInFlight('bob', { API_SHUTDOWN_GRACE_SECONDS: '1' });
    const signalled = Date.now();
    api.kill('SIGTERM');
    expect(await api.exited).toBe(1);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(900);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    await expect(inFlight).rejects.toThrow();
    expect(api.stdout()).toContain('shutdown: 1 request(s) still running after 1.0s (API_SHUTDOWN_GRACE_SECONDS); closing their connections');
    await blocker.query('ROLLBACK');
    await waitFor(async () => (await apiSessions()) === 0);
  });
});
