/**
 * The per-exchange time a proxy reports (stats and statsd) is what its client waited: injected
 * delays count, and exchanges answered with an injected error are timed too. Checked with real
 * UDP statsd packets and a client that measures for itself.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxySet } from '../src/proxy/proxy-set.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { startHttpServer } from './helpers/http-server.js';
import { defaultRegistry } from '../behaviors/index.js';

let web: Awaited<ReturnType<typeof startHttpServer>>;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let sock: dgram.Socket;
const packets: string[] = [];
beforeAll(async () => {
  web = await startHttpServer();
  echo = await startEchoServer();
  sock = dgram.createSocket('udp4');
  sock.on('message', (m) => packets.push(...String(m).split('\n')));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
});
afterAll(async () => {
  await web.close();
  await echo.close();
  sock.close();
});

/** statsd timings of one proxy's exchanges, in ms, once `count` of them have arrived (or 5 s passed). */
async function timings(proxy: string, count: number): Promise<number[]> {
  const re = new RegExp(`^t\\.${proxy}\\.exchange:([\\d.]+)\\|ms$`);
  const read = () => packets.map((p) => re.exec(p)).filter((m) => m !== null).map((m) => Number(m![1]));
  const deadline = Date.now() + 5000;
  while (read().length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return read();
}

function get(port: number): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - start }));
    });
    req.on('error', reject);
  });
}

describe('exchange timing is what the client saw', () => {
  it('includes a 200 ms delay, before or after the request, and times error-answered exchanges (HTTP)', async () => {
    const set = new ProxySet(defaultRegistry);
    await set.start(
      [{ name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${web.port}`, protocol: 'http', behaviors: { delay: { percent: 100, sleep: 0.2 } } }],
      { host: '127.0.0.1', port: sock.address().port, prefix: 't', sample_rate: 1 },
    );
    const p = set.get('web')!;
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) seen.push((await get(p.port)).ms);
    await p.setMix({ delay: { percent: 100, sleep: 0.2, before: false } });
    for (let i = 0; i < 3; i++) seen.push((await get(p.port)).ms);
    const delayed = await timings('web', 6);
    expect(delayed).toHaveLength(6);
    for (const [i, ms] of delayed.entries()) {
      expect(ms).toBeGreaterThanOrEqual(199);
      // The proxy's time is inside the client's own measure of the same exchange.
      expect(ms).toBeLessThanOrEqual(seen[i] + 1);
    }
    expect(p.stats().latency.min).toBeGreaterThanOrEqual(199);

    await p.setMix('100:error');
    for (let i = 0; i < 3; i++) expect((await get(p.port)).status).toBeGreaterThanOrEqual(500);
    expect(await timings('web', 9)).toHaveLength(9);
    expect(p.stats().latency.count).toBe(9);
    await set.close(0);
  });

  it('includes a delay on raw TCP, where the first reply byte ends the exchange', async () => {
    const set = new ProxySet(defaultRegistry);
    await set.start(
      [{ name: 'raw', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp', behaviors: { delay: { percent: 100, sleep: 0.2, before: false } } }],
      { host: '127.0.0.1', port: sock.address().port, prefix: 't', sample_rate: 1 },
    );
    const p = set.get('raw')!;
    for (let i = 0; i < 3; i++) expect((await exchange(p.port, 'ping', { want: 4 })).reply.toString()).toBe('ping');
    const got = await timings('raw', 3);
    expect(got).toHaveLength(3);
    for (const ms of got) expect(ms).toBeGreaterThanOrEqual(199);
    await set.close(0);
  });
});
