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

  describe('when SIGTERM arrives with a request in flight', () => {
    let started: Awaited<ReturnType<typeof apiWithRequestInFlight>>;
    let newConnection: Promise<Response>;
    let response: Awaited<ReturnType<typeof call>>;
    let code: number | null | undefined;
    let sessionsAfter: number;

    beforeAll(async () => {
      started = await apiWithRequestInFlight('alice');
      const { api, url, blocker, inFlight } = started;
      api.kill('SIGTERM');
      await waitFor(async () => api.stdout().includes('shutdown: SIGTERM'));
      // Tried while the request is still held, so the refusal is of a new connection during shutdown.
      newConnection = fetch(`${url}/health`);
      await newConnection.catch(() => undefined);
      await blocker.query('COMMIT');
      response = await inFlight;
      code = await api.exited;
      sessionsAfter = await apiSessions();
    });
    // If a step above fails, the API must not outlive the test.
    afterAll(() => {
      if (started && code === undefined) started.api.kill('SIGKILL');
    });

    it('then it refuses new connections', async () => {
      await expect(newConnection).rejects.toThrow();
    });

    it('then it completes the request in flight', () => {
      expect(response.status).toBe(200);
      expect(response.body.availability.h100).toMatchObject({ total: 16 });
    });

    it('then it exits 0', () => {
      expect(code).toBe(0);
    });

    it('then its log says it accepts no new connections, waits for the request and is done', () => {
      expect(started.api.stdout()).toContain('shutdown: SIGTERM; accepting no new connections, 1 request(s) in flight, waiting up to 20.0s');
      expect(started.api.stdout()).toContain('"msg":"shutdown: done"');
    });

    it('then it has closed its pool: no session of the API is left', () => {
      expect(sessionsAfter).toBe(0);
    });
  });

  describe('when a request outlasts API_SHUTDOWN_GRACE_SECONDS', () => {
    let started: Awaited<ReturnType<typeof apiWithRequestInFlight>>;
    let code: number | null | undefined;
    let elapsed: number;

    beforeAll(async () => {
      started = await apiWithRequestInFlight('bob', { API_SHUTDOWN_GRACE_SECONDS: '1' });
      // Handled from the start: the request fails while the API is still exiting.
      const settled = started.inFlight.catch(() => undefined);
      const signalled = Date.now();
      started.api.kill('SIGTERM');
      code = await started.api.exited;
      elapsed = Date.now() - signalled;
      await settled;
    });
    // Releases the lock the request waited for, and stops the API if a step above failed.
    afterAll(async () => {
      if (!started) return;
      if (code === undefined) started.api.kill('SIGKILL');
      await started.blocker.query('ROLLBACK');
      await waitFor(async () => (await apiSessions()) === 0);
    });

    it('then it exits 1', () => {
      expect(code).toBe(1);
    });

    it('then it exits at the end of the grace period', () => {
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(10_000);
    });

    it("then that request's connection is cut", async () => {
      await expect(started.inFlight).rejects.toThrow();
    });

    it('then its log says the request still ran after the grace period and its connection is closed', () => {
      expect(started.api.stdout()).toContain('shutdown: 1 request(s) still running after 1.0s (API_SHUTDOWN_GRACE_SECONDS); closing their connections');
    });
  });
});
