import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Client } from 'pg';
import { REPO_ROOT } from '../../src/build/repository';
import type { TestDatabase } from '../support/database';
import { createApiDatabase, createUserWithKey, insertReservation, startTestApi, type TestApi } from '../support/api';
import { rawRequest, type RawResponse } from '../support/raw-http';

/** Fixed, so a failure is the same request on every run; FUZZ_SEED explores other corpora. */
const SEED = Number(process.env.FUZZ_SEED ?? 14);
/** Random combinations on top of the systematic cases. */
const RANDOM_CASES = 400;

/** Stands for the caller's current key in a header value; replaced when the request is sent. */
const KEY = '{KEY}';

interface FuzzRequest {
  readonly method: string;
  readonly target: string;
  /** In order, repeats allowed; Content-Length is added for a body unless one is here. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer;
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every route, with a body that would be accepted, so one hostile part at a time is what is tested. */
const ROUTES: readonly { method: string; path: string; body?: Record<string, unknown> }[] = [
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/ready' },
  { method: 'POST', path: '/v1/keys/rotate' },
  {
    method: 'POST',
    path: '/v1/jobs/submit',
    body: { image: 'ubuntu:24.04', instance_type: 'p5.48xlarge', duration_hours: 2, disk_name: 'd1', disk_size_gb: 20, env_vars: { A: 'b' }, command: 'true' },
  },
  { method: 'GET', path: '/v1/jobs' },
  { method: 'GET', path: '/v1/jobs/{job_id}' },
  { method: 'POST', path: '/v1/jobs/{job_id}/cancel', body: {} },
  { method: 'POST', path: '/v1/jobs/{job_id}/extend', body: { extension_hours: 2 } },
  { method: 'POST', path: '/v1/jobs/{job_id}/jupyter/enable', body: {} },
  { method: 'POST', path: '/v1/jobs/{job_id}/jupyter/disable', body: {} },
  { method: 'POST', path: '/v1/jobs/{job_id}/users', body: { github_username: 'octocat' } },
  { method: 'GET', path: '/v1/gpu/availability' },
  { method: 'GET', path: '/v1/cluster/status' },
  { method: 'GET', path: '/v1/disks' },
  { method: 'POST', path: '/v1/disks', body: { disk_name: 'd2', size_gb: 20 } },
  { method: 'GET', path: '/v1/disks/{disk_name}' },
  { method: 'DELETE', path: '/v1/disks/{disk_name}' },
  { method: 'GET', path: '/v1/disks/{disk_name}/operations/{operation_id}' },
];
const VALID_PARAMS: Readonly<Record<string, string>> = { job_id: 'res-1', disk_name: 'd1', operation_id: '7d5e9a0c-3b1f-4c2a-9e8d-0a1b2c3d4e5f' };

/** Path segments as sent (percent-encoding included): NUL, malformed encodings, traversal, sizes. */
const SEGMENTS = [
  '%00',
  'a%00b',
  '%ZZ',
  '%C0%AE',
  '%ED%A0%80',
  '%E2%82',
  '%',
  '%%',
  '%2',
  '%u0000',
  '%FF',
  '%2F',
  '..',
  '%2E%2E',
  '.',
  '%20',
  '%0A',
  '%0D%0A',
  '%F0%9F%98%80',
  '%EF%BF%BF',
  "'%20OR%201=1--",
  'a;b',
  '~',
  '*',
  'x'.repeat(300),
  'x'.repeat(8000),
];

/** Query strings: NUL, malformed encodings, repeats, arrays, numbers out of range, odd shapes. */
const QUERIES = [
  '?status=%00',
  '?status=%ZZ',
  '?status=%C0%AE',
  '?status=%ED%A0%80',
  '?status=a%00',
  '?%00=1',
  '?status[]=a',
  '?status=a&status=b',
  '?limit=-1',
  '?limit=0',
  '?limit=501',
  '?limit=1e3',
  '?limit=%00',
  '?limit=99999999999999999999',
  '?offset=999999999999999',
  '?offset=abc',
  '?limit=1&limit=2',
  '?=&&=&',
  '?&',
  `?status=${'active,'.repeat(200)}`,
  '?__proto__=x&constructor=y',
  '?status=%2C%2C',
  '?status=+',
  '?a=%',
  '?status=%E2%82',
];

/** Strings for JSON fields (JSON.stringify writes NUL and lone surrogates as \u escapes). */
const STRINGS = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\ude00\ud83d',
  '\ud83d\ude00',
  '',
  ' ',
  '\n\r\t',
  '\u202e',
  '\ufeff',
  '\uffff',
  "' OR 1=1 --",
  '"; DROP TABLE reservations; --',
  '../../etc/passwd',
  '%00',
  '${jndi:ldap://x}',
  '__proto__',
  'x'.repeat(300),
  'x'.repeat(20_000),
];

/** Non-string JSON values for fields. */
const VALUES: readonly unknown[] = [
  null,
  true,
  false,
  -1,
  0,
  -0,
  1.5,
  1e308,
  2 ** 53,
  -(2 ** 53),
  [],
  {},
  ['a'],
  { a: '\u0000' },
  { '\u0000': 'a' },
  JSON.parse('{"__proto__": {"polluted": 1}}'),
  { constructor: { prototype: { polluted: 1 } } },
  JSON.parse('['.repeat(2000) + ']'.repeat(2000)),
];

const jsonBody = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

/** Bodies as bytes: JSON that is malformed, not an object, deep, huge, in odd encodings. */
const RAW_BODIES: readonly { body: Buffer; headers?: [string, string][] }[] = [
  { body: Buffer.from('{"image":') },
  { body: Buffer.from('{"image": "a\u0000", "instance_type": "t"}') },
  { body: Buffer.from('{"image": "\\ud800", "instance_type": "t"}') },
  { body: Buffer.from('{"image": "\\u0000", "instance_type": "t"}') },
  { body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"image": "u", "instance_type": "t"}')]) },
  { body: Buffer.concat([Buffer.from('{"image": "'), Buffer.from([0xc0, 0xae]), Buffer.from('", "instance_type": "t"}')]) },
  { body: Buffer.concat([Buffer.from('{"image": "'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('", "instance_type": "t"}')]) },
  { body: Buffer.from('[]') },
  { body: Buffer.from('"x"') },
  { body: Buffer.from('1') },
  { body: Buffer.from('null') },
  { body: Buffer.from('{"image": "a", "image": "\\u0000", "instance_type": "t"}') },
  { body: Buffer.from(`${'['.repeat(400_000)}"\\u0000"${']'.repeat(400_000)}`) },
  { body: Buffer.from(`${'{"a":'.repeat(50_000)}"\\u0000"${'}'.repeat(50_000)}`) },
  { body: Buffer.alloc(2 * 1024 * 1024, 'a') },
  { body: Buffer.from('not gzip at all'), headers: [['Content-Encoding', 'gzip']] },
  { body: gzipSync('{"image": "\\u0000", "instance_type": "t"}'), headers: [['Content-Encoding', 'gzip']] },
  { body: Buffer.from('{}'), headers: [['Content-Encoding', 'compress']] },
  { body: Buffer.from('{"image": "u", "instance_type": "t"}', 'utf16le'), headers: [['Content-Type', 'application/json; charset=utf-16le']] },
  { body: Buffer.from('{"image": "u"}'), headers: [['Content-Type', 'application/json; charset=latin1']] },
  { body: Buffer.from('image=u&instance_type=t'), headers: [['Content-Type', 'application/x-www-form-urlencoded']] },
  { body: Buffer.from('{"image": "u", "instance_type": "t"}'), headers: [['Content-Type', 'text/plain']] },
  { body: Buffer.from('{"image": "u", "instance_type": "t"}'), headers: [['Content-Type', 'application/json; charset="']] },
  { body: Buffer.from('{"image": "u", "instance_type": "t"}'), headers: [['Content-Type', 'application/json;;;;']] },
];

/** Header sets added to (or replacing) a valid request's headers. */
const HEADERS: readonly [string, string][][] = [
  [['Authorization', '']],
  [['Authorization', 'Bearer']],
  [['Authorization', `Bearer ${'k'.repeat(15)}`]],
  [['Authorization', `Bearer ${'k'.repeat(300)}`]],
  [['Authorization', `Bearer ${KEY}\t`]],
  [['Authorization', `Basic ${KEY}`]],
  [['Authorization', `Bearer ${KEY} extra`]],
  [['Authorization', `bearer     ${KEY}`]],
  [
    ['Authorization', `Bearer ${KEY}`],
    ['Authorization', 'Bearer other-key-0123456789'],
  ],
  [['Authorization', 'Bearer \xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0']],
  [['X-Request-Id', '\xff\xfe bad id']],
  [['X-Request-Id', 'x'.repeat(5000)]],
  [['Content-Type', 'application/json; charset=utf-32']],
  [['Content-Encoding', 'gzip, br']],
  [['If-None-Match', '*']],
  [['Expect', '100-continue']],
  [['Accept', 'text/html']],
  [['Accept-Encoding', 'gzip;q=x']],
  [
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
  ],
  [
    ['Transfer-Encoding', 'chunked'],
    ['Content-Length', '5'],
  ],
  [['Content-Length', '-1']],
  [
    ['Content-Length', '1'],
    ['Content-Length', '2'],
  ],
  [['X-Huge', 'h'.repeat(20_000)]],
  [['X-Control', 'a\x01b']],
  [['X-Newline', 'a\rb']],
  [['Bad Name', 'x']],
  [['X-Forwarded-For', '127.0.0.1, \u0000']],
];

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'FOO', 'get', 'G\x00T'];

function targetOf(path: string, params: Readonly<Record<string, string>> = {}, query = ''): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? VALID_PARAMS[name]) + query;
}

function request(method: string, target: string, options: { headers?: readonly (readonly [string, string])[]; body?: Buffer } = {}): FuzzRequest {
  const headers = new Map<string, (readonly [string, string])[]>([
    ['host', [['Host', '127.0.0.1']]],
    ['authorization', [['Authorization', `Bearer ${KEY}`]]],
  ]);
  if (options.body) headers.set('content-type', [['Content-Type', 'application/json']]);
  // A header the case names replaces the default of that name; repeats of it are all sent.
  const extra = options.headers ?? [];
  for (const name of new Set(extra.map(([n]) => n.toLowerCase())))
    headers.set(
      name,
      extra.filter(([n]) => n.toLowerCase() === name),
    );
  return { method, target, headers: [...headers.values()].flat(), body: options.body };
}

/** The corpus: every hostile part against every route it applies to, then seeded random combinations. */
function corpus(seed: number): FuzzRequest[] {
  const cases: FuzzRequest[] = [];
  for (const route of ROUTES) {
    const body = route.body ? jsonBody(route.body) : undefined;
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    for (const param of params) for (const segment of SEGMENTS) cases.push(request(route.method, targetOf(route.path, { [param]: segment }), { body }));
    for (const query of QUERIES) cases.push(request(route.method, targetOf(route.path, {}, query), { body }));
    for (const headers of HEADERS) cases.push(request(route.method, targetOf(route.path), { headers, body }));
    for (const method of METHODS) cases.push(request(method, targetOf(route.path), { body }));
    for (const raw of RAW_BODIES) cases.push(request(route.method, targetOf(route.path), { body: raw.body, headers: raw.headers }));
    for (const field of Object.keys(route.body ?? {})) {
      for (const value of [...STRINGS, ...VALUES])
        cases.push(request(route.method, targetOf(route.path), { body: jsonBody({ ...route.body, [field]: value }) }));
    }
  }
  const submit = ROUTES.find((r) => r.path === '/v1/jobs/submit')?.body ?? {};
  for (const text of STRINGS) {
    cases.push(request('POST', '/v1/jobs/submit', { body: jsonBody({ ...submit, env_vars: { [text]: 'v' } }) }));
    cases.push(request('POST', '/v1/jobs/submit', { body: jsonBody({ ...submit, env_vars: { K: text } }) }));
  }

  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  /** A value with hostile strings and values at random depths. */
  const value = (depth: number): unknown => {
    const r = random();
    if (depth > 4 || r < 0.4) return pick(STRINGS);
    if (r < 0.6) return pick(VALUES);
    if (r < 0.8) return Array.from({ length: 1 + Math.floor(random() * 3) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 3) }, () => [pick(STRINGS), value(depth + 1)]));
  };
  for (let i = 0; i < RANDOM_CASES; i++) {
    const route = pick(ROUTES);
    const params = Object.fromEntries([...route.path.matchAll(/\{(\w+)\}/g)].map((m) => [m[1], random() < 0.5 ? pick(SEGMENTS) : VALID_PARAMS[m[1]]]));
    const fields = { ...route.body };
    for (const field of Object.keys(fields)) if (random() < 0.4) fields[field] = value(0);
    if (random() < 0.3) fields[pick(STRINGS)] = value(0);
    const raw = random() < 0.15 ? pick(RAW_BODIES) : undefined;
    cases.push(
      request(random() < 0.8 ? route.method : pick(METHODS), targetOf(route.path, params, random() < 0.4 ? pick(QUERIES) : ''), {
        body: raw?.body ?? (route.body || random() < 0.2 ? jsonBody(fields) : undefined),
        headers: [...(raw?.headers ?? []), ...(random() < 0.4 ? pick(HEADERS) : [])],
      }),
    );
  }
  return cases;
}

/** The bytes on the wire: the request line and headers as latin1 (one byte per character), then the body, chunked if a header says so. */
function serialize(req: FuzzRequest, key: string): Buffer {
  const lines = [`${req.method} ${req.target} HTTP/1.1`, ...req.headers.map(([name, value]) => `${name}: ${value.split(KEY).join(key)}`)];
  const named = (name: string) => req.headers.some(([n]) => n.toLowerCase() === name);
  let body = req.body ?? Buffer.alloc(0);
  if (named('transfer-encoding'))
    body = Buffer.concat([
      body.length > 0 ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')]) : Buffer.alloc(0),
      Buffer.from('0\r\n\r\n'),
    ]);
  else if (req.body && !named('content-length')) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** What a failing request looked like, short enough to read: JSON-escaped, long runs cut. */
function printable(req: Buffer): string {
  const text = JSON.stringify(req.toString('latin1'));
  return text.length > 600 ? `${text.slice(0, 400)} … (${req.length} bytes) … ${text.slice(-150)}` : text;
}

/** The statuses docs/api.md's error table documents, each row starting "| NNN |". */
function documentedStatuses(): Set<number> {
  const readme = readFileSync(join(REPO_ROOT, 'docs', 'api.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Statuses and errors'));
  return new Set([...section.slice(0, section.indexOf('\n#', 5)).matchAll(/^\| (\d{3}) \|/gm)].map((m) => Number(m[1])));
}

describe(`API under a hostile corpus (seed ${SEED})`, () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  let key: string;
  const keys: string[] = [];

  beforeAll(async () => {
    db = await createApiDatabase('api_fuzz');
    client = await db.connect();
    api = await startTestApi(db);
    key = (await createUserWithKey(client, 'alice')).api_key;
    keys.push(key);
    await insertReservation(client, { id: 'res-1', user: 'alice', status: 'active', gpu_type: 'h100', gpu_count: 8 });
    await client.query(`INSERT INTO disks (disk_name, user_id, size_gb, operation_id, operation_status) VALUES ('d1', 'alice', 20, $1, 'completed')`, [
      VALID_PARAMS.operation_id,
    ]);
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });

  /** The rows no request may change (keys change by design: rotations). */
  async function rows(): Promise<string> {
    const tables: unknown[] = [];
    for (const table of ['reservations', 'disks', 'gpu_types', 'api_users']) tables.push((await client.query(`SELECT * FROM ${table} ORDER BY 1`)).rows);
    return JSON.stringify(tables);
  }

  describe('when every request of the corpus is sent to a running API', () => {
    let documented: Set<number>;
    let before: string;
    let after: string;
    /** What broke the contract, by kind; each names its index, the seed and its bytes. */
    const failures: Record<Breach, string[]> = { 'no status': [], 'server error': [], 'undocumented status': [], 'error without JSON detail': [] };
    const seen = new Set<number>();

    // Some 2,700 requests one after another (a rotation changes the key the next one uses): minutes on a busy machine.
    beforeAll(async () => {
      const cases = corpus(SEED);
      documented = documentedStatuses();
      before = await rows();

      for (const [i, req] of cases.entries()) {
        const bytes = serialize(req, key);
        const response: RawResponse = await rawRequest(api.api.port, bytes, { head: req.method === 'HEAD' });
        const breach = judge(req, response, documented);
        if (breach)
          failures[breach.kind].push(
            `#${i} (seed ${SEED}): ${breach.problem}\n  request: ${printable(bytes)}\n  response: ${response.status} ${response.body.slice(0, 300)}`,
          );
        if (response.status !== null) seen.add(response.status);
        // A rotation that succeeded revoked the key it was called with: carry on with the new one.
        if (req.method === 'POST' && req.target.startsWith('/v1/keys/rotate') && response.status === 200) {
          key = JSON.parse(response.body).api_key;
          keys.push(key);
        }
      }
      after = await rows();
    }, 600_000);

    /** The first 20 of a kind are enough to reproduce from. */
    const expectNone = (breach: Breach) => expect({ failed: failures[breach].length, first: failures[breach].slice(0, 20) }).toEqual({ failed: 0, first: [] });

    it('then docs/api.md documents the statuses the API answers with', () => {
      expect([...documented]).toEqual(expect.arrayContaining([400, 401, 404, 422, 500, 503]));
    });

    it('then every request gets a status', () => {
      expectNone('no status');
    });

    it('then none answers 500 or another 5xx', () => {
      expectNone('server error');
    });

    it('then every status is in docs/api.md', () => {
      expectNone('undocumented status');
    });

    it('then every error has a JSON body with a detail', () => {
      expectNone('error without JSON detail');
    });

    // The corpus gets past every layer (parser, guards, authentication, validation, services), not only to the first refusal.
    it('then the corpus reaches every layer', () => {
      expect([...seen]).toEqual(expect.arrayContaining([200, 400, 401, 404, 405, 413, 415, 422, 431]));
    });

    it('then no row changes', () => {
      expect(after).toBe(before);
    });

    it('then the caller has one active key', async () => {
      const active = await client.query(`SELECT count(*)::int AS n FROM api_keys WHERE is_active`);
      expect(active.rows).toEqual([{ n: 1 }]);
    });

    it('then no log line contains a key', () => {
      const logs = JSON.stringify(api.logs);
      expect(keys.length).toBeGreaterThan(0);
      for (const used of keys) expect(logs).not.toContain(used);
    });

    it('then the log has no error line', () => {
      expect(api.logs.filter((l) => l.level === 'error')).toEqual([]);
    });
  });
});

/** The ways a response can break the contract, in the order they are checked. */
type Breach = 'no status' | 'server error' | 'undocumented status' | 'error without JSON detail';

/** Why a response breaks the contract, or undefined. */
function judge(req: FuzzRequest, response: RawResponse, documented: Set<number>): { kind: Breach; problem: string } | undefined {
  if (response.status === null) return { kind: 'no status', problem: `no status (${response.error})` };
  if (response.status >= 500) return { kind: 'server error', problem: `status ${response.status}` };
  if (!documented.has(response.status)) return { kind: 'undocumented status', problem: `status ${response.status} is not in docs/api.md's table` };
  if (response.status < 400 || req.method === 'HEAD') return undefined;
  const json = (problem: string) => ({ kind: 'error without JSON detail' as const, problem });
  if (!/^application\/json/.test(response.headers['content-type'] ?? ''))
    return json(`error without a JSON body (content-type ${response.headers['content-type']})`);
  try {
    if (!('detail' in JSON.parse(response.body))) return json('error without "detail"');
  } catch {
    return json('error body is not JSON');
  }
  return undefined;
}
