import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, insertReservation, readMessages, startTestApi, type TestApi } from '../support/api';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('API jobs', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    db = await createApiDatabase('api_jobs');
    client = await db.connect();
    api = await startTestApi(db);
    alice = (await createUserWithKey(client, 'alice')).api_key;
    bob = (await createUserWithKey(client, 'bob')).api_key;
    await insertReservation(client, {
      id: 'res-active',
      user: 'alice',
      status: 'active',
      gpu_type: 'h100',
      gpu_count: 8,
      created: 10,
      instance_type: 'p5.48xlarge',
      pod_name: 'gpu-dev-abc',
      node_ip: '10.0.0.7',
      node_port: 30022,
      ssh_command: 'ssh -p 30022 dev@10.0.0.7',
      jupyter_enabled: true,
      jupyter_url: 'https://jupyter.example/abc',
      jupyter_port: 8888,
      jupyter_token: 'tok',
      github_user: 'alice-gh',
      name: 'training',
    });
    await insertReservation(client, { id: 'res-queued', user: 'alice', status: 'queued', gpu_type: 'a100', gpu_count: 4, created: 5 });
    await insertReservation(client, {
      id: 'res-done',
      user: 'alice',
      status: 'completed',
      gpu_type: 't4',
      gpu_count: 1,
      created: 60,
      pod_name: 'gpu-dev-old',
      ssh_command: 'ssh old',
    });
    await insertReservation(client, { id: 'res-bob', user: 'bob', status: 'active', gpu_type: 'h100', gpu_count: 2, created: 1 });
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });
  afterEach(async () => {
    // Each test sees only the messages it caused.
    await client.query(`DELETE FROM pgmq.q_gpu_reservations`);
  });

  const post = (path: string, key: string, body?: unknown) => call(`${api.url}/v1${path}`, key, { method: 'POST', body });
  const get = (path: string, key: string) => call(`${api.url}/v1${path}`, key);

  describe('submit', () => {
    it('when a job is submitted, then exactly the documented message is on gpu_reservations and the answer names the job', async () => {
      const request = {
        image: 'pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime',
        instance_type: 'p5.48xlarge',
        duration_hours: 4,
        disk_name: 'my-data_1',
        disk_size_gb: 100,
        env_vars: { EXPERIMENT: 'v1', WANDB_MODE: 'offline' },
        command: 'python train.py --epochs 3',
      };
      const before = Date.now();
      const response = await post('/jobs/submit', alice, request);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        job_id: expect.stringMatching(UUID),
        status: 'queued',
        message: expect.stringMatching(/^Job submitted to queue gpu_reservations \(message ID: \d+\)$/),
        estimated_start_time: null,
      });
      const messages = await readMessages(client, 'gpu_reservations');
      expect(messages).toEqual([
        { job_id: response.body.job_id, user_id: 'alice', username: 'alice', ...request, submitted_at: expect.any(String), status: 'queued' },
      ]);
      const submittedAt = Date.parse(messages[0].submitted_at as string);
      expect(submittedAt).toBeGreaterThanOrEqual(before - 1);
      expect(submittedAt).toBeLessThanOrEqual(Date.now());
    });

    it('when only image and instance type are given, then the message carries the defaults: 1 hour, no disk, no env vars, no command', async () => {
      const response = await post('/jobs/submit', bob, { image: 'ubuntu:24.04', instance_type: 'g4dn.12xlarge', unknown_field: 'ignored' });
      expect(response.status).toBe(200);
      expect(await readMessages(client, 'gpu_reservations')).toEqual([
        {
          job_id: response.body.job_id,
          user_id: 'bob',
          username: 'bob',
          image: 'ubuntu:24.04',
          instance_type: 'g4dn.12xlarge',
          duration_hours: 1,
          disk_name: null,
          disk_size_gb: null,
          env_vars: {},
          command: null,
          submitted_at: expect.any(String),
          status: 'queued',
        },
      ]);
    });

    it('when the body is invalid, then 422 lists every problem in FastAPI form and nothing is queued', async () => {
      const response = await post('/jobs/submit', alice, {
        instance_type: '',
        duration_hours: 73,
        disk_name: 'my disk',
        disk_size_gb: 5,
        env_vars: { A: 1, B: 'ok' },
        command: 7,
      });
      expect(response.status).toBe(422);
      expect(response.body.detail).toEqual([
        { loc: ['body', 'image'], msg: 'Field required', type: 'missing' },
        { loc: ['body', 'instance_type'], msg: 'String should have at least 1 character', type: 'string_too_short' },
        { loc: ['body', 'duration_hours'], msg: 'Input should be less than or equal to 72', type: 'less_than_equal' },
        { loc: ['body', 'disk_name'], msg: "String should match pattern '^[A-Za-z0-9_-]+$'", type: 'string_pattern_mismatch' },
        { loc: ['body', 'disk_size_gb'], msg: 'Input should be greater than or equal to 10', type: 'greater_than_equal' },
        { loc: ['body', 'env_vars', 'A'], msg: 'Input should be a valid string', type: 'string_type' },
        { loc: ['body', 'command'], msg: 'Input should be a valid string', type: 'string_type' },
      ]);
      expect(await readMessages(client, 'gpu_reservations')).toEqual([]);
    });

    it('when the body is missing, not an object, or has a fractional duration, then 422 says so', async () => {
      expect((await post('/jobs/submit', alice)).body).toEqual({ detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }] });
      expect((await post('/jobs/submit', alice, [1, 2])).body).toEqual({
        detail: [{ loc: ['body'], msg: 'Input should be a valid dictionary or object', type: 'model_attributes_type' }],
      });
      const fractional = await post('/jobs/submit', alice, { image: 'i', instance_type: 't', duration_hours: 1.5 });
      expect(fractional.status).toBe(422);
      expect(fractional.body.detail).toEqual([{ loc: ['body', 'duration_hours'], msg: 'Input should be a valid integer', type: 'int_type' }]);
    });
  });

  describe('list and get', () => {
    it('when the caller lists jobs, then only their reservations come back, newest first, with the total', async () => {
      const response = await get('/jobs', alice);
      expect(response.status).toBe(200);
      expect(response.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual(['res-queued', 'res-active', 'res-done']);
      expect(response.body).toMatchObject({ total: 3, limit: 50, offset: 0 });
    });

    describe('when filtered by status and paged', () => {
      let filtered: Awaited<ReturnType<typeof get>>;
      let page: Awaited<ReturnType<typeof get>>;

      beforeAll(async () => {
        filtered = await get('/jobs?status=active,%20queued', alice);
        page = await get('/jobs?limit=1&offset=1', alice);
      });

      it('then only jobs of the listed statuses come back', () => {
        expect(filtered.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual(['res-queued', 'res-active']);
      });

      it('then total counts the filtered rows', () => {
        expect(filtered.body.total).toBe(2);
      });

      it('then the page echoes its limit and offset, with the total of all rows', () => {
        expect(page.body).toMatchObject({ total: 3, limit: 1, offset: 1 });
      });

      it('then limit and offset pick the page', () => {
        expect(page.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual(['res-active']);
      });
    });

    it('when limit or offset is out of range or not a number, then 422 names each', async () => {
      const response = await get('/jobs?limit=0&offset=-1', alice);
      expect(response.status).toBe(422);
      expect(response.body.detail).toEqual([
        { loc: ['query', 'limit'], msg: 'Input should be greater than or equal to 1', type: 'greater_than_equal' },
        { loc: ['query', 'offset'], msg: 'Input should be greater than or equal to 0', type: 'greater_than_equal' },
      ]);
      expect((await get('/jobs?limit=501', alice)).body.detail[0].type).toBe('less_than_equal');
      expect((await get('/jobs?limit=ten', alice)).body.detail).toEqual([
        { loc: ['query', 'limit'], msg: 'Input should be a valid integer', type: 'int_parsing' },
      ]);
    });

    it('when the caller gets their active job, then every documented field is there, with the ssh command', async () => {
      const response = await get('/jobs/res-active', alice);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        job_id: 'res-active',
        reservation_id: 'res-active',
        user_id: 'alice',
        status: 'active',
        gpu_type: 'h100',
        gpu_count: 8,
        instance_type: 'p5.48xlarge',
        duration_hours: 2,
        created_at: expect.any(String),
        expires_at: null,
        name: 'training',
        pod_name: 'gpu-dev-abc',
        node_ip: '10.0.0.7',
        node_port: 30022,
        ssh_command: 'ssh -p 30022 dev@10.0.0.7',
        jupyter_enabled: true,
        jupyter_url: 'https://jupyter.example/abc',
        jupyter_port: 8888,
        jupyter_token: 'tok',
        jupyter_error: null,
        github_user: 'alice-gh',
      });
      expect(Date.now() - Date.parse(response.body.created_at)).toBeGreaterThan(9 * 60_000);
    });

    it('when the job is no longer active, then no ssh command is shown even if one is stored', async () => {
      const response = await get('/jobs/res-done', alice);
      expect(response.body).toMatchObject({ status: 'completed', pod_name: 'gpu-dev-old', ssh_command: null, jupyter_enabled: false });
    });

    it("when the job is someone else's, then 403; when it does not exist, then 404", async () => {
      expect(await get('/jobs/res-bob', alice)).toMatchObject({ status: 403, body: { detail: 'You can only view your own jobs' } });
      expect(await get('/jobs/no-such-job', alice)).toMatchObject({ status: 404, body: { detail: 'Job no-such-job not found' } });
    });
  });

  describe('actions', () => {
    it('when the owner cancels, extends, toggles Jupyter and adds a user, then one message per action is queued, in order', async () => {
      const answers = [
        await post('/jobs/res-active/cancel', alice),
        await post('/jobs/res-active/extend', alice, { extension_hours: 2 }),
        await post('/jobs/res-active/jupyter/enable', alice),
        await post('/jobs/res-active/jupyter/disable', alice),
        await post('/jobs/res-active/users', alice, { github_username: 'carol-gh' }),
      ];
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      expect(answers.map((a) => a.body.action)).toEqual(['cancel', 'extend', 'enable_jupyter', 'disable_jupyter', 'add_user']);
      expect(answers[1].body).toEqual({
        job_id: 'res-active',
        action: 'extend',
        status: 'requested',
        message: expect.stringMatching(/^Extension request submitted for 2 hours \(message ID: \d+\)$/),
      });
      const common = { job_id: 'res-active', reservation_id: 'res-active', user_id: 'alice', username: 'alice', requested_at: expect.any(String) };
      expect(await readMessages(client, 'gpu_reservations')).toEqual([
        { action: 'cancel', ...common },
        { action: 'extend', extension_hours: 2, ...common },
        { action: 'enable_jupyter', ...common },
        { action: 'disable_jupyter', ...common },
        { action: 'add_user', github_username: 'carol-gh', ...common },
      ]);
    });

    it("when any action is queued, then its message carries reservation_id equal to job_id, which the platform's job processor reads", async () => {
      const actions: [string, unknown?][] = [
        ['cancel'],
        ['extend', { extension_hours: 1 }],
        ['jupyter/enable'],
        ['jupyter/disable'],
        ['users', { github_username: 'dave-gh' }],
      ];
      for (const [path, body] of actions) expect((await post(`/jobs/res-queued/${path}`, alice, body)).status).toBe(200);
      const messages = await readMessages(client, 'gpu_reservations');
      expect(messages.map((m) => [m.action, m.job_id, m.reservation_id])).toEqual(
        ['cancel', 'extend', 'enable_jupyter', 'disable_jupyter', 'add_user'].map((action) => [action, 'res-queued', 'res-queued']),
      );
    });

    it("when the reservation is someone else's, then 403 and nothing is queued", async () => {
      for (const path of ['cancel', 'jupyter/enable']) {
        expect(await post(`/jobs/res-bob/${path}`, alice)).toMatchObject({ status: 403, body: { detail: 'Not authorized to modify this job' } });
      }
      expect(await readMessages(client, 'gpu_reservations')).toEqual([]);
    });

    it('when the reservation is not written yet (still queued), then the action is queued for the processor', async () => {
      const response = await post('/jobs/just-submitted/cancel', bob);
      expect(response.status).toBe(200);
      expect(await readMessages(client, 'gpu_reservations')).toEqual([
        { action: 'cancel', job_id: 'just-submitted', reservation_id: 'just-submitted', user_id: 'bob', username: 'bob', requested_at: expect.any(String) },
      ]);
    });

    describe('when an action body is invalid', () => {
      let missing: Awaited<ReturnType<typeof post>>;
      let zero: Awaited<ReturnType<typeof post>>;
      let badUser: Awaited<ReturnType<typeof post>>;
      let longId: Awaited<ReturnType<typeof post>>;
      let messages: Record<string, unknown>[];

      beforeAll(async () => {
        missing = await post('/jobs/res-active/extend', alice);
        zero = await post('/jobs/res-active/extend', alice, { extension_hours: 0 });
        badUser = await post('/jobs/res-active/users', alice, { github_username: 'x/../../etc' });
        longId = await post(`/jobs/${'j'.repeat(256)}/cancel`, alice);
        messages = await readMessages(client, 'gpu_reservations');
      });

      it('then a missing extension_hours is 422 naming the field', () => {
        expect(missing.body.detail).toEqual([{ loc: ['body', 'extension_hours'], msg: 'Field required', type: 'missing' }]);
      });

      it('then an extension of 0 hours is 422 naming the bound', () => {
        expect(zero.body.detail[0].type).toBe('greater_than_equal');
      });

      it('then a GitHub username that is not one is 422', () => {
        expect(badUser.status).toBe(422);
      });

      it('then a job id over 255 characters is 422 naming the path parameter', () => {
        expect(longId.body.detail).toEqual([{ loc: ['path', 'job_id'], msg: 'String should have at most 255 characters', type: 'string_too_long' }]);
      });

      it('then nothing is queued', () => {
        expect(messages).toEqual([]);
      });
    });
  });
});
