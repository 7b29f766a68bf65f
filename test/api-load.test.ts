/**
 * Concurrent changes never block the API or the data path: toxics and mixes change in a loop
 * through the API while echo traffic flows through the proxy. No exchange stalls, none is lost
 * or garbled, no connection drops, and every API call answers promptly. The bounds are generous
 * (a shared 2-core machine): they catch a blocked API or a wedged connection, not jitter.
 */
import net from 'node:net';
import { Toxiproxy } from 'toxiproxy-node-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningCli } from './helpers/cli.js';
import { startEchoServer } from './helpers/echo.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let api: RunningCli & { url: string };

beforeAll(async () => {
  echo = await startEchoServer();
  api = await startApi();
});
afterAll(async () => {
  expect(await api.stop()).toBe(0);
  await echo.close();
});

const CLIENTS = 16;
const API_ROUNDS = 40;
const EXCHANGE_TIMEOUT_MS = 3000;
const API_CALL_LIMIT_MS = 1500;

/** One keep-alive client doing echo round trips until told to stop; records each round trip. */
function client(port: number, id: number, stop: () => boolean) {
  const times: number[] = [];
  const problems: string[] = [];
  let closed = 0;
  const done = new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('close', () => { closed++; });
    s.on('error', (e) => problems.push(`client ${id}: ${e.message}`));
    let n = 0;
    const next = () => {
      // Bounded: at most 100k round trips per client, whatever the clock says.
      if (stop() || n >= 100_000) {
        s.removeAllListeners('close');
        s.destroy();
        resolve();
        return;
      }
      const msg = `c${id}-m${n++};`;
      let got = '';
      const start = performance.now();
      const timer = setTimeout(() => {
        problems.push(`client ${id}: no full reply to ${msg} within ${EXCHANGE_TIMEOUT_MS} ms (got "${got}")`);
        s.destroy();
        resolve();
      }, EXCHANGE_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        got += d;
        if (got.length < msg.length) return;
        clearTimeout(timer);
        s.off('data', onData);
        if (got !== msg) problems.push(`client ${id}: sent ${msg}, got ${got}`);
        times.push(performance.now() - start);
        setImmediate(next);
      };
      s.on('data', onData);
      s.write(msg);
    };
    s.once('connect', next);
  });
  return { done, times, problems, closed: () => closed };
}

describe('API under traffic', () => {
  it('changes toxics and mixes in a loop while traffic flows: no stall, prompt answers', async () => {
    const tp = new Toxiproxy(api.url);
    const proxy = await tp.createProxy({ name: 'busy', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
    const port = Number(proxy.listen.split(':').pop());
    let stopping = false;
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(port, i, () => stopping));

    const apiTimes: number[] = [];
    const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const r = await fn();
      const ms = performance.now() - start;
      apiTimes.push(ms);
      if (ms > API_CALL_LIMIT_MS) throw new Error(`${what} took ${ms.toFixed(0)} ms`);
      return r;
    };
    const put = (path: string, body: unknown) => fetch(`${api.url}${path}`, { method: 'PUT', body: JSON.stringify(body) }).then(async (r) => {
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    });

    for (let round = 0; round < API_ROUNDS; round++) {
      const lat = await timed('add latency', () => proxy.addToxic({ name: 'lat', type: 'latency', stream: round % 2 ? 'upstream' : 'downstream', toxicity: 1, attributes: { latency: 2, jitter: 1 } }));
      await timed('add slicer', () => proxy.addToxic({ name: 'slice', type: 'slicer', stream: 'downstream', toxicity: 0.5, attributes: { average_size: 3, size_variation: 1, delay: 200 } }));
      await timed('add bandwidth', () => proxy.addToxic({ name: 'bw', type: 'bandwidth', stream: 'downstream', toxicity: 1, attributes: { rate: 10_000 } }));
      await timed('update latency', () => lat.update({ ...lat.toJson(), attributes: { latency: 1, jitter: 0 } }));
      await timed('list', () => tp.getAll());
      await timed('native mix', () => put('/marteau/proxies/busy/mix', { mix: { delay: { percent: 20, sleep: 0.002 } } }));
      await timed('vaurien behavior', () => put('/vaurien/busy/behavior', { name: 'dummy' }));
      await timed('stats', () => fetch(`${api.url}/marteau/stats`).then((r) => r.json()));
      await timed('remove slicer', () => proxy.getToxic('slice').then((t) => t.remove()));
      await timed('remove bandwidth', () => proxy.getToxic('bw').then((t) => t.remove()));
      await timed('remove latency', () => lat.remove());
    }
    stopping = true;
    await Promise.all(clients.map((c) => c.done));

    const problems = clients.flatMap((c) => c.problems);
    expect(problems).toEqual([]);
    expect(clients.map((c) => c.closed())).toEqual(Array(CLIENTS).fill(0));
    const exchanges = clients.reduce((n, c) => n + c.times.length, 0);
    // Traffic really flowed during the changes (every client, many round trips).
    expect(clients.every((c) => c.times.length >= 10)).toBe(true);
    expect(exchanges).toBeGreaterThan(CLIENTS * 10);
    const sorted = [...apiTimes].sort((a, b) => a - b);
    expect(sorted.length).toBe(API_ROUNDS * 11);
    expect(sorted[Math.floor(sorted.length * 0.5)]).toBeLessThan(200);
    const stats = await fetch(`${api.url}/proxies/busy`).then((r) => r.json());
    expect(stats.toxics).toEqual([]);
    await proxy.remove();
  }, 120_000);
});
