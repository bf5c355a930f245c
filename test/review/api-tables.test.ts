import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { SCHEMA_CONTRACT } from '../../src/kernel/contract';
import { API_TABLE_USE, apiImpact, EVERY_V1_REQUEST, HOT_TABLES } from '../../src/review/api-tables';
import { conflicts, covers, LOCK_MODES } from '../../src/runner/table-locks';

/** The review's table of who uses which table, held to the API's code and PostgreSQL's lock rules. */

const routesSource = readdirSync(join(REPO_ROOT, 'src', 'api', 'routes'))
  .filter((name) => name.endsWith('.ts'))
  .map((name) => readFileSync(join(REPO_ROOT, 'src', 'api', 'routes', name), 'utf8'))
  .join('\n')
  // As the formatter may break a call's arguments onto the next line.
  .replace(/\(\s+/g, '(');

describe('the review’s table of API table use', () => {
  it('when it names a table or a route, then the schema contract has the table and src/api/routes has the route', () => {
    expect(Object.keys(API_TABLE_USE).sort()).toEqual(Object.keys(SCHEMA_CONTRACT).sort());
    for (const use of Object.values(API_TABLE_USE).flat()) {
      if (use.route === EVERY_V1_REQUEST) continue;
      const [method, path, ...more] = use.route.split(' ');
      const express = path
        .replace(/^\/v1/, '')
        .replace('{id}', ':job_id')
        .replace('{name}', ':disk_name')
        .replace('{operation_id}', ':operation_id')
        .replace(/,$/, '');
      expect(routesSource).toContain(`.${method.toLowerCase()}('${express}'`);
      for (const suffix of more.map((m) => m.replace(/,$/, ''))) expect(routesSource).toContain(`'/jobs/:job_id${suffix}'`);
    }
    expect(HOT_TABLES.every((table) => table in API_TABLE_USE)).toBe(true);
  });

  it('when a lock is held, then who waits follows PostgreSQL’s conflict table', () => {
    expect(apiImpact('reservations', 'ShareUpdateExclusiveLock')).toEqual({ blocked: [] });
    // SHARE (CREATE INDEX) lets the API read reservations but stops the job processor's writes.
    expect(apiImpact('reservations', 'ShareLock')).toEqual({ blocked: [], otherWriters: expect.stringContaining('job processor') });
    expect(apiImpact('api_keys', 'ShareLock').blocked.map((u) => u.route)).toEqual([EVERY_V1_REQUEST, 'POST /v1/keys/rotate']);
    expect(apiImpact('api_users', 'ExclusiveLock').blocked.map((u) => u.route)).toEqual(['POST /v1/keys/rotate']);
    expect(apiImpact('public.gpu_types', 'AccessExclusiveLock').blocked.map((u) => u.route)).toEqual(['GET /v1/gpu/availability', 'GET /v1/cluster/status']);
    for (const held of LOCK_MODES) for (const wanted of LOCK_MODES) expect(conflicts(held, wanted)).toBe(conflicts(wanted, held));
    expect(covers('ShareRowExclusiveLock', 'ShareLock')).toBe(true);
    expect(covers('ShareLock', 'RowExclusiveLock')).toBe(false);
    expect(covers('ShareLock', 'ShareUpdateExclusiveLock')).toBe(false);
    expect(covers('AccessExclusiveLock', 'ShareRowExclusiveLock')).toBe(true);
  });
});
