/**
 * Vaurien-style HTTP calls (plain fetch with Vaurien's request and reply shapes, as
 * vaurienclient sends them) switch behaviors on live traffic through a running `marteau-tui proxy`.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningCli } from './helpers/cli.js';
import { startHttpServer } from './helpers/http-server.js';
import { freePort } from './helpers/net.js';

let web: Awaited<ReturnType<typeof startHttpServer>>;
let other: http.Server;
let otherPort: number;

beforeAll(async () => {
  web = await startHttpServer();
  other = http.createServer((_req, res) => res.end('other'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  otherPort = (other.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await web.close();
  other.close();
});

/** What vaurienclient does: JSON bodies, PUT to switch, GET to read. */
async function vaurien(url: string, method: 'GET' | 'PUT', route: string, body?: unknown) {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

/** One GET through the proxy over a keep-alive agent: status (0 when the connection failed) and time. */
function get(port: number, agent: http.Agent, urlPath = '/'): Promise<{ status: number; ms: number; body: string }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - start, body }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - start, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, ms: performance.now() - start, body: '' }));
  });
}

describe('Vaurien API, one proxy: the bare routes act on it', () => {
  let api: RunningCli & { url: string };
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    api = await startApi(['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${web.port}`, '--protocol', 'http', '--name', 'web']);
  });
  afterAll(async () => { expect(await api.stop()).toBe(0); });

  it('lists behaviors and reads the current one', async () => {
    const list = await vaurien(api.url, 'GET', '/behaviors');
    expect(list.status).toBe(200);
    const names = list.body.behaviors as string[];
    expect(names).toEqual([...names].sort());
    for (const b of ['abort', 'blackout', 'delay', 'dummy', 'error', 'hang', 'transient']) expect(names).toContain(b);
    expect(await vaurien(api.url, 'GET', '/behavior')).toEqual({ status: 200, body: { behavior: 'dummy' } });
  });

  it('switches behaviors on live traffic, options applied, open keep-alive connections included', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const base = await get(port, agent);
    expect(base.status).toBe(200);

    expect(await vaurien(api.url, 'PUT', '/behavior', { name: 'delay', sleep: 1.2 })).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await vaurien(api.url, 'GET', '/behavior')).body).toEqual({ behavior: 'delay' });
    const slow = await get(port, agent);
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(1190);

    await vaurien(api.url, 'PUT', '/behavior', { name: 'error' });
    expect((await get(port, agent)).status).toBe(503);

    await vaurien(api.url, 'PUT', '/behavior', { name: 'blackout' });
    expect((await get(port, agent)).status).toBe(0);

    await vaurien(api.url, 'PUT', '/behavior', { name: 'dummy' });
    const back = await get(port, agent);
    expect(back.status).toBe(200);
    // Generous on a loaded machine, yet well under the 1.2 s delay it no longer has.
    expect(back.ms).toBeLessThan(900);
    agent.destroy();
  });

  it("refuses bad requests with Vaurien's 400 error structure", async () => {
    expect(await vaurien(api.url, 'PUT', '/behavior', { name: 'nope' })).toEqual({
      status: 400,
      body: { status: 'error', errors: [{ location: 'body', name: 'name', description: "the 'nope' behavior does not exist" }] },
    });
    const badType = await vaurien(api.url, 'PUT', '/behavior', { name: 'delay', sleep: 'long' });
    expect(badType.status).toBe(400);
    expect(badType.body.errors).toEqual([{ location: 'body', name: 'sleep', description: expect.stringContaining('option "sleep"') }]);
    const badWord = await vaurien(api.url, 'PUT', '/behavior', { name: 'delay', before: 'maybe' });
    expect(badWord.body.errors).toEqual([{ location: 'body', name: 'before', description: 'option "before": expected true/false (or yes/no, on/off, 1/0), got "maybe"' }]);
    // The proxy speaks http: an error kind it has not is refused, with the ones it has.
    expect((await vaurien(api.url, 'PUT', '/behavior', { name: 'error', kind: '302' })).body.errors).toEqual([{ location: 'body', name: 'kind',
      description: 'behavior "error": option "kind": http has no error kind "302" (http kinds: 429, 500, 502, 503, 504, or any other status from 400 to 599)' }]);
    const missing = await vaurien(api.url, 'PUT', '/behavior', { sleep: 1 });
    expect(missing.status).toBe(400);
    expect((missing.body.errors as { name: string }[])[0].name).toBe('');
    const malformed = await vaurien(api.url, 'PUT', '/behavior', '{"name": "delay",}');
    expect(malformed.status).toBe(400);
    expect((malformed.body.errors as { description: string }[])[0].description).toMatch(/^malformed JSON at line 1, column 18: unexpected "}"/);
    // Nothing changed.
    expect((await vaurien(api.url, 'GET', '/behavior')).body).toEqual({ behavior: 'dummy' });
  });

  // vaurien/tests/test_client.py (community-libs/vaurien) test_set_behavior_with_options:
  // client.set_behavior('blackout', foo='foo', bar='bar'). vaurienclient/__init__.py sends it as
  // requests.put(url, data=json.dumps(options)): no Content-Type, `name` among the options.
  it("accepts vaurienclient's unknown options and ignores them, as Vaurien does", async () => {
    const res = await fetch(`${api.url}/behavior`, { method: 'PUT', body: JSON.stringify({ foo: 'foo', bar: 'bar', name: 'blackout' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect((await vaurien(api.url, 'GET', '/behavior')).body).toEqual({ behavior: 'blackout' });
    await vaurien(api.url, 'PUT', '/behavior', { name: 'dummy' });
  });

  // vaurienclient/ext/_marteau.py (mozilla-services/vaurienclient): VaurienFixture passes every
  // fixture argument on, `host` included, as set_behavior(behavior, **kwargs); values from a
  // .marteau.yml arrive as strings, which Vaurien's handlers convert (behaviors/base.py _convert).
  it("applies a Marteau VaurienFixture's string options, converted as Vaurien converts them", async () => {
    const agent = new http.Agent({ keepAlive: false });
    const body = { host: 'http://localhost:80', sleep: '0.3', before: 'false', name: 'delay' };
    expect((await fetch(`${api.url}/behavior`, { method: 'PUT', body: JSON.stringify(body) })).status).toBe(200);
    const slow = await get(port, agent);
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(290);
    // transient has error's warmup, as Vaurien's Transient inherits Error.options.
    expect((await vaurien(api.url, 'PUT', '/behavior', { name: 'transient', warmup: '1', agitate: '2' })).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(port, agent)).status);
    expect(statuses).toEqual([200, 503, 503, 200]);
    await vaurien(api.url, 'PUT', '/behavior', { name: 'dummy' });
    agent.destroy();
  });

  it('reads and switches the backend; new connections go to the new one', async () => {
    expect(await vaurien(api.url, 'GET', '/backend')).toEqual({ status: 200, body: { backend: `127.0.0.1:${web.port}` } });
    expect(await vaurien(api.url, 'PUT', '/backend', { backend: `127.0.0.1:${otherPort}` })).toEqual({ status: 200, body: { status: 'ok' } });
    const agent = new http.Agent({ keepAlive: false });
    expect((await get(port, agent)).body).toBe('other');
    const bad = await vaurien(api.url, 'PUT', '/backend', { backend: 'nowhere' });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { name: string }[])[0].name).toBe('backend');
    await vaurien(api.url, 'PUT', '/backend', { backend: `127.0.0.1:${web.port}` });
    expect((await get(port, agent)).status).toBe(200);
  });

  it('accepts a whole Vaurien mix as the name (ours)', async () => {
    expect((await vaurien(api.url, 'PUT', '/behavior', { name: '20:delay,10:error' })).status).toBe(200);
    expect((await vaurien(api.url, 'GET', '/behavior')).body).toEqual({ behavior: '20:delay,10:error' });
    await vaurien(api.url, 'PUT', '/behavior', { name: 'dummy' });
  });
});

describe('Vaurien API, several proxies: chosen by path or --vaurien-proxy', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-vaurien-'));
    file = path.join(dir, 'two.yml');
    await writeFile(file, `proxies:\n  a:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:${web.port}\n    protocol: http\n  b:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:${otherPort}\n    protocol: http\n    behaviors: "30:delay"\n`);
  });

  it('serves /vaurien/<proxy>/... and refuses the ambiguous bare routes with the names', async () => {
    const api = await startApi(['--config', file]);
    expect((await vaurien(api.url, 'GET', '/vaurien/a/behavior')).body).toEqual({ behavior: 'dummy' });
    expect((await vaurien(api.url, 'GET', '/vaurien/b/behavior')).body).toEqual({ behavior: '30:delay' });
    expect((await vaurien(api.url, 'GET', '/vaurien/b/backend')).body).toEqual({ backend: `127.0.0.1:${otherPort}` });
    expect((await vaurien(api.url, 'PUT', '/vaurien/a/behavior', { name: 'hang' })).status).toBe(200);
    expect((await vaurien(api.url, 'GET', '/vaurien/a/behavior')).body).toEqual({ behavior: 'hang' });
    const ambiguous = await vaurien(api.url, 'GET', '/behavior');
    expect(ambiguous.status).toBe(409);
    expect((ambiguous.body.errors as { description: string }[])[0].description).toContain('2 proxies run (a, b): use /vaurien/<proxy>/behavior');
    expect((await vaurien(api.url, 'GET', '/vaurien/zzz/behavior')).status).toBe(404);
    // /behaviors needs no proxy.
    expect((await vaurien(api.url, 'GET', '/behaviors')).status).toBe(200);
    // Toxiproxy's reset also brings back each proxy's configured mix.
    await vaurien(api.url, 'PUT', '/vaurien/b/behavior', { name: 'dummy' });
    expect((await fetch(`${api.url}/reset`, { method: 'POST' })).status).toBe(204);
    expect((await vaurien(api.url, 'GET', '/vaurien/a/behavior')).body).toEqual({ behavior: 'dummy' });
    expect((await vaurien(api.url, 'GET', '/vaurien/b/behavior')).body).toEqual({ behavior: '30:delay' });
    expect(await api.stop()).toBe(0);
  });

  it('--vaurien-proxy picks the proxy of the bare routes', async () => {
    const api = await startApi(['--config', file, '--vaurien-proxy', 'b']);
    expect((await vaurien(api.url, 'GET', '/behavior')).body).toEqual({ behavior: '30:delay' });
    expect(await api.stop()).toBe(0);
  });
});
