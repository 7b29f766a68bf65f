/**
 * The builtin runner's minimal HTTP/1.1 connection against undici, its reference: the same
 * request bytes on the wire, and the same outcome (status, body bytes, error kind, connections
 * opened) for every way a real server over a real socket can frame, end or fail a reply.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainRequests, UserAgent, type HttpResult, type RequestSpec } from '../../src/runners/builtin/http.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Replies scripted by path; records each request's raw bytes and counts connections. */
interface Scripted {
  server: Server;
  origin: string;
  connections: number;
  requests: Buffer[];
}

type Reply = (socket: Socket) => void | Promise<void>;

/** Write the pieces with a pause between them, so they arrive in separate reads. */
const trickle = (pieces: string[]) => async (s: Socket) => {
  for (const p of pieces) {
    s.write(p);
    await pause(15);
  }
};

const REPLIES: Record<string, Reply> = {
  '/plain': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=30\r\n\r\nhello'),
  '/chunked': trickle(['HTTP/1.1 200 OK\r\nTransfer-', 'Encoding: chunked\r\n\r\n5\r', '\nhello\r\n6;ext=1\r\n wo', 'rld\r\n0\r\nX-Trailer: 1\r\n', '\r\n']),
  '/close': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  '/http10': (s) => void s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/http10-keep': (s) => void s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok'),
  '/short-keepalive': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=2\r\n\r\nok'),
  '/mixed-case': (s) => void s.write('HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:  3 \r\nX-Other: a:b\r\nCONNECTION: Upgrade, Close\r\n\r\nabc'),
  '/hint-in-list': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: max=100, timeout=1\r\n\r\nok'),
  '/gzip-chunked': (s) => void s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip , Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
  '/eof': (s) => void s.end('HTTP/1.1 200 OK\r\n\r\nuntil the end'),
  '/cut': (s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
  '/no-reply': (s) => void s.end(),
  '/reset': (s) => void s.resetAndDestroy(),
  '/stall': () => {},
  '/stall-body': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
  '/interim': (s) => void s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'),
  '/no-content': (s) => void s.write('HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n'),
  '/not-modified': (s) => void s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n'),
  '/status': (s) => void s.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy'),
  '/huge-head': (s) => void s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`),
  '/bad-chunk': (s) => void s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'),
  '/not-http': (s) => void s.write('HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
};

/** The scripted server's sockets, so that the stalled ones can be closed at the end. */
const open = new Set<Socket>();

async function startScripted(): Promise<Scripted> {
  const self: Scripted = { server: undefined!, origin: '', connections: 0, requests: [] };
  self.server = createServer((socket) => {
    self.connections++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    let pending = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        self.requests.push(pending.subarray(0, end + 4 + length));
        pending = pending.subarray(end + 4 + length);
        const path = head.split(' ')[1];
        void REPLIES[path]?.(socket);
      }
    });
  });
  await new Promise<void>((r) => self.server.listen(0, '127.0.0.1', r));
  const addr = self.server.address();
  self.origin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return self;
}

let srv: Scripted;
beforeAll(async () => {
  srv = await startScripted();
});
afterAll(async () => {
  for (const s of open) s.destroy();
  await new Promise((r) => srv.server.close(r));
});

const spec = (path: string, extra: Partial<RequestSpec> = {}): RequestSpec => ({
  origin: srv.origin,
  path,
  method: 'GET',
  headers: ['user-agent', 'marteau-tui'],
  body: null,
  ...extra,
});

interface Seen {
  results: Pick<HttpResult, 'code' | 'bytes' | 'error'>[];
  connections: number;
  requests: Buffer[];
}

/** Send `times` requests one after the other through one user agent, as a user does. */
async function through(s: RequestSpec, times: number, timeoutMs = 2_000): Promise<Seen> {
  const agent = new UserAgent({ timeoutMs });
  const c0 = srv.connections;
  const r0 = srv.requests.length;
  const results: Seen['results'] = [];
  try {
    for (let i = 0; i < times; i++) {
      const r = await agent.send(s);
      results.push({ code: r.code, bytes: r.bytes, ...(r.error ? { error: r.error } : {}) });
    }
  } finally {
    await agent.destroy();
  }
  return { results, connections: srv.connections - c0, requests: srv.requests.slice(r0) };
}

/** The same requests through the minimal connection and through undici. */
async function both(s: RequestSpec, times: number, timeoutMs?: number): Promise<{ plain: Seen; undici: Seen }> {
  const [prepared] = plainRequests([s]);
  expect(prepared.plain, 'the minimal connection takes this request').toBeDefined();
  const plain = await through(prepared, times, timeoutMs);
  const undici = await through(s, times, timeoutMs);
  return { plain, undici };
}

describe('builtin runner: the minimal HTTP/1.1 connection matches undici', () => {
  it('writes the very bytes undici writes, with or without a body', async () => {
    const cases = [
      spec('/plain'),
      spec('/plain?q=1&x=%20', { headers: ['user-agent', 'marteau-tui', 'accept', 'text/html', 'x-token', 'a b'] }),
      spec('/plain', { method: 'POST', body: '{"a":"é"}', headers: ['user-agent', 'marteau-tui', 'content-type', 'application/json'] }),
      spec('/plain', { method: 'POST' }),
      spec('/plain', { method: 'DELETE' }),
      spec('/plain', { method: 'PUT', body: '' }),
    ];
    for (const c of cases) {
      const { plain, undici } = await both(c, 2);
      expect(plain.requests.map(String)).toEqual(undici.requests.map(String));
      expect(plain.requests.length).toBe(2);
      expect(plain.results).toEqual(undici.results);
    }
  });

  it.each([
    ['/plain', 3],
    ['/chunked', 3],
    ['/close', 3],
    ['/http10', 3],
    ['/http10-keep', 3],
    ['/short-keepalive', 3],
    ['/mixed-case', 3],
    ['/hint-in-list', 3],
    ['/gzip-chunked', 3],
    ['/eof', 2],
    ['/interim', 3],
    ['/no-content', 3],
    ['/status', 3],
  ])('frames %s as undici does (status, body bytes, connections)', async (path, times) => {
    const { plain, undici } = await both(spec(path), times);
    expect(plain.results).toEqual(undici.results);
    expect(plain.results[0].error).toBeUndefined();
    expect(plain.connections).toBe(undici.connections);
  });

  it.each([
    ['/cut', 'connection closed'],
    ['/no-reply', 'connection closed'],
    ['/reset', 'ECONNRESET'],
    ['/huge-head', 'UND_ERR_HEADERS_OVERFLOW'],
  ])('fails %s as undici does (%s)', async (path, kind) => {
    const { plain, undici } = await both(spec(path), 2);
    expect(plain.results.map((r) => r.error)).toEqual([kind, kind]);
    expect(plain.results.map((r) => r.code)).toEqual(undici.results.map((r) => r.code));
    expect(undici.results.map((r) => r.error)).toEqual([kind, kind]);
    expect(plain.connections).toBe(undici.connections);
  });

  it.each([
    ['/bad-chunk', 'HTTPParserError'],
    ['/not-http', 'HTTPParserError'],
    ['/not-modified', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'],
  ])('fails a malformed reply (%s) as undici does (%s)', async (path, kind) => {
    const { plain, undici } = await both(spec(path), 2);
    expect(plain.results).toEqual([
      { code: -1, bytes: plain.results[0].bytes, error: kind },
      { code: -1, bytes: plain.results[1].bytes, error: kind },
    ]);
    expect(plain.results).toEqual(undici.results);
    expect(plain.connections).toBe(undici.connections);
  });

  it.each(['/stall', '/stall-body'])('times out %s after the request timeout, as undici', async (path) => {
    const t0 = performance.now();
    const { plain, undici } = await both(spec(path), 1, 300);
    expect(plain.results).toEqual([{ code: -1, bytes: plain.results[0].bytes, error: 'timeout' }]);
    expect(undici.results[0].error).toBe('timeout');
    // Both timed out, neither before its 300 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(600);
  });

  it('reports a refused connection by its code', async () => {
    const closed = await startScripted();
    const origin = closed.origin;
    await new Promise((r) => closed.server.close(r));
    const s = { ...spec('/plain'), origin };
    const [prepared] = plainRequests([s]);
    const a = await through(prepared, 2);
    const b = await through(s, 2);
    expect(a.results.map((r) => r.error)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    expect(a.results).toEqual(b.results);
  });

  it('ends a request in flight as aborted when its user agent is destroyed', async () => {
    const [prepared] = plainRequests([spec('/stall')]);
    const agent = new UserAgent({ timeoutMs: 10_000 });
    const pending = agent.send(prepared);
    await pause(50);
    await agent.destroy();
    expect((await pending).error).toBe('aborted');
    expect((await agent.send(prepared)).error).toBe('aborted');
  });

  it('leaves to undici what it does not carry, for every request of that origin', () => {
    const get = spec('/plain');
    expect(plainRequests([get])[0].plain).toBeDefined();
    expect(plainRequests([{ ...get, origin: 'https://127.0.0.1:1' }])[0].plain).toBeUndefined();
    expect(plainRequests([{ ...get, method: 'HEAD' }])[0].plain).toBeUndefined();
    expect(plainRequests([{ ...get, body: 'x' }])[0].plain).toBeUndefined();
    expect(plainRequests([{ ...get, headers: ['host', 'example.com'] }])[0].plain).toBeUndefined();
    expect(plainRequests([{ ...get, headers: ['x-bad', 'a\r\nb'] }])[0].plain).toBeUndefined();
    // One connection per user and origin: a HEAD step sends the origin's GET through undici too.
    const mixed = plainRequests([get, { ...get, method: 'HEAD' }, { ...get, origin: 'http://127.0.0.2:1' }]);
    expect(mixed.map((s) => s.plain !== undefined)).toEqual([false, false, true]);
  });
});
