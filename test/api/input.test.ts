import type { Client } from 'pg';
import type { TestDatabase } from '../support/database';
import { call, createApiDatabase, createUserWithKey, readMessages, startTestApi, type TestApi } from '../support/api';
import { rawRequest } from '../support/raw-http';

const UNSTORABLE = 'String should not contain NUL characters or unpaired surrogates';

describe('API input that PostgreSQL cannot store, and requests that cannot be read', () => {
  let db: TestDatabase;
  let client: Client;
  let api: TestApi;
  let key: string;
  let port: number;

  beforeAll(async () => {
    db = await createApiDatabase('api_input');
    client = await db.connect();
    api = await startTestApi(db);
    port = api.api.port;
    key = (await createUserWithKey(client, 'alice')).api_key;
  });
  afterAll(async () => {
    await api.stop();
    await db.drop();
  });

  /** JSON text as written, so escapes such as \u0000 and a lone \ud800 reach the API unchanged. */
  const submit = (json: string) => call(`${api.url}/v1/jobs/submit`, key, { method: 'POST', body: json });
  const issue = (...loc: (string | number)[]) => ({ loc, msg: UNSTORABLE, type: 'string_unstorable' });

  it('when JSON strings hold NUL, in a field or in an env_vars name or value, then 422 names each and nothing is queued', async () => {
    const response = await submit('{"image": "ubuntu\\u0000", "instance_type": "t", "env_vars": {"A\\u0000B": "x", "C": "\\u0000"}}');
    expect(response.status).toBe(422);
    expect(response.body.detail).toEqual([
      issue('body', 'image'),
      { loc: ['body', 'env_vars', 'A\u0000B'], msg: 'Field name should not contain NUL characters or unpaired surrogates', type: 'string_unstorable' },
      issue('body', 'env_vars', 'C'),
    ]);
    expect(await readMessages(client, 'gpu_reservations')).toEqual([]);
  });

  it('when a JSON string holds a lone surrogate, then 422 names the field; a surrogate pair (an emoji) is accepted', async () => {
    for (const lone of ['\\ud800', '\\udfff', 'a\\ud800b', '\\ude00\\ud83d']) {
      const response = await submit(`{"image": "ubuntu", "instance_type": "t", "command": "${lone}"}`);
      expect(response).toMatchObject({ status: 422, body: { detail: [issue('body', 'command')] } });
    }
    const emoji = await submit('{"image": "ubuntu", "instance_type": "t", "command": "echo \\ud83d\\ude00"}');
    expect(emoji.status).toBe(200);
    expect(await readMessages(client, 'gpu_reservations')).toEqual([expect.objectContaining({ command: 'echo \u{1F600}' })]);
  });

  it('when a nested body holds NUL deep down, then 422 points at it', async () => {
    const response = await submit(`{"image": "u", "instance_type": "t", "extra": [${'['.repeat(1000)}"\\u0000"${']'.repeat(1000)}]}`);
    expect(response.status).toBe(422);
    expect(response.body.detail).toEqual([issue('body', 'extra', ...Array(1001).fill(0))]);
  });

  describe('when a query or path parameter decodes to NUL', () => {
    const pathNul = { status: 422, body: { detail: [{ loc: ['path'], msg: 'URL path should not contain NUL characters', type: 'string_unstorable' }] } };
    let queryValue: Awaited<ReturnType<typeof call>>;
    let queryName: Awaited<ReturnType<typeof call>>;
    let jobPath: Awaited<ReturnType<typeof call>>;
    let diskPath: Awaited<ReturnType<typeof call>>;
    let withoutKey: Awaited<ReturnType<typeof call>>;

    beforeAll(async () => {
      queryValue = await call(`${api.url}/v1/jobs?status=%00`, key);
      queryName = await call(`${api.url}/v1/jobs?status=active&%00=1`, key);
      jobPath = await call(`${api.url}/v1/jobs/%00`, key);
      diskPath = await call(`${api.url}/v1/disks/a%00b`, key, { method: 'DELETE' });
      withoutKey = await call(`${api.url}/v1/jobs/%00/cancel`, null, { method: 'POST' });
    });

    it('then a NUL in a query value is 422 naming the parameter', () => {
      expect(queryValue).toMatchObject({ status: 422, body: { detail: [{ loc: ['query', 'status'], msg: UNSTORABLE }] } });
    });

    it('then a NUL in a query parameter name is 422 naming it', () => {
      expect(queryName).toMatchObject({ status: 422, body: { detail: [{ loc: ['query', '\u0000'] }] } });
    });

    it('then a NUL in the path is 422 naming the path', () => {
      expect(jobPath).toMatchObject(pathNul);
      expect(diskPath).toMatchObject(pathNul);
    });

    it('then it is refused before the key is even checked', () => {
      expect(withoutKey).toMatchObject(pathNul);
    });
  });

  it('when the path has malformed percent-encoding (invalid hex, overlong UTF-8, an encoded surrogate), then 400 naming the segment', async () => {
    for (const segment of ['%ZZ', '%C0%AE', '%ED%A0%80', '%', 'abc%E2%82']) {
      for (const [method, path] of [
        ['GET', `/v1/jobs/${segment}`],
        ['POST', `/v1/jobs/${segment}/extend`],
        ['GET', `/v1/disks/${segment}/operations/x`],
        ['DELETE', `/v1/disks/${segment}`],
      ]) {
        const response = await call(`${api.url}${path}`, key, { method });
        expect(response).toMatchObject({ status: 400, body: { detail: `Malformed percent-encoding in the URL path segment '${segment}'` } });
      }
    }
    expect(await call(`${api.url}/nowhere/%ZZ`, null)).toMatchObject({ status: 400 });
  });

  it('when the query string has malformed percent-encoding, then 400 naming the parameter', async () => {
    expect(await call(`${api.url}/v1/jobs?limit=5&status=%ZZ`, key)).toMatchObject({
      status: 400,
      body: { detail: "Malformed percent-encoding in the query parameter 'status'" },
    });
    expect(await call(`${api.url}/v1/jobs?%C0%AE=1`, key)).toMatchObject({
      status: 400,
      body: { detail: "Malformed percent-encoding in the query parameter '%C0%AE'" },
    });
    expect((await call(`${api.url}/v1/jobs?status=a%2Cb+c`, key)).status).toBe(200);
  });

  describe('when Node refuses the request before Express sees it, or it is not one the API serves', () => {
    const raw = async (request: string) => {
      const response = await rawRequest(port, Buffer.from(request, 'latin1'));
      return { ...response, json: JSON.parse(response.body) };
    };

    it('then a malformed request line or header is a JSON 400, and oversized headers a JSON 431', async () => {
      for (const request of [
        'FOO / HTTP/1.1\r\nHost: x\r\n\r\n',
        'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
        'garbage\r\n\r\n',
      ]) {
        expect(await raw(request)).toMatchObject({
          status: 400,
          headers: { 'content-type': 'application/json; charset=utf-8' },
          json: { detail: 'Malformed HTTP request' },
        });
      }
      const large = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(large).toMatchObject({ status: 431, json: { detail: 'Request headers are larger than the server accepts' } });
      expect(api.logs).toContainEqual(expect.objectContaining({ msg: 'request refused by the HTTP parser', status: 431, code: 'HPE_HEADER_OVERFLOW' }));
    });

    it('then an HTTP/1.1 request without Host is a JSON 400, and CONNECT a JSON 405', async () => {
      expect(await raw('GET /health HTTP/1.1\r\nConnection: close\r\n\r\n')).toMatchObject({ status: 400, json: { detail: 'Host header is required' } });
      expect((await raw('GET /health HTTP/1.0\r\n\r\n')).status).toBe(200);
      expect(await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')).toMatchObject({
        status: 405,
        headers: { allow: 'GET, HEAD, POST, DELETE' },
        json: { detail: 'CONNECT is not supported' },
      });
    });
  });
});
