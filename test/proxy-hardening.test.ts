/**
 * Input that would turn the proxy against itself: an upstream that is its own listen address
 * (directly or through a name), a connection flood, over-long durations, odd names, a listener
 * on every interface through the API.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { act, defineBehavior, z } from '../src/proxy/plugin.js';
import { FramingError } from '../src/proxy/protocol.js';
import { http as httpProtocol } from '../src/proxy/protocols/http.js';
import { UpstreamLoopError, type Proxy } from '../src/proxy/proxy.js';
import { runCli, startApi, type RunningCli } from './helpers/cli.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { startHttpServer } from './helpers/http-server.js';
import { freePort } from './helpers/net.js';
import { waitFor } from './helpers/recording-relay.js';
import { defaultRegistry } from '../behaviors/index.js';
import { startProxy } from './helpers/builtin-proxy.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => { echo = await startEchoServer(); });
afterAll(async () => { await echo.close(); });

const openFds = () => readdirSync('/proc/self/fd').length;

async function json(url: string, method: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

describe('an upstream that is the proxy itself', () => {
  it('is refused when the proxy starts: same address, a name resolving to it, or a wildcard listener', async () => {
    const port = await freePort();
    for (const [listen, upstream] of [
      [`127.0.0.1:${port}`, `127.0.0.1:${port}`],
      [`127.0.0.1:${port}`, `localhost:${port}`],
      [`0.0.0.0:${port}`, `127.0.0.1:${port}`],
      [`0.0.0.0:${port}`, `127.0.0.9:${port}`],
    ]) {
      const started = startProxy({ name: 'self', listen, upstream, protocol: 'tcp' });
      await expect(started, `${listen} -> ${upstream}`).rejects.toBeInstanceOf(UpstreamLoopError);
      await expect(startProxy({ name: 'self', listen, upstream, protocol: 'tcp' })).rejects.toThrow(
        `proxy "self": upstream ${upstream} is the proxy's own listen address`,
      );
    }
    // The port is free again: the refused listener was closed.
    const p = await startProxy({ name: 'other', listen: `127.0.0.1:${port}`, upstream: `127.0.0.2:${port}`, protocol: 'tcp' });
    expect(p.port).toBe(port);
    await p.close(0);
  });

  describe('through the API', () => {
    let api: RunningCli & { url: string };
    beforeAll(async () => { api = await startApi(); });
    afterAll(async () => { expect(await api.stop()).toBe(0); });

    it('answers 400 at create and at an upstream update, and the API keeps answering', async () => {
      const port = await freePort();
      const made = await json(`${api.url}/proxies`, 'POST', { name: 'loop', listen: `127.0.0.1:${port}`, upstream: `localhost:${port}` });
      expect(made.status).toBe(400);
      expect(made.body.error).toMatch(/upstream: proxy "loop": upstream localhost:\d+ is the proxy's own listen address/);
      const ok = await json(`${api.url}/proxies`, 'POST', { name: 'fine', listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${echo.port}` });
      expect(ok.status).toBe(201);
      const moved = await json(`${api.url}/proxies/fine`, 'POST', { upstream: `127.0.0.1:${port}` });
      expect(moved.status).toBe(400);
      expect((await json(`${api.url}/proxies/fine`, 'GET')).body.upstream).toBe(`127.0.0.1:${echo.port}`);
    });

    it('refuses a name with NUL or a newline, and warns of a listener on every interface', async () => {
      for (const name of ['a\u0000b', 'two\nlines']) {
        const r = await json(`${api.url}/proxies`, 'POST', { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
        expect(r.status).toBe(400);
        expect(r.body.error).toContain('a proxy name cannot contain control characters');
      }
      const open = await json(`${api.url}/proxies`, 'POST', { name: 'wide', listen: '0.0.0.0:0', upstream: `127.0.0.1:${echo.port}` });
      expect(open.status).toBe(201);
      // The port the kernel gave, the one others could reach, not the 0 asked for.
      const bound = (open.body as { listen: string }).listen;
      expect(bound).toMatch(/^0\.0\.0\.0:[1-9]\d*$/);
      await api.waitFor(new RegExp(`wide: listens on ${bound.replace(/\./g, '\\.')}, reachable from other machines`), { stream: 'err', timeoutMs: 10_000 });
    });
  });
});

describe('max_connections', () => {
  it('refuses connections over the cap, warns once, and accepts again when one closes', async () => {
    const p = await startProxy({ name: 'cap', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp', maxConnections: 3 });
    const logs: string[] = [];
    p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
    const connect = () => new Promise<net.Socket>((resolve) => { const s = net.connect(p.port, '127.0.0.1', () => resolve(s)); s.on('error', () => {}); });
    const roundTrip = (s: net.Socket) => new Promise<string>((resolve) => {
      s.once('data', (d) => resolve(String(d)));
      s.once('close', () => resolve('closed'));
      s.write('x');
    });
    const held = [await connect(), await connect(), await connect()];
    await waitFor(() => p.stats().connections.open === 3);
    expect(await Promise.all(held.map(roundTrip))).toEqual(['x', 'x', 'x']);
    expect(await roundTrip(await connect())).toBe('closed');
    expect(await roundTrip(await connect())).toBe('closed');
    expect(p.stats().connections.refused).toBe(2);
    expect(logs.filter((l) => l.includes('max_connections'))).toHaveLength(1);
    held[0].destroy();
    await waitFor(() => p.stats().connections.open === 2);
    expect(await roundTrip(await connect())).toBe('x');
    for (const s of held) s.destroy();
    await p.close(0);
  });

  it('ends a loop between two proxies (which no address check can see) without exhausting file descriptors', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a: Proxy = await startProxy({ name: 'a', listen: `127.0.0.1:${pa}`, upstream: `127.0.0.1:${pb}`, protocol: 'tcp', maxConnections: 50 });
    const b: Proxy = await startProxy({ name: 'b', listen: `127.0.0.1:${pb}`, upstream: `127.0.0.1:${pa}`, protocol: 'tcp', maxConnections: 50 });
    const before = openFds();
    const client = net.connect(pa, '127.0.0.1');
    client.on('error', () => {});
    const closed = new Promise((r) => client.once('close', r));
    client.write('ping');
    await closed;
    await waitFor(() => a.stats().connections.open === 0 && b.stats().connections.open === 0, 10_000);
    expect(a.stats().connections.refused + b.stats().connections.refused).toBeGreaterThan(0);
    expect(a.stats().connections.total).toBeLessThanOrEqual(60);
    await waitFor(() => openFds() <= before + 5, 10_000);
    await a.close(0);
    await b.close(0);
  });
});

describe('the HTTP framer on bytes that are not HTTP', () => {
  it('gives up at the first bytes that cannot start a request or a response', () => {
    const reject = (side: 'fromClient' | 'fromServer', bytes: string | Buffer) =>
      expect(() => httpProtocol.createSession()[side](Buffer.from(bytes)), String(bytes)).toThrow(FramingError);
    const accept = (side: 'fromClient' | 'fromServer', bytes: string) => {
      const s = httpProtocol.createSession();
      let all = '';
      // Byte by byte: every prefix of a real first line is held, none refused.
      for (const ch of bytes) all += Buffer.concat(s[side](Buffer.from(ch, 'latin1')).map((x) => x.data)).toString('latin1');
      expect(all + s.drain()[side === 'fromClient' ? 'client' : 'server'].toString('latin1')).toBe(bytes);
    };
    reject('fromClient', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    reject('fromClient', 'get / HTTP/1.1');
    reject('fromClient', 'GET / HTTP/1.1 extra\r\nHost');
    reject('fromClient', 'SSH-2.0-OpenSSH_9.6\r\n');
    reject('fromServer', 'SSH-2.0-OpenSSH_9.6');
    reject('fromServer', 'HTTP/1.1 2x');
    accept('fromClient', 'GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*');
    accept('fromClient', 'M-SEARCH * HTTP/1.1\r\n');
    accept('fromServer', 'HTTP/1.1 200 OK\r\nContent-Length: 5');
  });

  it('passes a TLS ClientHello and random bytes through at once, so the server answers them', async () => {
    const srv = await startHttpServer();
    const p = await startProxy({ name: 'h', listen: '127.0.0.1:0', upstream: `127.0.0.1:${srv.port}`, protocol: 'http' });
    try {
      // A real TLS client: node's HTTP server answers 400 to its ClientHello and closes.
      const t0 = performance.now();
      const error = await new Promise<Error>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: p.port, rejectUnauthorized: false });
        s.on('error', resolve);
        s.on('secureConnect', () => resolve(new Error('handshake succeeded?')));
        setTimeout(() => { s.destroy(); resolve(new Error('the ClientHello hung in the proxy')); }, 5000);
      });
      expect(error.message).toMatch(/wrong version number|packet length too long|ECONNRESET|socket disconnected/i);
      expect(performance.now() - t0).toBeLessThan(5000);
      const garbage = Buffer.from('\x00\x01binary junk with no blank line', 'latin1');
      const r = await exchange(p.port, garbage, { timeoutMs: 5000 });
      expect(r.error).not.toBe('timeout');
      expect(r.reply.toString('latin1')).toMatch(/^HTTP\/1.1 400 Bad Request/);
      expect(p.stats().fallbacks).toBe(2);
    } finally {
      await p.close(0);
      await srv.close();
    }
  });
});

describe('durations past what a timer can wait', () => {
  let api: RunningCli & { url: string };
  beforeAll(async () => { api = await startApi(); });
  afterAll(async () => { expect(await api.stop()).toBe(0); });

  it('are a 400 from the API, in every unit a behavior takes', async () => {
    const port = await freePort();
    expect((await json(`${api.url}/proxies`, 'POST', { name: 'slow', listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${echo.port}` })).status).toBe(201);
    for (const [type, attributes] of [
      ['latency', { latency: 3e9 }],
      ['latency', { latency: 10, jitter: 2 ** 31 }],
      ['timeout', { timeout: 3e9 }],
      ['slow_close', { delay: 3e9 }],
      ['reset_peer', { timeout: 3e9 }],
      ['slicer', { delay: 3e12 }],
    ] as const) {
      const r = await json(`${api.url}/proxies/slow/toxics`, 'POST', { type, attributes });
      expect(r.status, `${type} ${JSON.stringify(attributes)}`).toBe(400);
      expect(String(r.body.error)).toContain('the longest a timer can wait');
    }
    const ok = await json(`${api.url}/proxies/slow/toxics`, 'POST', { type: 'latency', attributes: { latency: 2 ** 31 - 1 } });
    expect(ok.status).toBe(200);
  });

  it('exit 2 from the CLI', async () => {
    const cli = runCli(['proxy', '--api', '127.0.0.1:0', '--interval', '3000000000']);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain('--interval: at most 2147483647 ms');
  });

  it('from a plugin, wait the longest a timer can instead of spinning', async () => {
    const forever = defineBehavior({ name: 'forever', description: 'a delay no timer holds', options: z.object({}), onExchange: () => act.delay(3e9) });
    const behaviors = new Map(defaultRegistry).set('forever', forever);
    const p = await startProxy({ name: 'f', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp', behaviors: '100:forever' }, { behaviors });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const r = await exchange(p.port, 'x', { want: 1, timeoutMs: 300 });
      expect(r.error).toBe('timeout');
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
      await p.close(0);
    }
  });
});
