/**
 * TLS on either side of the proxy, with real parts: certificates made by openssl, a redis-server
 * that speaks only TLS, ioredis and Node's https client with TLS on. The proxy ends TLS on each
 * side, so framing and protocol-correct errors work inside the encrypted stream; a server it
 * cannot trust is refused with what to do; a plaintext client is told once.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy, ProxyOptions } from '../src/proxy/proxy.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { runCli, startApi } from './helpers/cli.js';
import { freePort } from './helpers/net.js';
import { haveServer, startRedis, tempDir, type RunningServer } from './helpers/servers.js';

const run = haveServer('redis-server') && haveServer('openssl');

let dir: string;
let certs: TestCerts;
let tlsRedis: RunningServer;
let plainRedis: RunningServer;

function redisClient(port: number, tls?: boolean): Redis {
  return new Redis({
    host: '127.0.0.1', port, lazyConnect: true, enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0, retryStrategy: () => null,
    ...(tls ? { tls: { ca: readFileSync(certs.ca), servername: 'localhost' } } : {}),
  });
}

/** A proxy in front of `upstream`, its log lines collected. */
async function proxy(upstream: RunningServer, o: Partial<ProxyOptions>): Promise<Proxy & { logs: string[] }> {
  const p = await startProxy({ name: 'r', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}`, protocol: 'redis', ...o });
  const logs: string[] = [];
  p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
  return Object.assign(p, { logs });
}

async function setGet(r: Redis): Promise<void> {
  await r.connect();
  try {
    expect(await r.set('k', 'through TLS')).toBe('OK');
    expect(await r.get('k')).toBe('through TLS');
  } finally {
    r.disconnect();
  }
}

/** The error a PING ends with: the socket's own (ECONNRESET...) when ioredis saw one. */
const closed = async (r: Redis) => {
  const seen: Error[] = [];
  r.on('error', (x: Error) => seen.push(x));
  const e = await r.connect().then(() => r.ping()).then(() => undefined, (x: Error) => x);
  r.disconnect();
  return seen[0] ?? e;
};

describe.skipIf(!run)('TLS on either side of the proxy', () => {
  beforeAll(async () => {
    dir = await tempDir('tls');
    certs = await makeCerts(dir);
    [tlsRedis, plainRedis] = await Promise.all([startRedis({ tls: { cert: certs.cert, key: certs.key } }), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([tlsRedis?.stop(), plainRedis?.stop()]);
  });

  it('TLS on both sides: redis framing and protocol-correct errors inside the encrypted stream', async () => {
    const tls = { cert: certs.cert, key: certs.key };
    const passing = await proxy(tlsRedis, { tls, upstreamTls: { ca: certs.ca } });
    const failing = await proxy(tlsRedis, { tls, upstreamTls: { ca: certs.ca }, behaviors: { error: { percent: 100, kind: 'LOADING' } } });
    try {
      await setGet(redisClient(passing.port, true));
      expect(passing.stats().exchanges).toBe(2);
      const r = redisClient(failing.port, true);
      await r.connect();
      const err = await r.get('k').then(() => undefined, (e: Error) => e);
      r.disconnect();
      expect(err).toBeInstanceOf(ReplyError);
      expect(err!.message).toMatch(/^LOADING /);
      expect(failing.stats().behaviors.error).toBe(1);
      expect([...passing.logs, ...failing.logs]).toEqual([]);
    } finally {
      await Promise.all([passing.close(100), failing.close(100)]);
    }
  });

  it('TLS ended at the proxy in front of a plaintext server, and plaintext clients in front of a TLS server', async () => {
    const ending = await proxy(plainRedis, { tls: { cert: certs.cert, key: certs.key } });
    const starting = await proxy(tlsRedis, { upstreamTls: { ca: certs.ca } });
    try {
      await setGet(redisClient(ending.port, true));
      await setGet(redisClient(starting.port));
      // The other way round each side refuses: a plaintext client to the TLS listener is told once.
      for (let i = 0; i < 3; i++) expect(await closed(redisClient(ending.port))).toBeInstanceOf(Error);
      expect(ending.logs).toHaveLength(1);
      expect(ending.logs[0]).toMatch(/^a client's TLS handshake failed: .+ \(does it connect with TLS\?/);
    } finally {
      await Promise.all([ending.close(100), starting.close(100)]);
    }
  });

  it('a plaintext server that never answers the TLS handshake is given up on with what to do, not waited for', async () => {
    // redis reads the ClientHello as the start of an inline command and waits for its line end:
    // without a bound the client hung as long as it waited.
    const p = await proxy(plainRedis, { upstreamTls: { ca: certs.ca } });
    try {
      const started = Date.now();
      expect(await closed(redisClient(p.port))).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(p.logs.join('\n')).toMatch(/TLS handshake failed: no answer to the TLS handshake within 5 s \(does the server speak TLS on this port\? leave upstream_tls out/);
      expect(p.stats().connections.upstreamErrors).toBe(1);
    } finally {
      await p.close(100);
    }
  }, 20_000);

  it('a reset reaches a TLS client as a TCP reset', async () => {
    const p = await proxy(tlsRedis, { tls: { cert: certs.cert, key: certs.key }, upstreamTls: { ca: certs.ca }, behaviors: '100:reset_peer' });
    try {
      // The proxy sends a RST every time (its reset call succeeds), but Node's TLS client reports
      // about one in five of these as a plain close; why is not known (a bare TLS server that
      // resets on the data event itself was seen as ECONNRESET 40 times in 40).
      const codes: (string | undefined)[] = [];
      for (let i = 0; i < 6; i++) {
        const err = await closed(redisClient(p.port, true));
        expect(err).toBeInstanceOf(Error);
        codes.push((err as NodeJS.ErrnoException).code);
      }
      expect(codes).toContain('ECONNRESET');
      expect(p.stats().behaviors.reset_peer).toBe(6);
      expect(p.logs).toEqual([]);
    } finally {
      await p.close(100);
    }
  });

  it('a server certificate it cannot trust, or for another name, is refused with what to do; insecure accepts it', async () => {
    const untrusted = await proxy(tlsRedis, { upstreamTls: { ca: certs.otherCa } });
    const misnamed = await proxy(tlsRedis, { upstreamTls: { ca: certs.ca, servername: 'db.internal' } });
    const insecure = await proxy(tlsRedis, { upstreamTls: { insecure: true } });
    try {
      expect(await closed(redisClient(untrusted.port))).toBeInstanceOf(Error);
      expect(untrusted.logs.join('\n')).toMatch(/TLS handshake failed: .*certificate.*\(give upstream_tls\.ca/);
      expect(await closed(redisClient(misnamed.port))).toBeInstanceOf(Error);
      expect(misnamed.logs.join('\n')).toMatch(/TLS handshake failed: .*db\.internal.*\(set upstream_tls\.servername/);
      expect(untrusted.stats().connections.upstreamErrors).toBe(1);
      await setGet(redisClient(insecure.port));
    } finally {
      await Promise.all([untrusted.close(100), misnamed.close(100), insecure.close(100)]);
    }
  });

  it("HTTPS: Node's https client through the proxy to an https server, an injected 503 inside TLS", async () => {
    const server = https.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (_req, res) => res.end('real page'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const tls = { cert: certs.cert, key: certs.key };
    const upstream = { host: '127.0.0.1', port } as unknown as RunningServer;
    const passing = await proxy(upstream, { protocol: 'http', tls, upstreamTls: { ca: certs.ca } });
    const failing = await proxy(upstream, { protocol: 'http', tls, upstreamTls: { ca: certs.ca }, behaviors: { error: { percent: 100, kind: '503' } } });
    const get = (p: Proxy) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: p.port, servername: 'localhost', ca: readFileSync(certs.ca), agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject);
    });
    try {
      expect(await get(passing)).toEqual({ status: 200, body: 'real page' });
      expect((await get(failing)).status).toBe(503);
    } finally {
      await Promise.all([passing.close(100), failing.close(100)]);
      server.close();
    }
  });

  it('a proxy set up by flags says what to do about an untrusted server certificate in flags, not config keys', async () => {
    const port = await freePort();
    const cli = runCli(['proxy', '-l', `127.0.0.1:${port}`, '-u', `127.0.0.1:${tlsRedis.port}`, '-p', 'redis', '--upstream-tls', certs.otherCa]);
    try {
      await cli.waitFor(/listening /);
      expect(await closed(redisClient(port))).toBeInstanceOf(Error);
      await cli.waitFor(/TLS handshake failed: .*\(give --upstream-tls CA-FILE \(the CA that signed the server's certificate\), or --upstream-insecure for a test server\)/, { stream: 'err' });
      expect(cli.err()).not.toContain('upstream_tls');
    } finally {
      await cli.stop();
    }
  });
});

describe.skipIf(!run)('TLS over the control API', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  let redis: RunningServer;
  beforeAll(async () => {
    dir ??= await tempDir('tls');
    certs ??= await makeCerts(dir);
    [redis, api] = await Promise.all([startRedis({ tls: { cert: certs.cert, key: certs.key } }), startApi()]);
  });
  afterAll(async () => {
    expect(await api?.stop()).toBe(0);
    await redis?.stop();
  });
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${api.url}${route}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json().catch(() => undefined)) as Record<string, unknown> };
  };

  it('a proxy created with tls and upstream_tls carries redis over TLS on both sides, and shows its settings', async () => {
    const body = { name: 'api-tls', listen: '127.0.0.1:0', upstream: `127.0.0.1:${redis.port}`, protocol: 'redis', tls: { cert: certs.cert, key: certs.key }, upstream_tls: { ca: certs.ca } };
    const created = await call('POST', '/proxies', body);
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json).toMatchObject({ tls: { cert: certs.cert, key: certs.key }, upstream_tls: { ca: certs.ca } });
    await setGet(redisClient(Number(String(created.json.listen).split(':').pop()), true));
    // Populate with the same settings keeps the running proxy (its toxic stays); other settings are refused on update.
    expect((await call('POST', '/proxies/api-tls/toxics', { type: 'latency', attributes: { latency: 1 } })).status).toBe(200);
    expect((await call('POST', '/populate', [{ ...body, listen: created.json.listen }])).status).toBe(201);
    expect(((await call('GET', '/proxies/api-tls')).json.toxics as unknown[])).toHaveLength(1);
    const update = await call('POST', '/proxies/api-tls', { upstream_tls: { insecure: true } });
    expect(update.status).toBe(400);
    expect(update.json.error).toBe('bad request body: upstream_tls: cannot be changed on a running proxy; delete it and create it again');
    const native = await call('GET', '/marteau/proxies/api-tls');
    expect(native.json).toMatchObject({ tls: { cert: certs.cert }, upstreamTls: { ca: certs.ca } });
    expect((await call('DELETE', '/proxies/api-tls')).status).toBe(204);
  });

  it('a relative path, a missing file or a key of another certificate is a 400 naming the field, and nothing is created', async () => {
    const base = { listen: '127.0.0.1:0', upstream: `127.0.0.1:${redis.port}` };
    const cases: [Record<string, unknown>, string, string][] = [
      [{ tls: { cert: 'server.crt', key: certs.key } }, 'tls.cert', 'server.crt is not an absolute path'],
      [{ tls: { cert: certs.cert, key: path.join(dir, 'ca.key') } }, 'tls.key', `${path.join(dir, 'ca.key')} is not the private key of ${certs.cert}`],
      [{ upstream_tls: { ca: path.join(dir, 'none.crt') } }, 'upstream_tls.ca', `cannot read ${path.join(dir, 'none.crt')}: no such file`],
      [{ upstream_tls: { ca: certs.ca, verify: false } }, 'upstream_tls', 'unknown field "verify" in upstream_tls (known fields: ca, servername, insecure)'],
    ];
    for (const [i, [extra, field, words]] of cases.entries()) {
      const r = await call('POST', '/proxies', { name: `bad-${i}`, ...base, ...extra });
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(r.json.error).toContain(words);
      expect(r.json.error, field).toContain(field);
    }
    expect(Object.keys((await call('GET', '/proxies')).json)).toEqual([]);
  });
});

describe.skipIf(!run)('TLS settings: files and flags', () => {
  beforeAll(async () => {
    dir ??= await tempDir('tls');
    certs ??= await makeCerts(dir);
  });

  it('a proxies file takes PEM paths relative to itself; a file it cannot read is an error at its line, exit 2', async () => {
    const sub = path.join(dir, 'conf');
    await import('node:fs/promises').then((f) => f.mkdir(sub, { recursive: true }));
    const file = path.join(sub, 'proxies.yml');
    const port = await freePort();
    await writeFile(file, `proxies:\n  r:\n    listen: 127.0.0.1:${port}\n    upstream: 127.0.0.1:9\n    protocol: redis\n    tls:\n      cert: ../server.crt\n      key: ../server.key\n    upstream_tls: {ca: ../ca.crt}\n`);
    const ok = runCli(['proxy', '-c', file]);
    try {
      await ok.waitFor(new RegExp(`listening r \\(redis\\) 127\\.0\\.0\\.1:${port} \\(TLS\\) -> 127\\.0\\.0\\.1:9 \\(TLS\\)`));
    } finally {
      expect(await ok.stop()).toBe(0);
    }
    await writeFile(file, `proxies:\n  r:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:9\n    tls:\n      cert: ../server.crt\n      key: ../missing.key\n`);
    const bad = runCli(['proxy', '-c', file]);
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toContain(`${file}:7:12: proxies.r.tls.key: cannot read ${path.join(dir, 'missing.key')}: no such file`);
    expect(bad.err()).not.toMatch(/\n\s+at /);
  });

  it('flags: a key without its certificate, a CA that is not PEM, TLS flags beside --config: exit 2 naming the flag', async () => {
    const cases: [string[], string][] = [
      [['--tls-cert', certs.cert], '--tls-cert and --tls-key go together'],
      [['--upstream-tls', certs.key], `--upstream-tls: ${certs.key} holds no PEM certificate`],
      [['--tls-cert', certs.cert, '--tls-key', path.join(dir, 'ca.key')], `--tls-key: ${path.join(dir, 'ca.key')} is not the private key of ${certs.cert}`],
      [['--upstream-insecure'], '--upstream-insecure goes with --upstream-tls'],
    ];
    for (const [flags, message] of cases) {
      const cli = runCli(['proxy', '-l', '127.0.0.1:0', '-u', '127.0.0.1:9', ...flags]);
      expect(await cli.exited, flags.join(' ')).toBe(2);
      expect(cli.err()).toContain(message);
    }
    const both = runCli(['proxy', '-c', path.join(dir, 'conf', 'proxies.yml'), '--upstream-tls']);
    expect(await both.exited).toBe(2);
    expect(both.err()).toContain('the TLS flags go with --listen/--upstream');
  });
});
