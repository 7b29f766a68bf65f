/**
 * A backend that dies must reach the client: through every framed proxy, a server killed with
 * kill -9 while requests are in flight (pipelined and blocking), or a server that sends part of a
 * reply and then a clean FIN, leaves the client with a close or a protocol error within 1 s (as
 * Toxiproxy does, and as a direct connection would), never a hang.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProtocolName } from '../src/proxy/protocol.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { startChildServer } from './helpers/child-server.js';
import { startCuttingRelay, type CuttingRelay } from './helpers/cutting-relay.js';
import { haveMariadb, startMariadb } from './helpers/mariadb.js';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import { waitFor } from './helpers/recording-relay.js';
import { freeze, haveServer, startMemcached, startRedis, type RunningServer } from './helpers/servers.js';
import { startProxy } from './helpers/builtin-proxy.js';

/** The promise: the client knows within this long after the server went away. */
const NOTICE_MS = 1000;
/** How long a test waits before calling it a hang (well past the promise, for a loaded machine). */
const HANG_MS = 8000;

const proxies: Proxy[] = [];
async function proxyTo(port: number, protocol: ProtocolName): Promise<Proxy> {
  const p = await startProxy({ name: `death-${protocol}`, listen: '127.0.0.1:0', upstream: `127.0.0.1:${port}`, protocol });
  proxies.push(p);
  return p;
}
afterAll(async () => { for (const p of proxies) await p.close(0); });

/** performance.now() when `settled` settles (either way), or a failure naming the hang. */
async function noticedAt(settled: Promise<unknown>, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: the client heard nothing ${HANG_MS} ms after the server went away`)), HANG_MS);
  });
  try {
    await Promise.race([settled.then(() => undefined, () => undefined), hang]);
    return performance.now();
  } finally {
    clearTimeout(timer);
  }
}

/** A raw client socket: what it received, and a promise settled by its end, close or error. */
function rawClient(port: number) {
  const s = net.connect(port, '127.0.0.1');
  let received = '';
  s.on('data', (d) => { received += d.toString('latin1'); });
  const closed = new Promise<void>((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
    s.once('error', () => resolve());
  });
  return { socket: s, received: () => received, closed };
}

/** Kill the server, then measure until the client notices; returns milliseconds. */
async function afterKill(kill: () => Promise<void> | void, settled: Promise<unknown>, what: string): Promise<number> {
  const t0 = performance.now();
  await kill();
  return (await noticedAt(settled, what)) - t0;
}

/** Arm the relay's cut, provoke a reply, and measure from the FIN to the client's notice. */
async function afterCut(relay: CuttingRelay, provoke: () => Promise<unknown>, what: string): Promise<number> {
  const fin = relay.cut();
  const settled = provoke();
  const finAt = await Promise.race([fin, noticedAt(settled, `${what} (before the cut)`).then(() => -1)]);
  expect(finAt, `${what}: the reply ended before the cut`).toBeGreaterThan(0);
  return (await noticedAt(settled, what)) - finAt;
}

describe.skipIf(!haveServer('redis-server'))('redis upstream death', () => {
  const client = (port: number) =>
    new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });

  it('kill -9 with a pipeline ending in BLPOP, and a second blocked client, closes both clients', async () => {
    const server = await startRedis();
    try {
      const p = await proxyTo(server.port, 'redis');
      const a = client(p.port);
      const b = client(p.port);
      await a.connect();
      await b.connect();
      a.on('error', () => {});
      b.on('error', () => {});
      const pipeline = a.pipeline().set('k', 'v').get('k').blpop('never', 0).get('k').exec();
      const blocked = b.brpop('never2', 0);
      const direct = client(server.port);
      await direct.connect();
      const deadline = Date.now() + HANG_MS;
      while (!/blocked_clients:2/.test(await direct.info('clients'))) {
        if (Date.now() > deadline) throw new Error('the two blocking commands never reached redis');
        await new Promise((r) => setTimeout(r, 20));
      }
      direct.disconnect();
      const both = Promise.allSettled([pipeline, blocked]);
      const ms = await afterKill(() => server.crash(), both, 'redis BLPOP');
      expect(ms).toBeLessThan(NOTICE_MS);
      const [pr, br] = await both;
      expect(br.status).toBe('rejected');
      // The pipeline's replies before BLPOP came through; BLPOP itself got none.
      const results = pr.status === 'fulfilled' ? pr.value : undefined;
      if (results) expect(results.slice(0, 2).map((r) => r[1])).toEqual(['OK', 'v']);
      a.disconnect();
      b.disconnect();
    } finally {
      await server.stop();
    }
  });

  it('a partial bulk reply then FIN closes the client', async () => {
    const server = await startRedis();
    const relay = await startCuttingRelay(server.port);
    try {
      const p = await proxyTo(relay.port, 'redis');
      const c = client(p.port);
      c.on('error', () => {});
      await c.connect();
      await c.set('big', 'x'.repeat(20_000));
      const ms = await afterCut(relay, () => c.get('big'), 'redis partial GET');
      expect(ms).toBeLessThan(NOTICE_MS);
      await expect(c.get('big')).rejects.toThrow();
      c.disconnect();
    } finally {
      await relay.close();
      await server.stop();
    }
  });
});

describe.skipIf(!haveServer('memcached'))('memcache upstream death', () => {
  it('kill -9 with pipelined gets in flight closes the client', async () => {
    const server = await startMemcached();
    try {
      const p = await proxyTo(server.port, 'memcache');
      const c = rawClient(p.port);
      c.socket.write('set k 0 0 1\r\nv\r\n');
      await waitFor(() => c.received().includes('STORED'), HANG_MS);
      // Stopped, the server leaves the pipeline unanswered: the requests are in flight when it dies.
      await freeze(server.pid);
      c.socket.write('get k\r\nget k\r\nget missing\r\n');
      await waitFor(() => p.stats().exchanges >= 4, HANG_MS);
      const ms = await afterKill(() => server.crash(), c.closed, 'memcache pipeline');
      expect(ms).toBeLessThan(NOTICE_MS);
      expect(c.received()).toBe('STORED\r\n');
    } finally {
      await server.stop();
    }
  });

  it('a partial value then FIN closes the client, with the bytes that came', async () => {
    const server = await startMemcached();
    const relay = await startCuttingRelay(server.port);
    try {
      const p = await proxyTo(relay.port, 'memcache');
      const c = rawClient(p.port);
      c.socket.write(`set big 0 0 20000\r\n${'x'.repeat(20_000)}\r\n`);
      await waitFor(() => c.received().includes('STORED'), HANG_MS);
      const ms = await afterCut(relay, async () => { c.socket.write('get big\r\nget big\r\n'); await c.closed; }, 'memcache partial get');
      expect(ms).toBeLessThan(NOTICE_MS);
      // What came is an unaltered prefix of the two replies, cut inside them.
      const value = `VALUE big 0 20000\r\n${'x'.repeat(20_000)}\r\nEND\r\n`;
      const full = `STORED\r\n${value}${value}`;
      expect(c.received().length).toBeGreaterThan('STORED\r\nVALUE'.length);
      expect(c.received().length).toBeLessThan(full.length);
      expect(full.startsWith(c.received())).toBe(true);
    } finally {
      await relay.close();
      await server.stop();
    }
  });
});

describe.skipIf(!haveMariadb())('mysql upstream death', () => {
  let server: Awaited<ReturnType<typeof startMariadb>> | undefined;
  beforeAll(async () => { server = await startMariadb(); }, 90_000);
  afterAll(async () => { await server?.stop(); });

  it('a partial result set then FIN fails the query', async () => {
    const relay = await startCuttingRelay(server!.port);
    try {
      const p = await proxyTo(relay.port, 'mysql');
      const c = await mysql2.createConnection({ host: '127.0.0.1', port: p.port, user: 'root' });
      c.on('error', () => {});
      let error: unknown;
      const ms = await afterCut(relay, () => c.query("SELECT REPEAT('x', 100000) AS big").catch((e) => { error = e; }), 'mysql partial result');
      expect(ms).toBeLessThan(NOTICE_MS);
      expect(String(error)).toMatch(/closed|lost|ECONNRESET|EPIPE/i);
      c.destroy();
    } finally {
      await relay.close();
    }
  });

  // Last: it kills the shared server.
  it('kill -9 with a blocking SLEEP in flight and queued queries fails them', async () => {
    const p = await proxyTo(server!.port, 'mysql');
    const c = await mysql2.createConnection({ host: '127.0.0.1', port: p.port, user: 'root' });
    c.on('error', () => {});
    const direct = await mysql2.createConnection({ host: '127.0.0.1', port: server!.port, user: 'root' });
    const inFlight = Promise.allSettled([c.query('SELECT SLEEP(60)'), c.query('SELECT 1'), c.query('SELECT 2')]);
    const deadline = Date.now() + HANG_MS;
    for (;;) {
      const [rows] = await direct.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'");
      if ((rows as Array<{ n: number }>)[0].n > 0) break;
      if (Date.now() > deadline) throw new Error('SLEEP never reached the server');
      await new Promise((r) => setTimeout(r, 20));
    }
    direct.destroy();
    const ms = await afterKill(() => server!.crash(), inFlight, 'mysql SLEEP');
    expect(ms).toBeLessThan(NOTICE_MS);
    expect((await inFlight).map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    c.destroy();
  });
});

describe.skipIf(!havePostgres())('postgres upstream death', () => {
  let server: RunningServer | undefined;
  beforeAll(async () => { server = await startPostgres(); }, 90_000);
  afterAll(async () => { await server?.stop(); });
  const connect = async (port: number) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    c.on('error', () => {});
    await c.connect();
    return c;
  };

  it('a partial result then FIN fails the query', async () => {
    const relay = await startCuttingRelay(server!.port);
    try {
      const p = await proxyTo(relay.port, 'postgres');
      const c = await connect(p.port);
      let error: unknown;
      const ms = await afterCut(relay, () => c.query("SELECT repeat('x', 100000) AS big").catch((e) => { error = e; }), 'postgres partial result');
      expect(ms).toBeLessThan(NOTICE_MS);
      expect(String(error)).toMatch(/terminated|closed|ECONNRESET/i);
      await c.end().catch(() => {});
    } finally {
      await relay.close();
    }
  });

  it('kill -9 of the backend with pg_sleep in flight and a query queued fails them', async () => {
    const p = await proxyTo(server!.port, 'postgres');
    const c = await connect(p.port);
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const inFlight = Promise.allSettled([c.query('SELECT pg_sleep(60)'), c.query('SELECT 1')]);
    const direct = await connect(server!.port);
    const deadline = Date.now() + HANG_MS;
    while ((await direct.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%' AND state = 'active'", [pid])).rowCount === 0) {
      if (Date.now() > deadline) throw new Error('pg_sleep never reached the server');
      await new Promise((r) => setTimeout(r, 20));
    }
    await direct.end();
    const ms = await afterKill(() => { process.kill(pid, 'SIGKILL'); }, inFlight, 'postgres pg_sleep');
    expect(ms).toBeLessThan(NOTICE_MS);
    expect((await inFlight).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await c.end().catch(() => {});
  });
});

describe('http upstream death', () => {
  const HTTP_SERVER = `
    import http from 'node:http';
    const big = 'x'.repeat(200000);
    const s = http.createServer((req, res) => {
      if (req.url === '/hang') return;
      if (req.url === '/big') { res.writeHead(200, { 'content-length': big.length }); res.end(big); return; }
      res.end('fast');
    });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

  it('kill -9 with pipelined requests, one hanging, closes the client after the answered ones', async () => {
    const server = await startChildServer(HTTP_SERVER);
    try {
      const p = await proxyTo(server.port, 'http');
      const c = rawClient(p.port);
      const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
      c.socket.write(get('/fast') + get('/hang') + get('/fast'));
      await waitFor(() => c.received().endsWith('fast'), HANG_MS);
      const ms = await afterKill(() => server.crash(), c.closed, 'http pipeline');
      expect(ms).toBeLessThan(NOTICE_MS);
      expect(c.received().match(/HTTP\/1.1 200/g)).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  it('a response cut after its headers then FIN closes the client (curl would exit 18)', async () => {
    const server = await startChildServer(HTTP_SERVER);
    const relay = await startCuttingRelay(server.port);
    try {
      const p = await proxyTo(relay.port, 'http');
      const c = rawClient(p.port);
      const ms = await afterCut(relay, async () => { c.socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'); await c.closed; }, 'http partial body');
      expect(ms).toBeLessThan(NOTICE_MS);
      expect(c.received()).toMatch(/^HTTP\/1.1 200 OK\r\n/);
      expect(c.received().length).toBeLessThan(200_000);
    } finally {
      await relay.close();
      await server.stop();
    }
  });
});

describe('smtp upstream death', () => {
  // A real smtp-server whose RCPT TO never answers: a blocking command.
  const SMTP_SERVER = `
    import { SMTPServer } from 'smtp-server';
    const s = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], logger: false, onRcptTo() {} });
    s.listen(0, '127.0.0.1', () => console.log(s.server.address().port));`;

  it('kill -9 with pipelined MAIL and a blocking RCPT in flight closes the client', async () => {
    const server = await startChildServer(SMTP_SERVER);
    try {
      const p = await proxyTo(server.port, 'smtp');
      const c = rawClient(p.port);
      await waitFor(() => c.received().startsWith('220 '), HANG_MS);
      c.socket.write('EHLO client\r\n');
      await waitFor(() => /^250 /m.test(c.received()), HANG_MS);
      c.socket.write('MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n');
      await waitFor(() => c.received().includes('250 Accepted'), HANG_MS);
      const ms = await afterKill(() => server.crash(), c.closed, 'smtp RCPT');
      expect(ms).toBeLessThan(NOTICE_MS);
    } finally {
      await server.stop();
    }
  });

  it('a multi-line EHLO reply cut then FIN closes the client', async () => {
    const server = await startChildServer(SMTP_SERVER);
    const relay = await startCuttingRelay(server.port);
    try {
      const p = await proxyTo(relay.port, 'smtp');
      const c = rawClient(p.port);
      await waitFor(() => c.received().startsWith('220 '), HANG_MS);
      const ms = await afterCut(relay, async () => { c.socket.write('EHLO client\r\n'); await c.closed; }, 'smtp partial EHLO');
      expect(ms).toBeLessThan(NOTICE_MS);
      expect(c.received()).toMatch(/\r\n250-/);
    } finally {
      await relay.close();
      await server.stop();
    }
  });
});
