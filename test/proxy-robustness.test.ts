import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinBehaviors } from '../behaviors/index.js';
import { act, defineBehavior, z } from '../src/proxy/plugin.js';
import { ProxySet } from '../src/proxy/proxy-set.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { startHttpServer } from './helpers/http-server.js';
import { defaultRegistry } from '../behaviors/index.js';
import { startProxy } from './helpers/builtin-proxy.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => { echo = await startEchoServer(); });
afterAll(async () => { await echo.close(); });

const openFds = () => readdirSync('/proc/self/fd').length;

describe('proxy robustness', () => {
  it('leaks no socket or fd after 10k connections', async () => {
    const p = await startProxy({ name: 'leak', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp', behaviors: '10:blackout,10:error,5:reset_peer', seed: 3 });
    const before = openFds();
    let done = 0;
    const one = () => exchange(p.port, 'hi', { want: 2, timeoutMs: 2000 }).then(() => { done++; });
    // 10k connections, 50 at a time: bounded in count, each with its own 2 s timeout.
    for (let i = 0; i < 10_000; i += 50) await Promise.all(Array.from({ length: 50 }, one));
    expect(done).toBe(10_000);
    const deadline = Date.now() + 5000;
    while (p.stats().connections.open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const s = p.stats();
    expect(s.connections.open).toBe(0);
    expect(s.connections.total).toBe(10_000);
    expect(openFds()).toBeLessThanOrEqual(before + 5);
    await p.close(0);
  }, 120_000);

  it('keeps serving other clients when one sends garbage past the buffer cap', async () => {
    const srv = await startHttpServer();
    const p = await startProxy({ name: 'cap', listen: '127.0.0.1:0', upstream: `127.0.0.1:${srv.port}`, protocol: 'http', maxBuffer: 4096 });
    const logs: string[] = [];
    p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
    // A head that never ends: the framer would hold it forever; the cap makes it raw instead.
    const bad = net.connect(p.port, '127.0.0.1');
    bad.on('error', () => {});
    bad.write(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(10_000)}`);
    // Until the proxy has read past the cap: a fixed 100 ms wait fails when this process is held
    // off the CPU that long (the timer, due first, runs before the socket's reads are served).
    const deadline = Date.now() + 10_000;
    while (p.stats().fallbacks < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(p.stats().fallbacks).toBe(1);
    expect(logs.join('\n')).toMatch(/framing stopped \(more than 4096 bytes held/);
    const ok = await exchange(p.port, 'GET /fine HTTP/1.1\r\nHost: x\r\n\r\n', { want: 20 });
    expect(ok.reply.toString()).toMatch(/^HTTP\/1.1 200/);
    bad.destroy();
    await p.close(0);
    await srv.close();
  });

  it('changes the mix atomically under traffic without dropping a connection', async () => {
    const p = await startProxy({ name: 'live', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp' });
    const sockets = await Promise.all(Array.from({ length: 20 }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect(p.port, '127.0.0.1', () => resolve(s));
    })));
    let closed = 0;
    for (const s of sockets) s.on('close', () => closed++);
    const roundTrip = (s: net.Socket) => new Promise<string>((resolve) => { s.once('data', (d) => resolve(String(d))); s.write('x'); });
    for (let round = 0; round < 50; round++) {
      p.setMix(round % 2 ? { delay: { percent: 50, sleep: 0.01 } } : { latency: { percent: 30, latency: 1 } });
      const replies = await Promise.all(sockets.map(roundTrip));
      expect(replies.every((r) => r === 'x')).toBe(true);
    }
    expect(closed).toBe(0);
    expect(p.stats().connections.open).toBe(20);
    for (const s of sockets) s.destroy();
    await p.close(0);
  }, 60_000);

  it('isolates a throwing plugin to the exchange it broke', async () => {
    const broken = defineBehavior({
      name: 'broken',
      description: 'throws on every second exchange',
      options: z.object({}),
      onExchange: (ctx) => {
        if (ctx.exchangeId % 2 === 0) throw new Error('plugin bug');
        return act.forward();
      },
    });
    const registry = new Map([...builtinBehaviors, broken].map((b) => [b.name, b]));
    const srv = await startHttpServer();
    const p = await startProxy({ name: 'plug', listen: '127.0.0.1:0', upstream: `127.0.0.1:${srv.port}`, protocol: 'http', behaviors: '100:broken' }, { behaviors: registry });
    const logs: string[] = [];
    p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
    const req = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    const statusesOf = (b: Buffer) => [...b.toString().matchAll(/HTTP\/1.1 (\d+)/g)].map((m) => m[1]);
    // Until the three replies are in (a fixed 1 s window is all a starved process gets).
    const r = await exchange(p.port, req + req + req, { until: (b) => statusesOf(b).length >= 3, timeoutMs: 10_000 });
    const statuses = statusesOf(r.reply);
    expect(statuses).toEqual(['200', '503', '200']);
    expect(logs.join('\n')).toContain('behavior "broken" failed on connection 1: plugin bug');
    expect(p.stats().behaviors.plugin_error).toBe(1);
    await p.close(0);
    await srv.close();
  });

  it('sends a real statsd UDP packet per fault and a timing per exchange', async () => {
    const sock = dgram.createSocket('udp4');
    const packets: string[] = [];
    sock.on('message', (m) => packets.push(...String(m).split('\n')));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const set = new ProxySet(defaultRegistry);
    await set.start(
      [{ name: 'cache', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp', behaviors: '50:error', seed: 5 }],
      { host: '127.0.0.1', port: sock.address().port, prefix: 'chaos', sample_rate: 1 },
    );
    const proxy = set.get('cache')!;
    for (let i = 0; i < 20; i++) await exchange(proxy.port, 'abcd', { want: 4 });
    const s = proxy.stats();
    expect(s.behaviors.error).toBeGreaterThan(0);
    expect(s.latency.count).toBeGreaterThan(0);
    const counters = () => packets.filter((x) => x === 'chaos.cache.error:1|c').length;
    const timings = () => packets.filter((x) => /^chaos\.cache\.exchange:[\d.]+\|ms$/.test(x)).length;
    const deadline = Date.now() + 3000;
    while ((counters() < s.behaviors.error || timings() < s.latency.count) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(counters()).toBe(s.behaviors.error);
    expect(timings()).toBe(s.latency.count);
    await set.close(0);
    sock.close();
  });
});

describe('plugin hooks that never settle', () => {
  it('fail their exchange after the hook deadline instead of stalling it', async () => {
    const stuck = defineBehavior({ name: 'stuck', description: 'never settles', options: z.object({}), onExchange: () => new Promise<undefined>(() => {}) });
    const registry = new Map([...builtinBehaviors, stuck].map((b) => [b.name, b]));
    const srv = await startHttpServer();
    const p = await startProxy({ name: 'stuck', listen: '127.0.0.1:0', upstream: `127.0.0.1:${srv.port}`, protocol: 'http', behaviors: '100:stuck' }, { behaviors: registry });
    const r = await exchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { want: 12, timeoutMs: 8000 });
    expect(r.reply.toString()).toMatch(/^HTTP\/1.1 503/);
    expect(r.ms).toBeGreaterThanOrEqual(4900);
    expect(p.stats().behaviors.plugin_error).toBe(1);
    await p.close(0);
    await srv.close();
  }, 15_000);
});

describe('upstreams that die mid-reply (soak)', () => {
  it('never leave a client hanging: 300 connections, each answered with a random cut of a reply then FIN', async () => {
    const reply = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n${'x'.repeat(2000)}`);
    let seed = 7;
    const rand = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    // A scripted upstream: on each request, a random prefix of a real reply, then a clean FIN.
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.once('data', () => s.end(reply.subarray(0, Math.floor(rand() * reply.length))));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const p = await startProxy({ name: 'cut', listen: '127.0.0.1:0', upstream: `127.0.0.1:${port}`, protocol: 'http' });
    const before = openFds();
    let closed = 0;
    for (let i = 0; i < 300; i += 30) {
      const rounds = await Promise.all(Array.from({ length: 30 }, () => exchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 })));
      for (const r of rounds) {
        expect(r.error, 'the client was left hanging').not.toBe('timeout');
        if (r.closed) closed++;
        expect(reply.subarray(0, r.reply.length).equals(r.reply)).toBe(true);
      }
    }
    expect(closed).toBe(300);
    const deadline = Date.now() + 5000;
    while (p.stats().connections.open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(p.stats().connections.open).toBe(0);
    expect(openFds()).toBeLessThanOrEqual(before + 5);
    await p.close(0);
    await new Promise((r) => server.close(r));
  }, 60_000);
});
