import net from 'node:net';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy/proxy.js';
import { exchange } from './helpers/echo.js';
import { startHttpServer } from './helpers/http-server.js';
import { startProxy } from './helpers/builtin-proxy.js';

let srv: Awaited<ReturnType<typeof startHttpServer>>;
let proxy: Proxy;
let pool: Pool;
beforeAll(async () => {
  srv = await startHttpServer();
  proxy = await startProxy({ name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${srv.port}`, protocol: 'http', seed: 42 });
  pool = new Pool(`http://127.0.0.1:${proxy.port}`, { connections: 2, pipelining: 4 });
});
afterAll(async () => {
  await pool.close();
  await proxy.close(100);
  await srv.close();
});

async function get(path: string, opts: { method?: string; body?: string } = {}) {
  const r = await pool.request({ path, method: (opts.method ?? 'GET') as 'GET', body: opts.body });
  const body = await r.body.text();
  return { status: r.statusCode, headers: r.headers, body };
}

/**
 * The proxy's reply to one raw request, whole: its head, then as many body bytes as its
 * Content-Length says (none to a HEAD), or what came before a close. Read until then, not for a
 * fixed time: a 300 ms window came back empty when this process was held off the CPU that long
 * (the window's timer, due first, ran before the reply's read).
 */
function reply(raw: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxy.port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no whole reply to ${JSON.stringify(raw)} within ${timeoutMs} ms: ${JSON.stringify(got)}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = raw.startsWith('HEAD ') ? 0 : Number(/\r\nContent-Length: (\d+)\r\n/i.exec(got.slice(0, end + 2))?.[1]);
      if (got.length >= end + 4 + length) done();
    });
    s.on('end', done);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(raw);
  });
}

describe('http proxy with a real server and undici', () => {
  it('passes requests and bodies through byte-exact over keep-alive and pipelining', async () => {
    await proxy.setMix('');
    const before = proxy.stats().exchanges;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => get(`/item/${i}?q=${i}`, { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? `payload-${i}`.repeat(i) : undefined })),
    );
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      const j = JSON.parse(r.body);
      expect(j.url).toBe(`/item/${i}?q=${i}`);
      expect(Buffer.from(j.body, 'base64').toString()).toBe(i % 2 ? `payload-${i}`.repeat(i) : '');
    });
    const big = await get('/big');
    expect(big.body.length).toBe(1024 * 1024);
    const chunked = await get('/chunked');
    expect(chunked.body).toBe('part1,part2');
    const s = proxy.stats();
    expect(s.exchanges - before).toBe(42);
    expect(s.connections.total).toBeLessThanOrEqual(2);
    expect(s.latency.count).toBeGreaterThanOrEqual(42);
  });

  it('error gives a real 503 and the keep-alive connection keeps working', async () => {
    await proxy.setMix('100:error');
    const before = srv.requests();
    const r = await get('/x');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.headers['x-marteau-fault']).toBe('error');
    expect(srv.requests()).toBe(before);
    await proxy.setMix('');
    const ok = await get('/y');
    expect(ok.status).toBe(200);
    expect(proxy.stats().connections.total).toBeLessThanOrEqual(2);
  });

  it('an injected error follows its request: HTTP version, HEAD, Connection: close, a message of its own', async () => {
    await proxy.setMix('100:error');
    // Each shape after another, so that one reply made for a shape is never handed to another.
    for (let round = 0; round < 2; round++) {
      const keep = await reply('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(keep).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*Connection: keep-alive\r\n\r\n503 Service Unavailable \(injected by marteau-tui\)\n$/);
      const head = await reply('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 503 [^]*Content-Length: 50\r\n[^]*\r\n\r\n$/);
      const old = await reply('GET / HTTP/1.0\r\n\r\n');
      expect(old).toMatch(/^HTTP\/1\.0 503 [^]*Connection: close\r\n\r\n503 /);
      const closing = await reply('GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n');
      expect(closing).toMatch(/^HTTP\/1\.1 503 [^]*Connection: close\r\n/);
    }
    await proxy.setMix({ error: { percent: 100, kind: '500', message: 'db down' } });
    expect(await reply('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n[^]*Content-Length: 7\r\n[^]*\r\n\r\ndb down$/);
    await proxy.setMix('');
  });

  it('each error kind is that status, the named ones and any other 4xx or 5xx', async () => {
    for (const kind of ['500', '502', '504', '429', '404', '401', '507']) {
      await proxy.setMix({ error: { percent: 100, kind } });
      expect((await get('/k')).status).toBe(Number(kind));
    }
    await proxy.setMix({ error: { percent: 100, kind: '409' } });
    const conflict = await reply('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(conflict).toMatch(/^HTTP\/1\.1 409 Conflict\r\n[^]*\r\n\r\n409 Conflict \(injected by marteau-tui\)\n$/);
    expect(conflict).not.toContain('Retry-After');
    await proxy.setMix('');
  });

  it('faults one request of a pipelined batch and keeps the others in order', async () => {
    await proxy.setMix('30:error');
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => get(`/p/${i}`)));
    let errors = 0;
    results.forEach((r, i) => {
      if (r.status === 503) errors++;
      else expect(JSON.parse(r.body).url).toBe(`/p/${i}`);
    });
    expect(errors).toBeGreaterThan(5);
    expect(errors).toBeLessThan(35);
    await proxy.setMix('');
  });

  it('delay holds each request', async () => {
    await proxy.setMix({ delay: { percent: 100, sleep: 0.15 } });
    const t = performance.now();
    expect((await get('/d')).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(145);
    await proxy.setMix('');
  });

  it('blackout and abort close the connection; hang times out', async () => {
    const raw = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    await proxy.setMix('100:blackout');
    expect((await exchange(proxy.port, raw)).closed).toBe(true);
    await proxy.setMix('100:abort');
    const before = srv.requests();
    const a = await exchange(proxy.port, raw);
    expect(a.closed).toBe(true);
    expect(a.reply.length).toBe(0);
    await proxy.setMix('100:hang');
    const h = await exchange(proxy.port, raw, { timeoutMs: 300 });
    expect(h.error).toBe('timeout');
    await proxy.setMix('');
    // abort let the request reach the server.
    expect(srv.requests()).toBeGreaterThanOrEqual(before);
  });

  it('pipelined requests split anywhere across reads arrive intact, and so do their responses: read buffers are reused only when nothing points into them', async () => {
    // Bodies that differ from each other and along their length, some sent chunked; most are
    // small, so that the proxy's writes to the client back up a few KiB at a time (under the
    // socket's high-water mark, where nothing pauses the server's reads).
    const n = 20_000;
    const bodyOf = (i: number) => Buffer.from(Array.from({ length: i % 10 ? (i * 13) % 300 : (i * 37) % 4000 }, (_, j) => (i * 31 + j * 7 + (j >> 8)) % 251));
    const requests = Buffer.concat(
      Array.from({ length: n }, (_, i) => {
        const body = bodyOf(i);
        if (i % 3 === 0) {
          const half = body.length >> 1;
          const chunk = (b: Buffer) => (b.length ? [Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')] : []);
          return Buffer.concat([Buffer.from(`POST /r/${i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`), ...chunk(body.subarray(0, half)), ...chunk(body.subarray(half)), Buffer.from('0\r\n\r\n')]);
        }
        return Buffer.concat([Buffer.from(`POST /r/${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
      }),
    );
    for (const behaviors of ['', { error: 20, delay: { percent: 20, sleep: 0.002 } }] as const) {
      const p = await startProxy({ name: 'split', listen: '127.0.0.1:0', upstream: `127.0.0.1:${srv.port}`, protocol: 'http', behaviors, seed: 7 });
      try {
        const s = net.connect({ port: p.port, host: '127.0.0.1' });
        const responses = readResponses(s, n, 60_000);
        // The client reads late: the proxy's writes to it back up while the server keeps sending.
        s.pause();
        for (let at = 0, k = 0; at < requests.length; k++) {
          const size = [1, 7, 333, 4096, 65_536, 150_000][k % 6];
          s.write(requests.subarray(at, at + size));
          at += size;
        }
        // Until the server stops answering: every buffer on the way back is full by then.
        for (let last = -1, t = 0; srv.requests() !== last && t < 100; t++) {
          last = srv.requests();
          await new Promise((r) => setTimeout(r, 200));
        }
        s.resume();
        const got = await responses;
        s.destroy();
        expect(got).toHaveLength(n);
        let errors = 0;
        for (const [i, r] of got.entries()) {
          if (r.status === 503) {
            errors++;
            continue;
          }
          expect(r.status, `response ${i}`).toBe(200);
          const j = JSON.parse(r.body.toString()) as { url: string; body: string };
          expect(j.url).toBe(`/r/${i}`);
          expect(Buffer.from(j.body, 'base64').equals(bodyOf(i)), `body of request ${i}`).toBe(true);
        }
        expect(errors === 0).toBe(behaviors === '');
        expect(p.stats().fallbacks).toBe(0);
      } finally {
        await p.close(100);
      }
    }
  }, 120_000);

  it('a dead upstream gives undici a prompt connection error', async () => {
    const dead = await startProxy({ name: 'dead', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', protocol: 'http' });
    const agent = new Agent();
    try {
      const t = performance.now();
      await expect(request(`http://127.0.0.1:${dead.port}/`, { dispatcher: agent })).rejects.toThrow();
      expect(performance.now() - t).toBeLessThan(2000);
    } finally {
      await agent.close();
      await dead.close(50);
    }
  });
});

/** The first `n` responses on `s` (Content-Length or chunked bodies), each as its status and body. */
function readResponses(s: net.Socket, n: number, timeoutMs: number): Promise<{ status: number; body: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const out: { status: number; body: Buffer }[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`${out.length} of ${n} responses within ${timeoutMs} ms`)), timeoutMs);
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      try {
        for (let r = nextResponse(buf); r; r = nextResponse(buf)) {
          out.push(r.response);
          buf = buf.subarray(r.end);
        }
      } catch (err) {
        clearTimeout(timer);
        s.destroy();
        return reject(new Error(`response ${out.length}: ${(err as Error).message}`));
      }
      if (out.length >= n) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

/** The whole response at the start of `buf`, and where it ends; undefined while incomplete. */
function nextResponse(buf: Buffer): { response: { status: number; body: Buffer }; end: number } | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = buf.toString('latin1', 0, headEnd);
  if (!/^HTTP\/1\.1 \d{3} /.test(head)) throw new Error(`not a response head: ${JSON.stringify(head.slice(0, 60))}`);
  const status = Number(head.split(' ')[1]);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) {
    const end = headEnd + 4 + Number(length[1]);
    return buf.length < end ? undefined : { response: { status, body: buf.subarray(headEnd + 4, end) }, end };
  }
  if (!/\r\ntransfer-encoding: *chunked/i.test(head)) throw new Error(`a response with no length: ${head}`);
  const parts: Buffer[] = [];
  for (let at = headEnd + 4; ; ) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const line = buf.toString('latin1', at, eol);
    if (!/^[0-9a-f]{1,4}$/i.test(line)) throw new Error(`not a chunk size: ${JSON.stringify(line.slice(0, 60))}`);
    const size = parseInt(line, 16);
    const end = eol + 2 + size + 2;
    if (buf.length < end) return undefined;
    if (size === 0) return { response: { status, body: Buffer.concat(parts) }, end };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = end;
  }
}
