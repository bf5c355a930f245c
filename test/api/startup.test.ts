import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  applyProductSchema,
  call,
  createApiDatabase,
  createUserWithKey,
  installPgmqStandIn,
  readMessages,
  spawnApi,
  startTestApi,
  type TestApi,
} from '../support/api';
import { docsSample } from '../support/docs';

const KUBECTL_JOBS = 'kubectl get jobs -n gpu-controlplane | grep db-migration';
const KUBECTL_LOGS = 'kubectl logs -n gpu-controlplane -l app=database-migration';

describe('API start-up', () => {
  const databases: TestDatabase[] = [];
  const track = (db: TestDatabase) => {
    databases.push(db);
    return db;
  };
  afterAll(() => Promise.all(databases.map((db) => db.drop())));

  async function queues(db: TestDatabase): Promise<string[]> {
    const client = await db.connect();
    const { rows } = await client.query(`SELECT queue_name FROM pgmq.list_queues() ORDER BY queue_name`);
    return rows.map((r) => r.queue_name);
  }

  describe('when the database is empty', () => {
    let db: TestDatabase;
    let code: number | null;
    let stderr: string;
    let stdout: string;

    beforeAll(async () => {
      db = track(await createTestDatabase('api_empty'));
      const api = spawnApi({ DATABASE_URL: db.url, PORT: '0' });
      code = await api.exited;
      stderr = api.stderr();
      stdout = api.stdout();
    });

    it('then it exits 9', () => {
      expect(code).toBe(9);
    });

    it('then stderr has one message naming the database and ending with the exit code', () => {
      expect(stderr.match(/did not start/g)).toHaveLength(1);
      expect(stderr).toContain(`gpu-dev API did not start: the database postgres@127.0.0.1:${new URL(db.url).port}/${db.name} lacks what the API needs:`);
      expect(stderr).toMatch(/exit code 9\n$/);
    });

    it('then the message names all five missing tables', () => {
      expect(stderr).toContain('missing tables: api_users, api_keys, reservations, disks, gpu_types');
    });

    it('then the message says PGMQ is not available', () => {
      expect(stderr).toContain('PGMQ is not available');
    });

    it('then the message gives the kubectl commands for the migration Job', () => {
      expect(stderr).toContain(KUBECTL_JOBS);
      expect(stderr).toContain(KUBECTL_LOGS);
    });

    it('then it never listens', () => {
      expect(stdout).not.toContain('listening');
    });

    it("then docs/api.md's sample is this message, line for line, but for the database's address", () => {
      const address = `postgres@127.0.0.1:${new URL(db.url).port}/${db.name}`;
      expect(docsSample('api.md', 'API start-up sample')).toEqual(stderr.trimEnd().replace(address, 'gpudev@postgres-primary:5432/gpudev').split('\n'));
    });
  });

  it('when the pod runs in another namespace (POD_NAMESPACE), then the kubectl commands name that namespace', async () => {
    const db = track(await createTestDatabase('api_namespace'));
    const api = spawnApi({ DATABASE_URL: db.url, PORT: '0', POD_NAMESPACE: 'gpu-staging' });
    expect(await api.exited).toBe(9);
    expect(api.stderr()).toContain('kubectl get jobs -n gpu-staging | grep db-migration');
    expect(api.stderr()).toContain('kubectl logs -n gpu-staging -l app=database-migration');
    expect(api.stderr()).not.toContain('gpu-controlplane');
  });

  it('when POD_NAMESPACE is not a namespace name, then it exits 2 naming the variable and the value', async () => {
    const api = spawnApi({ DATABASE_URL: 'postgres://x:y@127.0.0.1:1/z', PORT: '0', POD_NAMESPACE: 'Not_A_Namespace' });
    expect(await api.exited).toBe(2);
    expect(api.stderr()).toContain('POD_NAMESPACE must be a Kubernetes namespace name: it must be a DNS-1123 label');
    expect(api.stderr()).toContain('got "Not_A_Namespace"');
  });

  it('when one column the API reads is missing, then it exits 9 naming that column and only it', async () => {
    const db = track(await createApiDatabase('api_column'));
    await (await db.connect()).query('ALTER TABLE reservations DROP COLUMN ssh_command');
    const api = spawnApi({ DATABASE_URL: db.url, PORT: '0' });
    expect(await api.exited).toBe(9);
    expect(api.stderr()).toContain('missing columns: reservations.ssh_command\n');
    expect(api.stderr()).not.toContain('missing tables');
    expect(api.stderr()).not.toContain('PGMQ');
    expect(api.stderr()).toContain(KUBECTL_LOGS);
  });

  it('when PGMQ is not installed, then it exits 9 naming the PGMQ functions it needs', async () => {
    const db = track(await createTestDatabase('api_nopgmq'));
    await applyProductSchema(db);
    const api = spawnApi({ DATABASE_URL: db.url, PORT: '0' });
    expect(await api.exited).toBe(9);
    expect(api.stderr()).toContain(
      'PGMQ is not available (missing pgmq.create(text), pgmq.send(text,jsonb), pgmq.list_queues()): install it with CREATE EXTENSION pgmq',
    );
    expect(api.stderr()).not.toContain('missing tables');
    expect(api.stderr()).not.toContain('missing columns');
  });

  it('when the configuration is invalid, then it exits 2 naming every variable, value and rule before connecting', async () => {
    const api = spawnApi({
      PORT: 'http',
      QUEUE_NAME: 'gpu-reservations',
      DISK_QUEUE_NAME: 'x'.repeat(48),
      API_KEY_TTL_HOURS: '0',
      API_BODY_LIMIT_KB: '-1',
      DB_LOCK_TIMEOUT_SECONDS: '40',
      API_MAX_ACTIVE_KEYS: '0',
    });
    expect(await api.exited).toBe(2);
    const stderr = api.stderr();
    expect(stderr).toContain('gpu-dev API did not start: invalid configuration:');
    expect(stderr).toContain('no database configured: set DATABASE_URL, or POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB');
    expect(stderr).toContain('PORT must be a whole number from 0 to 65535, got "http"');
    expect(stderr).toContain('QUEUE_NAME must be 1 to 47 letters, digits or underscores (^[A-Za-z0-9_]+$), got "gpu-reservations"');
    expect(stderr).toContain(`DISK_QUEUE_NAME must be 1 to 47 letters, digits or underscores (^[A-Za-z0-9_]+$), got "${'x'.repeat(48)}"`);
    expect(stderr).toContain('API_KEY_TTL_HOURS must be a whole number from 1 to 168, got "0"');
    expect(stderr).toContain('API_BODY_LIMIT_KB must be a whole number from 1 to 102400, got "-1"');
    expect(stderr).toContain('DB_LOCK_TIMEOUT_SECONDS (40) must be less than DB_STATEMENT_TIMEOUT_SECONDS (30)');
    expect(stderr).toContain('API_MAX_ACTIVE_KEYS must be a whole number from 1 to 100, got "0"');
    expect(api.stdout()).not.toContain('start-up: database');
  });

  describe('when the queues do not exist and the API starts', () => {
    let db: TestDatabase;
    let before: string[];
    let first: TestApi;
    let firstReady: number;

    beforeAll(async () => {
      db = track(await createApiDatabase('api_queues'));
      before = await queues(db);
      first = await startTestApi(db);
      try {
        firstReady = (await call(`${first.url}/ready`, null)).status;
      } finally {
        await first.stop();
      }
    });

    it('then it creates both queues, saying so', () => {
      expect(before).toEqual([]);
      expect(first.logs.map((l) => l.msg)).toContain('start-up: created PGMQ queues gpu_reservations, disk_operations');
    });

    it('then it is ready', () => {
      expect(firstReady).toBe(200);
    });

    describe('when it starts a second time', () => {
      let second: TestApi;
      let secondReady: number;
      let after: string[];

      beforeAll(async () => {
        second = await startTestApi(db);
        try {
          secondReady = (await call(`${second.url}/ready`, null)).status;
        } finally {
          await second.stop();
        }
        after = await queues(db);
      });

      it('then it finds both queues, saying so', () => {
        expect(second.logs.map((l) => l.msg)).toContain('start-up: PGMQ queues gpu_reservations, disk_operations exist');
      });

      it('then it is ready', () => {
        expect(secondReady).toBe(200);
      });

      it('then the database has the two queues', () => {
        expect(after).toEqual(['disk_operations', 'gpu_reservations']);
      });
    });
  });

  describe('when 4 instances start at once on a fresh database', () => {
    let db: TestDatabase;
    let started: PromiseSettledResult<TestApi>[];
    let apis: TestApi[];
    let ready: number[];
    let after: string[];

    beforeAll(async () => {
      db = track(await createApiDatabase('api_replicas'));
      started = await Promise.allSettled(Array.from({ length: 4 }, () => startTestApi(db)));
      apis = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      try {
        ready = (await Promise.all(apis.map((a) => call(`${a.url}/ready`, null)))).map((r) => r.status);
        after = await queues(db);
      } finally {
        await Promise.all(apis.map((a) => a.stop()));
      }
    });

    it('then all four start', () => {
      expect(started.filter((s) => s.status === 'rejected')).toEqual([]);
    });

    it('then all four are ready', () => {
      expect(ready).toEqual([200, 200, 200, 200]);
    });

    it('then exactly one of them creates the queues', () => {
      const creators = apis.filter((a) => a.logs.some((l) => String(l.msg).startsWith('start-up: created PGMQ queues')));
      expect(creators).toHaveLength(1);
    });

    it('then the database has the two queues', () => {
      expect(after).toEqual(['disk_operations', 'gpu_reservations']);
    });
  });

  it('when PGMQ is a 1.0-1.4 release (send has a delay default, no two-argument send), then it starts and sends', async () => {
    const db = track(await createApiDatabase('api_pgmq14'));
    const client = await db.connect();
    await client.query(`DROP FUNCTION pgmq.send(text, jsonb)`);
    await client.query(`DROP FUNCTION pgmq.send(text, jsonb, integer)`);
    await client.query(`
      CREATE FUNCTION pgmq.send(queue_name TEXT, msg JSONB, delay INTEGER DEFAULT 0) RETURNS SETOF BIGINT AS $$
      BEGIN
        RETURN QUERY EXECUTE format('INSERT INTO pgmq.%I (vt, message) VALUES (clock_timestamp(), $1) RETURNING msg_id', 'q_' || lower(queue_name)) USING msg;
      END;
      $$ LANGUAGE plpgsql`);
    const api = await startTestApi(db);
    try {
      const alice = await createUserWithKey(client, 'alice');
      const submitted = await call(`${api.url}/v1/jobs/submit`, alice.api_key, {
        method: 'POST',
        body: { image: 'pytorch/pytorch', instance_type: 'p5.48xlarge' },
      });
      expect(submitted.status).toBe(200);
      expect(await readMessages(client, 'gpu_reservations')).toEqual([expect.objectContaining({ job_id: submitted.body.job_id })]);
    } finally {
      await api.stop();
    }
  });

  it('when the stand-in is installed twice, then nothing changes (it is re-runnable)', async () => {
    const db = track(await createApiDatabase('api_standin'));
    const client = await db.connect();
    await client.query(`SELECT pgmq.create('q1')`);
    await client.query(`SELECT pgmq.send('q1', '{"n": 1}')`);
    await installPgmqStandIn(client);
    expect(await readMessages(client, 'q1')).toEqual([{ n: 1 }]);
  });
});
