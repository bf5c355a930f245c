import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, insertReservation, readMessages, startTestApi, type TestApi } from '../support/api';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DATA_OPERATION = '7d5e9a0c-3b1f-4c2a-9e8d-0a1b2c3d4e5f';
const SCRATCH_OPERATION = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9';

describe('API disks', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  let alice: string;

  beforeAll(async () => {
    db = await createApiDatabase('api_disks');
    client = await db.connect();
    api = await startTestApi(db);
    alice = (await createUserWithKey(client, 'alice')).api_key;
    await insertReservation(client, { id: 'res-1', user: 'alice', status: 'active', gpu_type: 'h100', gpu_count: 1 });
    await client.query(
      `INSERT INTO disks (disk_name, user_id, size_gb, created_at, in_use, reservation_id, is_deleted, delete_date, snapshot_count, operation_id, operation_status, operation_error)
       VALUES ('data',    'alice', 100, now() - interval '2 days', false, NULL,    false, NULL,         3, $1, 'completed',   NULL),
              ('scratch', 'alice', 50,  now() - interval '1 day',  true,  'res-1', false, NULL,         0, $2, 'in_progress', NULL),
              ('old',     'alice', 20,  now() - interval '9 days', false, NULL,    true,  '2030-01-15', 1, NULL, NULL,        NULL),
              ('bobs',    'bob',   10,  now(),                     false, NULL,    false, NULL,         0, NULL, NULL,        NULL)`,
      [DATA_OPERATION, SCRATCH_OPERATION],
    );
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });
  afterEach(async () => {
    await client.query(`DELETE FROM pgmq.q_disk_operations`);
  });

  const get = (path: string) => call(`${api.url}/v1${path}`, alice);

  it('when the caller lists disks, then only their disks that are not deleted come back, newest first', async () => {
    const response = await get('/disks');
    expect(response.status).toBe(200);
    expect(response.body.total).toBe(2);
    expect(response.body.disks.map((d: { disk_name: string }) => d.disk_name)).toEqual(['scratch', 'data']);
    expect(response.body.disks[0]).toEqual({
      disk_name: 'scratch',
      user_id: 'alice',
      size_gb: 50,
      created_at: expect.any(String),
      last_used: null,
      in_use: true,
      reservation_id: 'res-1',
      is_backing_up: false,
      is_deleted: false,
      delete_date: null,
      snapshot_count: 0,
      pending_snapshot_count: 0,
      operation_id: SCRATCH_OPERATION,
      operation_status: 'in_progress',
    });
  });

  describe('when the caller gets a disk', () => {
    let own: Awaited<ReturnType<typeof get>>;
    let deleted: Awaited<ReturnType<typeof get>>;
    let others: Awaited<ReturnType<typeof get>>;
    let missing: Awaited<ReturnType<typeof get>>;

    beforeAll(async () => {
      own = await get('/disks/data');
      deleted = await get('/disks/old');
      others = await get('/disks/bobs');
      missing = await get('/disks/nope');
    });

    it('then their disk answers 200 with its fields', () => {
      expect(own).toMatchObject({ status: 200, body: { disk_name: 'data', size_gb: 100, snapshot_count: 3 } });
    });

    it('then their deleted disk answers 200 with its deletion date', () => {
      expect(deleted).toMatchObject({ status: 200, body: { is_deleted: true, delete_date: '2030-01-15' } });
    });

    it("then someone else's disk is 404", () => {
      expect(others).toMatchObject({ status: 404, body: { detail: "Disk 'bobs' not found" } });
    });

    it('then a missing disk is 404', () => {
      expect(missing).toMatchObject({ status: 404, body: { detail: "Disk 'nope' not found" } });
    });
  });

  describe('when an operation is polled', () => {
    let completed: Awaited<ReturnType<typeof get>>;
    let inProgress: Awaited<ReturnType<typeof get>>;
    let otherDisk: Awaited<ReturnType<typeof get>>;
    let malformed: Awaited<ReturnType<typeof get>>;

    beforeAll(async () => {
      completed = await get(`/disks/data/operations/${DATA_OPERATION.toUpperCase()}`);
      inProgress = await get(`/disks/scratch/operations/${SCRATCH_OPERATION}`);
      otherDisk = await get(`/disks/data/operations/${SCRATCH_OPERATION}`);
      malformed = await get('/disks/data/operations/not-a-uuid');
    });

    it('then a completed one comes back with its status, error and completion (the id matched in any case)', () => {
      expect(completed.body).toEqual({
        operation_id: DATA_OPERATION,
        disk_name: 'data',
        status: 'completed',
        error: null,
        completed: true,
        is_deleted: false,
        delete_date: null,
        created_at: expect.any(String),
        last_updated: expect.any(String),
      });
    });

    it('then one in progress is not completed', () => {
      expect(inProgress.body).toMatchObject({ status: 'in_progress', completed: false });
    });

    it('then an operation unknown for that disk is 404', () => {
      expect(otherDisk).toMatchObject({
        status: 404,
        body: { detail: `Operation '${SCRATCH_OPERATION}' not found for disk 'data'` },
      });
    });

    it('then a malformed id is 422', () => {
      expect(malformed.body.detail).toEqual([
        { loc: ['path', 'operation_id'], msg: expect.stringMatching(/^String should match pattern/), type: 'string_pattern_mismatch' },
      ]);
    });
  });

  describe('when a disk is created', () => {
    let response: Awaited<ReturnType<typeof call>>;
    let messages: Record<string, unknown>[];

    beforeAll(async () => {
      response = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'new-disk_2', size_gb: 500 } });
      messages = await readMessages(client, 'disk_operations');
    });

    it('then 200 with a new operation id', () => {
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        operation_id: expect.stringMatching(UUID),
        disk_name: 'new-disk_2',
        action: 'create',
        message: 'Disk creation request queued',
        requested_at: expect.any(String),
      });
    });

    it('then exactly one create_disk message with that operation id is queued', () => {
      expect(messages).toEqual([
        {
          action: 'create_disk',
          operation_id: response.body.operation_id,
          user_id: 'alice',
          disk_name: 'new-disk_2',
          size_gb: 500,
          requested_at: response.body.requested_at,
        },
      ]);
    });

    describe('when no size is given', () => {
      let withoutSize: Awaited<ReturnType<typeof call>>;
      let queued: Record<string, unknown>[];

      beforeAll(async () => {
        withoutSize = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'tiny' } });
        queued = await readMessages(client, 'disk_operations');
      });

      it('then 200', () => {
        expect(withoutSize.status).toBe(200);
      });

      it('then the message carries no size', () => {
        expect(queued[0]).toMatchObject({ disk_name: 'tiny', size_gb: null });
      });
    });
  });

  describe('when the name is taken (even by a disk pending deletion) or invalid', () => {
    let taken: Awaited<ReturnType<typeof call>>;
    let pendingDeletion: Awaited<ReturnType<typeof call>>;
    let invalid: Awaited<ReturnType<typeof call>>;
    let messages: Record<string, unknown>[];

    beforeAll(async () => {
      taken = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'data' } });
      pendingDeletion = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'old' } });
      invalid = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'my disk!', size_gb: 5 } });
      messages = await readMessages(client, 'disk_operations');
    });

    it('then a taken name is 409', () => {
      expect(taken).toMatchObject({
        status: 409,
        body: { detail: "Disk 'data' already exists" },
      });
    });

    it('then the name of a disk pending deletion is 409 naming the deletion date', () => {
      expect(pendingDeletion).toMatchObject({
        status: 409,
        body: { detail: "Disk 'old' is marked for deletion (on 2030-01-15); choose another name" },
      });
    });

    it('then an invalid name and size are 422 naming both', () => {
      expect(invalid.status).toBe(422);
      expect(invalid.body.detail.map((d: { loc: string[] }) => d.loc)).toEqual([
        ['body', 'disk_name'],
        ['body', 'size_gb'],
      ]);
    });

    it('then nothing is queued', () => {
      expect(messages).toEqual([]);
    });
  });

  it('when a disk is deleted, then one delete_disk message carries the deletion date 30 days out', async () => {
    const response = await call(`${api.url}/v1/disks/data`, alice, { method: 'DELETE' });
    expect(response.status).toBe(200);
    const deleteDate = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    expect(response.body).toEqual({
      operation_id: expect.stringMatching(UUID),
      disk_name: 'data',
      action: 'delete',
      requested_at: expect.any(String),
      delete_date: deleteDate,
      message: `Disk deletion request queued; the disk will be deleted on ${deleteDate}`,
    });
    expect(await readMessages(client, 'disk_operations')).toEqual([
      {
        action: 'delete_disk',
        operation_id: response.body.operation_id,
        user_id: 'alice',
        disk_name: 'data',
        delete_date: deleteDate,
        requested_at: response.body.requested_at,
      },
    ]);
  });

  describe('when the disk is in use, missing, already deleted or badly named', () => {
    let inUse: Awaited<ReturnType<typeof call>>;
    let missing: Awaited<ReturnType<typeof call>>;
    let alreadyDeleted: Awaited<ReturnType<typeof call>>;
    let badlyNamed: Awaited<ReturnType<typeof call>>;
    let messages: Record<string, unknown>[];

    beforeAll(async () => {
      const del = (name: string) => call(`${api.url}/v1/disks/${name}`, alice, { method: 'DELETE' });
      inUse = await del('scratch');
      missing = await del('nope');
      alreadyDeleted = await del('old');
      badlyNamed = await del('bad%20name');
      messages = await readMessages(client, 'disk_operations');
    });

    it('then a disk in use is 409 naming the reservation', () => {
      expect(inUse).toMatchObject({ status: 409, body: { detail: "Disk 'scratch' is in use by reservation res-1; cancel it first" } });
    });

    it('then a missing disk is 404', () => {
      expect(missing).toMatchObject({ status: 404 });
    });

    it('then a disk already marked for deletion is 404 saying so', () => {
      expect(alreadyDeleted).toMatchObject({ status: 404, body: { detail: "Disk 'old' not found (already marked for deletion)" } });
    });

    it('then a badly named disk is 422', () => {
      expect(badlyNamed).toMatchObject({ status: 422 });
    });

    it('then nothing is queued', () => {
      expect(messages).toEqual([]);
    });
  });
});
