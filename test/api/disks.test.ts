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

  it("when the caller gets a disk, then 200 with its fields (a deleted one shows its deletion date); someone else's or a missing one is 404", async () => {
    expect(await get('/disks/data')).toMatchObject({ status: 200, body: { disk_name: 'data', size_gb: 100, snapshot_count: 3 } });
    expect(await get('/disks/old')).toMatchObject({ status: 200, body: { is_deleted: true, delete_date: '2030-01-15' } });
    expect(await get('/disks/bobs')).toMatchObject({ status: 404, body: { detail: "Disk 'bobs' not found" } });
    expect(await get('/disks/nope')).toMatchObject({ status: 404, body: { detail: "Disk 'nope' not found" } });
  });

  it('when an operation is polled, then its status, error and completion come back; an unknown operation is 404, a malformed id 422', async () => {
    expect((await get(`/disks/data/operations/${DATA_OPERATION.toUpperCase()}`)).body).toEqual({
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
    expect((await get(`/disks/scratch/operations/${SCRATCH_OPERATION}`)).body).toMatchObject({ status: 'in_progress', completed: false });
    expect(await get(`/disks/data/operations/${SCRATCH_OPERATION}`)).toMatchObject({
      status: 404,
      body: { detail: `Operation '${SCRATCH_OPERATION}' not found for disk 'data'` },
    });
    expect((await get('/disks/data/operations/not-a-uuid')).body.detail).toEqual([
      { loc: ['path', 'operation_id'], msg: expect.stringMatching(/^String should match pattern/), type: 'string_pattern_mismatch' },
    ]);
  });

  it('when a disk is created, then exactly one create_disk message with a new operation id is queued', async () => {
    const response = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'new-disk_2', size_gb: 500 } });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      operation_id: expect.stringMatching(UUID),
      disk_name: 'new-disk_2',
      action: 'create',
      message: 'Disk creation request queued',
      requested_at: expect.any(String),
    });
    expect(await readMessages(client, 'disk_operations')).toEqual([
      {
        action: 'create_disk',
        operation_id: response.body.operation_id,
        user_id: 'alice',
        disk_name: 'new-disk_2',
        size_gb: 500,
        requested_at: response.body.requested_at,
      },
    ]);
    const withoutSize = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'tiny' } });
    expect(withoutSize.status).toBe(200);
    expect((await readMessages(client, 'disk_operations'))[0]).toMatchObject({ disk_name: 'tiny', size_gb: null });
  });

  it('when the name is taken (even by a disk pending deletion) or invalid, then 409 or 422 and nothing is queued', async () => {
    expect(await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'data' } })).toMatchObject({
      status: 409,
      body: { detail: "Disk 'data' already exists" },
    });
    expect(await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'old' } })).toMatchObject({
      status: 409,
      body: { detail: "Disk 'old' is marked for deletion (on 2030-01-15); choose another name" },
    });
    const invalid = await call(`${api.url}/v1/disks`, alice, { method: 'POST', body: { disk_name: 'my disk!', size_gb: 5 } });
    expect(invalid.status).toBe(422);
    expect(invalid.body.detail.map((d: { loc: string[] }) => d.loc)).toEqual([
      ['body', 'disk_name'],
      ['body', 'size_gb'],
    ]);
    expect(await readMessages(client, 'disk_operations')).toEqual([]);
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

  it('when the disk is in use, missing, already deleted or badly named, then 409, 404 or 422 and nothing is queued', async () => {
    const del = (name: string) => call(`${api.url}/v1/disks/${name}`, alice, { method: 'DELETE' });
    expect(await del('scratch')).toMatchObject({ status: 409, body: { detail: "Disk 'scratch' is in use by reservation res-1; cancel it first" } });
    expect(await del('nope')).toMatchObject({ status: 404 });
    expect(await del('old')).toMatchObject({ status: 404, body: { detail: "Disk 'old' not found (already marked for deletion)" } });
    expect(await del('bad%20name')).toMatchObject({ status: 422 });
    expect(await readMessages(client, 'disk_operations')).toEqual([]);
  });
});
