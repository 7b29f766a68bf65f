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

  it('each error kind is that status', async () => {
    for (const kind of ['500', '502', '504', '429']) {
      await proxy.setMix({ error: { percent: 100, kind } });
      expect((await get('/k')).status).toBe(Number(kind));
    }
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
