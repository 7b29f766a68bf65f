/**
 * Safety of the control plane: loopback by default, a token required off loopback and checked
 * on every request, browsers and cross-origin requests refused, bodies capped, bad input
 * answered with a 400 that says what and where.
 */
import http from 'node:http';
import { Toxiproxy } from 'toxiproxy-node-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startApi, type RunningCli } from './helpers/cli.js';
import { startEchoServer } from './helpers/echo.js';

/** A raw HTTP request with any headers (fetch refuses to set Host). */
function request(url: string, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
  const u = new URL(url);
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path ?? '/version', headers: { 'User-Agent': 'test', ...opts.headers } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => { echo = await startEchoServer(); });
afterAll(async () => { await echo.close(); });

describe('binding', () => {
  it('refuses a non-loopback API address without a token at startup (exit 2)', async () => {
    const cli = runCli(['proxy', '--api', '0.0.0.0:0']);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain('needs a token: --api-token TOKEN or MARTEAU_API_TOKEN');
    expect(cli.out()).not.toContain('api listening');
    const empty = runCli(['proxy', '--api', '0.0.0.0:0'], { MARTEAU_API_TOKEN: '' });
    expect(await empty.exited).toBe(2);
  });

  it('refuses a blank token, or one with spaces, as a usage error (exit 2) that says how to make one', async () => {
    // A blank --api-token was taken: '' as no token at all, ' ' as a token that guards a public
    // address with one space (and that no Bearer header can carry: its value is trimmed).
    for (const token of ['', ' ', 'two words']) {
      const cli = runCli(['proxy', '--api', '0.0.0.0:0', '--api-token', token]);
      expect(await cli.exited, cli.out()).toBe(2);
      expect(cli.err()).toContain(`error: option '--api-token <token>' argument ${JSON.stringify(token).replaceAll('"', "'")} is invalid. ${token.trim() ? 'A token cannot hold spaces' : 'A blank token protects nothing'}: give one without spaces, e.g. --api-token "$(openssl rand -hex 16)"`);
      expect(cli.out()).not.toContain('api listening');
    }
    const env = runCli(['proxy', '--api', '0.0.0.0:0'], { MARTEAU_API_TOKEN: '  ' });
    expect(await env.exited, env.out()).toBe(2);
    expect(env.err()).toBe('marteau-tui: MARTEAU_API_TOKEN: a blank token protects nothing: give one without spaces, e.g. MARTEAU_API_TOKEN="$(openssl rand -hex 16)", or unset it\n');
  });
});

describe('token', () => {
  let api: RunningCli & { url: string };
  beforeAll(async () => { api = await startApi(['--api-token', 's3cret']); });
  afterAll(async () => { expect(await api.stop()).toBe(0); });

  it('is required on every request: 401 without, 403 when wrong', async () => {
    const none = await request(api.url);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toEqual({ error: expect.stringContaining('needs a token'), status: 401 });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    for (const path of ['/proxies', '/vaurien/x/behavior', '/marteau/stats', '/nowhere']) {
      expect((await request(api.url, { path })).status).toBe(401);
    }
    expect((await request(api.url, { headers: { Authorization: 'Bearer nope' } })).status).toBe(403);
    expect((await request(api.url, { headers: { Authorization: 'Bearer s3cret-and-more' } })).status).toBe(403);
    expect((await request(api.url, { path: '/token/nope/version' })).status).toBe(403);
  });

  it('is accepted as a Bearer token, a Basic password, or a /token/<t> prefix', async () => {
    expect((await request(api.url, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect((await request(api.url, { headers: { Authorization: `Basic ${Buffer.from(':s3cret').toString('base64')}` } })).status).toBe(200);
    expect((await request(api.url, { path: '/token/s3cret/version' })).body).toBe('{"version":"2.12.0"}\n');
    // Toxiproxy clients cannot add headers; the prefix goes in their base URL.
    const client = new Toxiproxy(`${api.url}/token/s3cret`);
    const p = await client.createProxy({ name: 'tok', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
    expect((await client.get('tok')).listen).toBe(p.listen);
    await p.remove();
  });

  it('can come from MARTEAU_API_TOKEN', async () => {
    const env = await startApi([], { MARTEAU_API_TOKEN: 'from-env' });
    expect((await request(env.url)).status).toBe(401);
    expect((await request(env.url, { headers: { Authorization: 'Bearer from-env' } })).status).toBe(200);
    expect(await env.stop()).toBe(0);
  });
});

describe('guards and input checks', () => {
  let api: RunningCli & { url: string };
  beforeAll(async () => { api = await startApi(); });
  afterAll(async () => { expect(await api.stop()).toBe(0); });

  it('refuses browsers like Toxiproxy does, on every route', async () => {
    for (const path of ['/version', '/proxies', '/behavior', '/marteau/events']) {
      const r = await request(api.url, { path, headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' } });
      expect({ path, status: r.status, body: r.body }).toEqual({ path, status: 403, body: 'User agent not allowed\n' });
    }
  });

  it('rejects cross-origin requests and foreign Host headers (DNS rebinding)', async () => {
    const post = { method: 'POST', path: '/reset' };
    expect((await request(api.url, { ...post, headers: { Origin: 'http://evil.example' } })).status).toBe(403);
    expect((await request(api.url, { ...post, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(403);
    expect((await request(api.url, { ...post, headers: { 'Sec-Fetch-Site': 'same-site' } })).status).toBe(403);
    const rebound = await request(api.url, { path: '/proxies', headers: { Host: 'evil.example:8474' } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error).toContain('Host "evil.example:8474" is not allowed');
    // Same-origin and header-less (every non-browser client) pass.
    const host = new URL(api.url).host;
    expect((await request(api.url, { ...post, headers: { Origin: `http://${host}` } })).status).toBe(204);
    expect((await request(api.url, { path: '/proxies', headers: { Host: `localhost:${new URL(api.url).port}` } })).status).toBe(200);
  });

  it('caps the body size (413) and keeps serving', async () => {
    const big = JSON.stringify([{ name: 'x'.repeat(2 * 1024 * 1024), upstream: '127.0.0.1:1' }]);
    const r = await request(api.url, { method: 'POST', path: '/populate', body: big, headers: { 'Content-Type': 'application/json' } });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toEqual({ error: 'request body too large: the limit is 1048576 bytes', status: 413 });
    // Without a Content-Length (chunked), the cap holds too.
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(api.url);
      const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/proxies', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(64 * 1024, 0x20));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await request(api.url)).status).toBe(200);
  });

  it('answers malformed JSON and bad values with 400 saying what and where', async () => {
    const post = (path: string, body: string) => request(api.url, { method: 'POST', path, body });
    const cases: [string, string, string][] = [
      ['/proxies', '{"name": "a",\n  "upstream": 127.0.0.1:6379}', 'bad request body: malformed JSON at line 2, column 20: unexpected ".", expected "," or "}"'],
      ['/proxies', '{"name": "a"', 'bad request body: malformed JSON at line 1, column 13: unexpected end of body'],
      ['/proxies', '{"name": 5, "upstream": "127.0.0.1:1"}', 'bad request body: name: expected string, got number 5'],
      ['/proxies', '{"name": "a", "upstream": "nowhere"}', 'bad request body: upstream: "nowhere" is not host:port'],
      ['/proxies', '[]', 'bad request body: body: expected object, got an array'],
      ['/populate', '[{"name": "a", "upstream": "127.0.0.1:1", "enabled": "yes"}]', 'bad request body: 0.enabled: expected boolean, got string "yes"'],
    ];
    for (const [path, body, error] of cases) {
      const r = await post(path, body);
      expect({ status: r.status, error: JSON.parse(r.body).error }).toEqual({ status: 400, error: expect.stringContaining(error) });
    }
    expect(JSON.parse((await request(api.url, { path: '/proxies' })).body)).toEqual({});
  });
});
