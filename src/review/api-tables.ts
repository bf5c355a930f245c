import { conflicts, type LockMode } from '../runner';

/**
 * What the API does to each table, route by route, with the lock mode each statement takes
 * (a read AccessShareLock, SELECT … FOR UPDATE and a foreign-key check RowShareLock, INSERT and
 * UPDATE RowExclusiveLock), read off src/api/repositories/ and the services that call them.
 * test/review/api-tables.test.ts holds it to the API's code: every route named here exists,
 * every table of the schema contract is here.
 */

export interface TableUse {
  /** `GET /v1/jobs`, or `every /v1 request` for what authentication does. */
  readonly route: string;
  readonly mode: LockMode;
  /** What the route does with the table, for the sentence a reviewer reads. */
  readonly what: string;
}

/** Authentication runs before every /v1 route: it reads the key and its user and stamps last_used_at. */
export const EVERY_V1_REQUEST = 'every /v1 request';

export const API_TABLE_USE: Readonly<Record<string, readonly TableUse[]>> = {
  api_users: [
    { route: EVERY_V1_REQUEST, mode: 'AccessShareLock', what: 'authentication reads the key’s user' },
    { route: 'POST /v1/keys/rotate', mode: 'RowShareLock', what: 'locks the user’s row (SELECT … FOR UPDATE) and checks the new key’s foreign key' },
  ],
  api_keys: [
    { route: EVERY_V1_REQUEST, mode: 'RowExclusiveLock', what: 'authentication reads the key and updates its last_used_at' },
    { route: 'POST /v1/keys/rotate', mode: 'RowExclusiveLock', what: 'revokes the old key and inserts the new one' },
  ],
  reservations: [
    { route: 'GET /v1/jobs', mode: 'AccessShareLock', what: 'lists the caller’s reservations' },
    { route: 'GET /v1/jobs/{id}', mode: 'AccessShareLock', what: 'reads one reservation' },
    {
      route: 'POST /v1/jobs/{id}/cancel, /extend, /jupyter/enable, /jupyter/disable, /users',
      mode: 'AccessShareLock',
      what: 'reads the reservation’s owner before queueing the action',
    },
    { route: 'GET /v1/gpu/availability', mode: 'AccessShareLock', what: 'counts GPUs in use per type' },
    { route: 'GET /v1/cluster/status', mode: 'AccessShareLock', what: 'counts reservations per status' },
  ],
  gpu_types: [
    { route: 'GET /v1/gpu/availability', mode: 'AccessShareLock', what: 'reads the GPU types' },
    { route: 'GET /v1/cluster/status', mode: 'AccessShareLock', what: 'reads the GPU types' },
  ],
  disks: [
    { route: 'GET /v1/disks', mode: 'AccessShareLock', what: 'lists the caller’s disks' },
    { route: 'GET /v1/disks/{name}', mode: 'AccessShareLock', what: 'reads one disk' },
    { route: 'GET /v1/disks/{name}/operations/{operation_id}', mode: 'AccessShareLock', what: 'reads the disk’s last operation' },
    { route: 'POST /v1/disks', mode: 'AccessShareLock', what: 'checks the name is free before queueing' },
    { route: 'DELETE /v1/disks/{name}', mode: 'AccessShareLock', what: 'checks the disk is not in use before queueing' },
  ],
};

/** Writers outside this repository that also wait: the platform's processors write these tables. */
const OTHER_WRITERS: Readonly<Record<string, string>> = {
  reservations: 'the platform’s job processor, which writes every reservation’s status',
  disks: 'the platform’s disk processor, which writes every disk operation’s status',
};

/**
 * Tables whose locks the review warns about: api_keys and api_users are read (api_keys also
 * written) by every authenticated request, so a lock there stops the whole /v1 API; reservations
 * is what the CLI polls and the job processor writes all day. disks and gpu_types are reported
 * with the routes that would wait, without a warning.
 */
export const HOT_TABLES: readonly string[] = ['reservations', 'api_keys', 'api_users'];

export interface ApiImpact {
  /** Routes whose statements on the table wait for the lock. */
  readonly blocked: readonly TableUse[];
  /** Writers outside the API that wait (a lock that blocks writes). */
  readonly otherWriters?: string;
}

/** Who waits while a migration holds `mode` on `table`. */
export function apiImpact(table: string, mode: LockMode): ApiImpact {
  const blocked = (API_TABLE_USE[unqualified(table)] ?? []).filter((use) => conflicts(mode, use.mode));
  const writer = OTHER_WRITERS[unqualified(table)];
  return { blocked, ...(writer && conflicts(mode, 'RowExclusiveLock') ? { otherWriters: writer } : {}) };
}

export function isHot(table: string): boolean {
  return HOT_TABLES.includes(unqualified(table));
}

function unqualified(table: string): string {
  return table.replace(/^public\./, '');
}
