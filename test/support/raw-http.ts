import { connect } from 'node:net';

export interface RawResponse {
  /** null when the connection ended (or timed out) without a whole response. */
  readonly status: number | null;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Why there is no whole response: a connection error or the timeout. */
  readonly error?: string;
}

/**
 * Sends `request` byte for byte on a new connection (fetch and http.request refuse to send
 * malformed requests) and reads one response: to its Content-Length, its last chunk, or the
 * server closing. The connection is not half-closed: Node's server aborts a request whose
 * client has ended its side.
 */
export function rawRequest(port: number, request: Buffer, options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let error: string | undefined;
    let done = false;
    const finish = (response: RawResponse) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(response);
    };
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.setTimeout(timeoutMs, () => {
      error = `no whole response within ${timeoutMs} ms`;
      socket.destroy();
    });
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      const response = parseResponse(received, options.head ?? false);
      if (response) finish(response);
    });
    socket.on('error', (e) => (error ??= e.message));
    socket.on('close', () =>
      finish(
        parseResponse(received, options.head ?? false, true) ?? {
          status: null,
          headers: {},
          body: received.toString('utf8'),
          error: error ?? 'closed without a whole response',
        },
      ),
    );
  });
}

/** The response in `raw` once it is whole (`closed`: the server closed the connection), else undefined. */
function parseResponse(raw: Buffer, head: boolean, closed = false): RawResponse | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})( |$)/.exec(lines[0]);
  if (!status) return undefined;
  // An interim response (100 Continue) precedes the real one.
  if (status[1].startsWith('1')) return parseResponse(raw.subarray(end + 4), head, closed);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const whole = (body: Buffer): RawResponse => ({ status: Number(status[1]), headers, body: body.toString('utf8') });
  const rest = raw.subarray(end + 4);
  if (head || ['204', '304'].includes(status[1])) return whole(Buffer.alloc(0));
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (let at = 0; ; ) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) return whole(Buffer.concat(parts));
      if (!(size > 0) || rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = headers['content-length'];
  if (length !== undefined) return rest.length >= Number(length) ? whole(rest.subarray(0, Number(length))) : undefined;
  return closed ? whole(rest) : undefined;
}
