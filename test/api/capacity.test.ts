import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, insertReservation, startTestApi, type TestApi } from '../support/api';

describe('API GPU availability and cluster status', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  let key: string;

  beforeAll(async () => {
    db = await createApiDatabase('api_capacity');
    client = await db.connect();
    api = await startTestApi(db);
    key = (await createUserWithKey(client, 'alice')).api_key;
    const seed: [string, string, string | null, number | null][] = [
      // h100 (16 in the fixture): 8 + 4 + 2 in use (the processor may write 'H100'), 2 + 4 waiting
      ['h1', 'active', 'h100', 8],
      ['h2', 'preparing', 'h100', 4],
      ['h3', 'active', 'H100', 2],
      ['h4', 'queued', 'h100', 2],
      ['h5', 'pending', 'h100', 4],
      ['h6', 'completed', 'h100', 8],
      ['h7', 'cancelled', 'h100', 8],
      // a100 (16): 24 in use, more than the cluster has
      ['a1', 'active', 'a100', 16],
      ['a2', 'active', 'a100', 8],
      // reservations that count per status but belong to no active GPU type
      ['c1', 'active', 'cpu-arm', 0],
      ['x1', 'queued', 'mystery', 4],
      ['n1', 'pending', null, null],
    ];
    for (const [id, status, gpu_type, gpu_count] of seed) await insertReservation(client, { id, user: 'someone', status, gpu_type, gpu_count });
    await client.query(`UPDATE gpu_types SET is_active = false WHERE gpu_type = 'cpu-arm'`);
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });

  describe('when reservations are active, preparing, queued and pending', () => {
    let response: Awaited<ReturnType<typeof call>>;
    let answeredAt: number;
    let availability: Record<string, unknown>;

    beforeAll(async () => {
      response = await call(`${api.url}/v1/gpu/availability`, key);
      answeredAt = Date.now();
      availability = response.body.availability;
    });

    it('then availability answers 200 with one entry per active GPU type', () => {
      expect(response.status).toBe(200);
      expect(Object.keys(availability)).toEqual(['a100', 'a10g', 'b200', 'cpu-x86', 'h100', 'h200', 'l4', 't4', 't4-small']);
    });

    it('then active and preparing GPUs count as in use, queued and pending ones as queued', () => {
      expect(availability.h100).toEqual({ gpu_type: 'h100', total: 16, available: 2, in_use: 14, queued: 6, max_per_node: 8 });
    });

    it('then available never goes below 0', () => {
      expect(availability.a100).toEqual({ gpu_type: 'a100', total: 16, available: 0, in_use: 24, queued: 0, max_per_node: 8 });
    });

    it('then a type without reservations is all available', () => {
      expect(availability.t4).toEqual({ gpu_type: 't4', total: 8, available: 8, in_use: 0, queued: 0, max_per_node: 4 });
      expect(availability['cpu-x86']).toEqual({ gpu_type: 'cpu-x86', total: 0, available: 0, in_use: 0, queued: 0, max_per_node: 0 });
    });

    it('then the timestamp is now', () => {
      expect(Math.abs(answeredAt - Date.parse(response.body.timestamp))).toBeLessThan(5000);
    });
  });

  it('when the cluster status is asked for, then its totals add up over the GPU types and it counts reservations per status', async () => {
    const response = await call(`${api.url}/v1/cluster/status`, key);
    expect(response.status).toBe(200);
    const { by_gpu_type, timestamp, ...totals } = response.body;
    expect(totals).toEqual({
      // 8 + 1 + 4 + 4 + 16 + 16 + 16 + 16 + 0 over the nine active types; cpu-arm is retired
      total_gpus: 81,
      available_gpus: 51,
      in_use_gpus: 38,
      queued_gpus: 6,
      active_reservations: 5,
      preparing_reservations: 1,
      queued_reservations: 2,
      pending_reservations: 2,
    });
    expect(by_gpu_type).toEqual((await call(`${api.url}/v1/gpu/availability`, key)).body.availability);
    expect(typeof timestamp).toBe('string');
  });
});
