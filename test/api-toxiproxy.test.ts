/**
 * A real Toxiproxy client from npm (toxiproxy-node-client) drives a running `marteau-tui proxy
 * --api` through its public API, every route it offers, with real traffic through the proxies.
 */
import { Toxiproxy, ToxiproxyError } from 'toxiproxy-node-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningCli } from './helpers/cli.js';
import { exchange, startEchoServer, startTaggingServer } from './helpers/echo.js';

let api: RunningCli & { url: string };
let client: Toxiproxy;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let other: Awaited<ReturnType<typeof startTaggingServer>>;
let otherPort: number;

beforeAll(async () => {
  echo = await startEchoServer();
  other = await startTaggingServer();
  otherPort = other.port;
  api = await startApi();
  client = new Toxiproxy(api.url);
});

afterAll(async () => {
  expect(await api.stop()).toBe(0);
  await echo.close();
  other.close();
});

const portOf = (listen: string) => Number(listen.split(':').pop());
const upstream = () => `127.0.0.1:${echo.port}`;

/** `body` as JSON, or a string sent as it is (JSON that JSON.stringify cannot write). */
async function raw(method: string, path: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, { method, body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('Toxiproxy API through toxiproxy-node-client', () => {
  it('answers the version like Toxiproxy, with ours in a header', async () => {
    expect(await client.getVersion()).toBe('{"version":"2.12.0"}\n');
    const r = await raw('GET', '/version');
    expect(r.headers.get('content-type')).toBe('application/json;charset=utf-8');
    expect(r.headers.get('x-marteau-version')).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.headers.get('x-toxiproxy-request-id')).toMatch(/^[0-9a-f]{20}$/);
  });

  it('creates a proxy on port 0 and reports the port bound; traffic flows', async () => {
    const p = await client.createProxy({ name: 'create', listen: 'localhost:0', upstream: upstream() });
    expect(p.name).toBe('create');
    expect(p.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(portOf(p.listen)).toBeGreaterThan(0);
    expect(p.enabled).toBe(true);
    const r = await exchange(portOf(p.listen), 'hello', { want: 5 });
    expect(r.reply.toString()).toBe('hello');
    // get and getAll see it, with Toxiproxy's fields.
    const got = await client.get('create');
    expect(got.toJson()).toEqual({ name: 'create', listen: p.listen, upstream: upstream(), enabled: true });
    const all = await client.getAll();
    expect(Object.keys(all)).toContain('create');
    expect(JSON.parse((await raw('GET', '/proxies')).text).create).toEqual({ name: 'create', listen: p.listen, upstream: upstream(), enabled: true, toxics: [] });
    await p.remove();
  });

  it("answers Toxiproxy's status codes and error bodies", async () => {
    const p = await client.createProxy({ name: 'dup', listen: '127.0.0.1:0', upstream: upstream() });
    await expect(client.createProxy({ name: 'dup', listen: '127.0.0.1:0', upstream: upstream() })).rejects.toThrow(ToxiproxyError);
    await expect(client.createProxy({ name: 'dup', listen: '127.0.0.1:0', upstream: upstream() })).rejects.toThrow('status code 409');
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/proxies', { name: 'dup', upstream: upstream() }, 409, 'proxy already exists'],
      ['POST', '/proxies', { listen: '127.0.0.1:0', upstream: upstream() }, 400, 'missing required field: name'],
      ['POST', '/proxies', { name: 'x' }, 400, 'missing required field: upstream'],
      ['POST', '/proxies', { name: 'busy', listen: p.listen, upstream: upstream() }, 500, `listen tcp ${p.listen}: bind: address already in use`],
      ['GET', '/proxies/nope', undefined, 404, 'proxy not found'],
      ['GET', '/proxies/dup/toxics/nope', undefined, 404, 'toxic not found'],
      ['POST', '/proxies/dup/toxics', { type: 'latency', stream: 'sideways' }, 400, 'stream was invalid, can be either upstream or downstream'],
      ['POST', '/proxies/dup/toxics', { type: 'no_such' }, 400, 'invalid toxic type'],
      ['POST', '/proxies/dup/toxics', '{"type": "latency", "attributes": {"latency": 1e400}}', 400, 'bad request body: attributes.latency: expected number, got a number too large to hold'],
      ['POST', '/proxies/dup/toxics', { type: 'error', attributes: { kind: 503 } }, 400,
        `bad request body: attribute kind: tcp has no error kind "503", http has: is the proxy's protocol right? (raw tcp has no protocol errors: its one kind, "random", sends 1000 random bytes; leave kind out)`],
      // Port 0 is a listen address's "any free port"; no server listens there.
      ['POST', '/proxies', { name: 'zero', upstream: '127.0.0.1:0' }, 400, 'bad request body: upstream: "127.0.0.1:0": port 0 is not a server\'s port (0 means "any free port", which only a listen address can ask for)'],
      ['POST', '/proxies/dup', { upstream: '127.0.0.1:0' }, 400, 'bad request body: upstream: "127.0.0.1:0": port 0 is not a server\'s port (0 means "any free port", which only a listen address can ask for)'],
    ];
    for (const [method, path, body, status, error] of cases) {
      const r = await raw(method, path, body);
      expect({ path, status: r.status, body: JSON.parse(r.text) }).toEqual({ path, status, body: { error, status } });
      expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    }
    // /populate answers a failure in its success shape, as JSON, with no proxies made (recorded from Toxiproxy).
    const populate = await raw('POST', '/populate', [{ name: 'a', upstream: upstream() }, { upstream: upstream() }]);
    expect({ status: populate.status, body: JSON.parse(populate.text) }).toEqual({ status: 400, body: { error: 'missing required field: name at proxy 2', status: 400, proxies: null } });
    expect(populate.headers.get('content-type')).toBe('application/json');
    await raw('POST', '/proxies/dup/toxics', { type: 'latency', name: 'twice' });
    expect((await raw('POST', '/proxies/dup/toxics', { type: 'latency', name: 'twice' })).status).toBe(409);
    expect((await raw('GET', '/nowhere')).text).toBe('404 page not found\n');
    expect((await raw('PUT', '/proxies')).status).toBe(405);
    await expect(client.get('nope')).rejects.toThrow('status code 404');
    await p.remove();
    await expect(client.get('dup')).rejects.toThrow('status code 404');
    expect((await raw('DELETE', '/proxies/dup')).status).toBe(404);
  });

  it('adds, reads, updates and removes toxics with server-side defaults', async () => {
    const p = await client.createProxy({ name: 'toxics', listen: '127.0.0.1:0', upstream: upstream() });
    const port = portOf(p.listen);
    const t = await p.addToxic({ name: 'slow', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 300, jitter: 0 } });
    expect(t.toJson()).toEqual({ name: 'slow', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 300, jitter: 0 } });
    const slow = await exchange(port, 'x', { want: 1, timeoutMs: 3000 });
    expect(slow.reply.toString()).toBe('x');
    expect(slow.ms).toBeGreaterThanOrEqual(290);

    const read = await p.getToxic('slow');
    expect(read.toJson()).toEqual(t.toJson());
    // A partial update merges attributes (Toxiproxy decodes onto the live toxic).
    const updated = await read.update({ ...read.toJson(), attributes: { latency: 50, jitter: 0 } });
    expect(updated.attributes).toEqual({ latency: 50, jitter: 0 });
    const patched = await raw('PATCH', '/proxies/toxics/toxics/slow', { toxicity: 0.5 });
    expect(JSON.parse(patched.text)).toEqual({ name: 'slow', type: 'latency', stream: 'downstream', toxicity: 0.5, attributes: { latency: 50, jitter: 0 } });

    // Omitted fields get Toxiproxy's defaults: name <type>_<stream>, downstream, toxicity 1, attributes 0.
    const bare = JSON.parse((await raw('POST', '/proxies/toxics/toxics', { type: 'latency', stream: 'UPSTREAM' })).text);
    expect(bare).toEqual({ name: 'latency_upstream', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 0, jitter: 0 } });
    const slicer = JSON.parse((await raw('POST', '/proxies/toxics/toxics', { type: 'slicer', attributes: { average_size: 10 } })).text);
    expect(slicer.attributes).toEqual({ average_size: 10, size_variation: 0, delay: 0 });
    // Upstream chain first, then downstream.
    const list = JSON.parse((await raw('GET', '/proxies/toxics/toxics')).text) as { name: string }[];
    expect(list.map((x) => x.name)).toEqual(['latency_upstream', 'slow', 'slicer_downstream']);

    await updated.remove();
    await expect(p.getToxic('slow')).rejects.toThrow('status code 404');
    expect((await raw('DELETE', '/proxies/toxics/toxics/slow')).status).toBe(404);
    expect((await raw('DELETE', '/proxies/toxics/toxics/latency_upstream')).status).toBe(204);
    await p.remove();
  });

  it('a timeout toxic stalls the stream, then closes it after its timeout', async () => {
    const p = await client.createProxy({ name: 'timeout', listen: '127.0.0.1:0', upstream: upstream() });
    await p.addToxic({ name: 'stall', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } });
    const stalled = await exchange(portOf(p.listen), 'hello', { want: 5, timeoutMs: 700 });
    expect(stalled.error).toBe('timeout');
    expect(stalled.reply.length).toBe(0);
    const t = await p.getToxic('stall');
    await t.update({ ...t.toJson(), attributes: { timeout: 300 } });
    const closed = await exchange(portOf(p.listen), 'hello', { want: 5, timeoutMs: 3000 });
    expect(closed.closed).toBe(true);
    expect(closed.reply.length).toBe(0);
    expect(closed.ms).toBeGreaterThanOrEqual(250);
    await p.remove();
  });

  it('a reset_peer toxic resets the connection', async () => {
    const p = await client.createProxy({ name: 'reset', listen: '127.0.0.1:0', upstream: upstream() });
    await p.addToxic({ name: 'rst', type: 'reset_peer', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } });
    const r = await exchange(portOf(p.listen), 'hello', { want: 5, timeoutMs: 2000 });
    expect(r.error).toBe('ECONNRESET');
    await p.remove();
  });

  it('a down toxic at toxicity 1 closes the listener (connection refused) until it is removed', async () => {
    const p = await client.createProxy({ name: 'dn', listen: '127.0.0.1:0', upstream: upstream() });
    const port = portOf(p.listen);
    const stats = async () => JSON.parse((await raw('GET', '/marteau/proxies/dn/stats')).text) as { connections: { refused: number }; behaviors: Record<string, number> };
    // Toxicity defaults to 1; the stream does not matter (a connection hook runs on either).
    const added = await raw('POST', '/proxies/dn/toxics', { name: 'dn', type: 'down', attributes: {} });
    expect(JSON.parse(added.text)).toMatchObject({ name: 'dn', type: 'down', stream: 'downstream', toxicity: 1 });
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    // Below toxicity 1 the proxy listens again: connections are let in, some reset at once.
    const half = await raw('PATCH', '/proxies/dn/toxics/dn', { toxicity: 0.5 });
    expect(JSON.parse(half.text).toxicity).toBe(0.5);
    const tries = [];
    for (let i = 0; i < 20; i++) tries.push(await exchange(port, 'x', { want: 1 }));
    expect(tries.some((r) => r.error === 'ECONNRESET')).toBe(true);
    expect(tries.some((r) => r.reply.toString() === 'x')).toBe(true);
    expect(tries.every((r) => r.error !== 'ECONNREFUSED')).toBe(true);
    // A down refusal counts under the behavior; `refused` is max_connections' alone.
    const s = await stats();
    expect(s.behaviors.down).toBe(tries.filter((r) => r.error === 'ECONNRESET').length);
    expect(s.connections.refused).toBe(0);
    await raw('PATCH', '/proxies/dn/toxics/dn', { toxicity: 1 });
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    // Removed: the listener is open again by the time the DELETE is answered.
    expect((await raw('DELETE', '/proxies/dn/toxics/dn')).status).toBe(204);
    expect((await exchange(port, 'back', { want: 4 })).reply.toString()).toBe('back');
    // On the upstream stream, through the client library, the same.
    await p.addToxic({ name: 'up', type: 'down', stream: 'upstream', toxicity: 1, attributes: {} });
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    await (await p.getToxic('up')).remove();
    expect((await exchange(port, 'ok', { want: 2 })).reply.toString()).toBe('ok');
    // Our mix route: a blackout mix with a down toxic refuses; without the toxic, blackout closes.
    const put = (body: unknown) => fetch(`${api.url}/marteau/proxies/dn/mix`, { method: 'PUT', body: JSON.stringify(body) });
    expect((await put({ mix: '100:blackout', toxics: [{ name: 'dn', type: 'down' }] })).status).toBe(200);
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    expect((await put({ mix: '100:blackout', toxics: [] })).status).toBe(200);
    const blackout = await exchange(port, 'x', { want: 1 });
    expect(blackout.closed).toBe(true);
    expect(blackout.error).not.toBe('ECONNREFUSED');
    // Reset removes the toxics and restores the mix: listening, passing.
    await put({ toxics: [{ name: 'dn', type: 'down' }] });
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    await client.reset();
    expect((await exchange(port, 'again', { want: 5 })).reply.toString()).toBe('again');
    expect((await stats()).connections.refused).toBe(0);
    await p.remove();
  });

  it('updates a proxy: disable refuses connections, enable, new upstream, new listen', async () => {
    const p = await client.createProxy({ name: 'upd', listen: '127.0.0.1:0', upstream: upstream() });
    const port = portOf(p.listen);
    await p.addToxic({ name: 'keep', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1, jitter: 0 } });
    const off = await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
    expect(off.enabled).toBe(false);
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
    const on = await off.update({ enabled: true, listen: p.listen, upstream: `127.0.0.1:${otherPort}` });
    expect(on.enabled).toBe(true);
    expect(on.upstream).toBe(`127.0.0.1:${otherPort}`);
    expect((await exchange(port, 'x', { want: 3 })).reply.toString()).toBe('B:x');
    // A new listen address restarts the proxy there; its toxics go along.
    const moved = await on.update({ enabled: true, listen: '127.0.0.1:0', upstream: upstream() });
    expect(moved.listen).not.toBe(p.listen);
    expect((await exchange(portOf(moved.listen), 'y', { want: 1 })).reply.toString()).toBe('y');
    expect((await exchange(port, 'y')).error).toBe('ECONNREFUSED');
    expect((await moved.getToxic('keep')).attributes).toEqual({ latency: 1, jitter: 0 });
    await moved.remove();
  });

  it('populates: keeps identical proxies with their toxics, replaces changed ones', async () => {
    const first = await client.populate([
      { name: 'pop_a', listen: '127.0.0.1:0', upstream: upstream() },
      { name: 'pop_b', listen: '127.0.0.1:0', upstream: upstream() },
    ]);
    expect(Object.keys(first).sort()).toEqual(['pop_a', 'pop_b']);
    const a = first.pop_a;
    const b = first.pop_b;
    await a.addToxic({ name: 'ta', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1, jitter: 0 } });
    await b.addToxic({ name: 'tb', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1, jitter: 0 } });
    const again = await client.populate([
      { name: 'pop_a', listen: a.listen, upstream: upstream() },
      { name: 'pop_b', listen: b.listen, upstream: `127.0.0.1:${otherPort}` },
    ]);
    expect(again.pop_a.listen).toBe(a.listen);
    expect((await again.pop_a.getToxic('ta')).name).toBe('ta');
    await expect(again.pop_b.getToxic('tb')).rejects.toThrow('status code 404');
    expect((await exchange(portOf(again.pop_b.listen), 'z', { want: 3 })).reply.toString()).toBe('B:z');
    // A failure partway reports the proxies done so far.
    const r = await raw('POST', '/populate', [{ name: 'pop_c', listen: '127.0.0.1:0', upstream: upstream() }, { name: 'pop_d', listen: a.listen, upstream: upstream() }]);
    expect(r.status).toBe(500);
    const body = JSON.parse(r.text);
    expect(body.error).toBe(`listen tcp ${a.listen}: bind: address already in use`);
    expect(body.proxies.map((x: { name: string }) => x.name)).toEqual(['pop_c']);
    for (const name of ['pop_a', 'pop_b', 'pop_c']) await (await client.get(name)).remove();
  });

  it('reset enables every proxy and removes every toxic, keeping the proxies', async () => {
    const p = await client.createProxy({ name: 'rst_all', listen: '127.0.0.1:0', upstream: upstream() });
    await p.addToxic({ name: 'gone', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } });
    await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
    await client.reset();
    const after = await client.get('rst_all');
    expect(after.enabled).toBe(true);
    expect(JSON.parse((await raw('GET', '/proxies/rst_all/toxics')).text)).toEqual([]);
    expect((await exchange(portOf(after.listen), 'ok', { want: 2 })).reply.toString()).toBe('ok');
    await after.remove();
  });

  it("accepts the Go client's bodies (toxics: null on save, PATCH updates with name/type)", async () => {
    const created = await raw('POST', '/proxies', { name: 'go', listen: '127.0.0.1:0', upstream: upstream(), enabled: true, toxics: null });
    expect(created.status).toBe(201);
    const p = JSON.parse(created.text);
    const saved = await raw('POST', '/proxies/go', { ...p, enabled: false, toxics: [] });
    expect(JSON.parse(saved.text).enabled).toBe(false);
    await raw('POST', '/proxies/go/toxics', { name: '', type: 'bandwidth', stream: '', toxicity: 1, attributes: { rate: 1000 } });
    const patched = await raw('PATCH', '/proxies/go/toxics/bandwidth_downstream', { attributes: { rate: 10 }, name: '', type: '' });
    expect(JSON.parse(patched.text)).toMatchObject({ name: 'bandwidth_downstream', type: 'bandwidth', attributes: { rate: 10 } });
    expect((await raw('DELETE', '/proxies/go')).status).toBe(204);
  });

  it('accepts our behaviors as extra toxic types, and Toxiproxy\'s noop', async () => {
    const p = await client.createProxy({ name: 'extra', listen: '127.0.0.1:0', upstream: upstream() });
    const r = await raw('POST', '/proxies/extra/toxics', { type: 'error', attributes: {} });
    expect(JSON.parse(r.text)).toMatchObject({ name: 'error_downstream', type: 'error', attributes: { warmup: 0, inject: false } });
    // tcp's protocol error is Vaurien's: 1000 random bytes instead of the echo.
    expect((await exchange(portOf(p.listen), 'abc', { want: 1000 })).reply.length).toBe(1000);
    expect((await raw('POST', '/proxies/extra/toxics', { type: 'noop' })).status).toBe(200);
    // Go decodes attributes onto the toxic struct: an unknown one is skipped; we name it in a header.
    const typo = await raw('POST', '/proxies/extra/toxics', { name: 'typo', type: 'latency', attributes: { latnecy: 5 } });
    expect(typo.status).toBe(200);
    expect(JSON.parse(typo.text).attributes).toEqual({ latency: 0, jitter: 0 });
    expect(typo.headers.get('x-marteau-ignored')).toBe('attributes.latnecy');
    await p.remove();
  });
});
