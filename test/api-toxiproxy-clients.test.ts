/**
 * The exact requests other Toxiproxy clients send, replayed against a running `marteau-tui proxy
 * --api`, with the assertions those clients' own tests make. Shopify's Ruby client and
 * Toxiproxy's Go test suite cannot be installed here (no RubyGems, no Go toolchain), so their
 * wire behavior is replayed from their source; each case cites the file it comes from.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningCli } from './helpers/cli.js';
import { exchange, startEchoServer, startTaggingServer } from './helpers/echo.js';
import { connects, freePort } from './helpers/net.js';

let api: RunningCli & { url: string };
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let other: Awaited<ReturnType<typeof startTaggingServer>>;
let otherPort: number;

beforeAll(async () => {
  echo = await startEchoServer();
  other = await startTaggingServer();
  otherPort = other.port;
  api = await startApi();
});

afterAll(async () => {
  expect(await api.stop()).toBe(0);
  await echo.close();
  other.close();
});

/** One request as a client sends it: `body` is the exact JSON text (Ruby's to_json, Go's Marshal). */
async function send(method: string, path: string, body?: string, json = true) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: json && body !== undefined ? { 'Content-Type': 'application/json' } : {},
    body,
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const portOf = (listen: string) => Number(listen.split(':').pop());

/** An open connection through a proxy that has exchanged `hello`; resolves `closed` when the proxy closes it. */
async function openConnection(port: number, expectReply = true): Promise<{ closed: Promise<void>; socket: net.Socket }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('hello');
  if (expectReply) await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  return { closed, socket };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms))]);
}

describe("Shopify's Ruby client (toxiproxy-ruby lib/toxiproxy.rb, test/toxiproxy_test.rb)", () => {
  const upstream = () => `localhost:${echo.port}`;

  it('create sends "enabled": null and "listen": "localhost:0"; the proxy starts enabled', async () => {
    // Toxiproxy#create: {upstream:, name:, listen:, enabled:}.to_json, enabled nil unless given.
    const r = await send('POST', '/proxies', JSON.stringify({ upstream: upstream(), name: 'test_mysql_master', listen: 'localhost:0', enabled: null }));
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ name: 'test_mysql_master', upstream: upstream(), enabled: true });
    expect(r.json.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    // test_create_and_find_proxy: Toxiproxy[:test_mysql_master] reads GET /proxies.
    const all = await send('GET', '/proxies');
    expect(all.json.test_mysql_master).toMatchObject({ name: 'test_mysql_master', upstream: upstream(), listen: r.json.listen });
    expect((await send('DELETE', '/proxies/test_mysql_master')).status).toBe(204);
  });

  it('test_enable_and_disable_proxy_with_toxic: a toxic survives disable/enable, listen unchanged', async () => {
    const created = await send('POST', '/proxies', JSON.stringify({ upstream: upstream(), name: 'test_rubby_server', listen: 'localhost:0', enabled: null }));
    const listen = created.json.listen as string;
    // Toxic#save posts as_json without a Content-Type: name, type, stream, toxicity 1.0, attributes.
    const toxic = await send('POST', '/proxies/test_rubby_server/toxics',
      '{"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1.0,"attributes":{"latency":123}}', false);
    expect(toxic.status).toBe(200);
    expect(toxic.json.attributes.latency).toBe(123);
    // Toxiproxy#disable / #enable: POST /proxies/NAME with {"enabled":false} / {"enabled":true}.
    await send('POST', '/proxies/test_rubby_server', '{"enabled":false}');
    expect(await connects(portOf(listen))).toBe(false);
    await send('POST', '/proxies/test_rubby_server', '{"enabled":true}');
    expect(await connects(portOf(listen))).toBe(true);
    const toxics = await send('GET', '/proxies/test_rubby_server/toxics');
    expect(toxics.json.find((t: { name: string }) => t.name === 'latency_downstream').attributes.latency).toBe(123);
    expect((await send('GET', '/proxies')).json.test_rubby_server.listen).toBe(listen);
    // test_reset: POST /reset with a JSON Content-Type and no body.
    await send('POST', '/proxies/test_rubby_server', '{"enabled":false}');
    expect((await send('POST', '/reset', '')).status).toBe(204);
    expect(await connects(portOf(listen))).toBe(true);
    expect((await send('GET', '/proxies/test_rubby_server/toxics')).json).toEqual([]);
    await send('DELETE', '/proxies/test_rubby_server');
  });

  it('test_apply_upstream_toxic: ToxicCollection#apply saves, the latency holds the exchange, destroy removes it', async () => {
    await send('POST', '/proxies', JSON.stringify({ upstream: upstream(), name: 'test_proxy', listen: 'localhost:0', enabled: null }));
    const listen = (await send('GET', '/proxies/test_proxy')).json.listen as string;
    // upstream(:latency, latency: 100): toxicity from attrs.delete("toxicitiy") is nil, so 1.0.
    await send('POST', '/proxies/test_proxy/toxics', '{"name":"latency_upstream","type":"latency","stream":"upstream","toxicity":1.0,"attributes":{"latency":100}}', false);
    const r = await exchange(portOf(listen), 'omg\n', { want: 4, timeoutMs: 3000 });
    expect(r.reply.toString()).toBe('omg\n');
    expect(r.ms).toBeGreaterThanOrEqual(95);
    expect((await send('DELETE', '/proxies/test_proxy/toxics/latency_upstream')).status).toBe(204);
    await send('DELETE', '/proxies/test_proxy');
  });

  it('test_populate_creates_proxies_update_upstream: populate twice, the second upstream wins, proxies stay available', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const first = await send('POST', '/populate', JSON.stringify([
      { name: 'test_toxiproxy_populate1', upstream: upstream(), listen: `localhost:${p1}` },
      { name: 'test_toxiproxy_populate2', upstream: upstream(), listen: `localhost:${p2}` },
    ]));
    expect(first.status).toBe(201);
    for (const p of first.json.proxies) expect(await connects(portOf(p.listen))).toBe(true);
    const second = await send('POST', '/populate', JSON.stringify([{ name: 'test_toxiproxy_populate1', upstream: `localhost:${otherPort}`, listen: `localhost:${p1}` }]));
    expect(second.json.proxies[0].upstream).not.toBe(first.json.proxies[0].upstream);
    expect(await connects(p1)).toBe(true);
    for (const n of ['test_toxiproxy_populate1', 'test_toxiproxy_populate2']) await send('DELETE', `/proxies/${n}`);
  });

  it('test_invalid_direction: a bad stream is a 400 (Toxiproxy::InvalidToxic)', async () => {
    await send('POST', '/proxies', JSON.stringify({ upstream: upstream(), name: 'test_dir', listen: 'localhost:0', enabled: null }));
    const r = await send('POST', '/proxies/test_dir/toxics', '{"name":"latency_lolstream","type":"latency","stream":"lolstream","toxicity":1.0,"attributes":{"latency":123}}', false);
    expect(r.status).toBe(400);
    await send('DELETE', '/proxies/test_dir');
  });
});

describe("Toxiproxy's own API tests (Shopify/toxiproxy api_test.go, through its Go client client/client.go)", () => {
  it('TestCreateDisabledProxy / AndEnable: a disabled proxy shows the listen it was given until it starts', async () => {
    const port = await freePort();
    // client.NewProxy() + Save(): the Go client marshals every field, "toxics" included.
    const body = JSON.stringify({ name: 'mysql_master', listen: `localhost:${port}`, upstream: 'localhost:20001', enabled: false, toxics: null });
    expect((await send('POST', '/proxies', body)).status).toBe(201);
    const got = (await send('GET', '/proxies/mysql_master')).json;
    expect(got).toMatchObject({ name: 'mysql_master', listen: `localhost:${port}`, upstream: 'localhost:20001', enabled: false });
    expect(await connects(port)).toBe(false);
    // proxy.Enabled = true; proxy.Save() posts the whole proxy back.
    const enabled = await send('POST', '/proxies/mysql_master', JSON.stringify({ ...got, enabled: true }));
    expect(enabled.json).toMatchObject({ listen: `127.0.0.1:${port}`, enabled: true });
    expect(await connects(port)).toBe(true);
    const disabled = await send('POST', '/proxies/mysql_master', JSON.stringify({ ...enabled.json, enabled: false }));
    // Once started, Toxiproxy keeps the address it bound.
    expect(disabled.json).toMatchObject({ listen: `127.0.0.1:${port}`, enabled: false });
    expect(await connects(port)).toBe(false);
    await send('DELETE', '/proxies/mysql_master');
  });

  it('populate honours "enabled": false, and a client\'s bookkeeping fields are ignored', async () => {
    const port = await freePort();
    const r = await send('POST', '/populate', JSON.stringify([
      { name: 'one', listen: `localhost:${port}`, upstream: `localhost:${echo.port}`, enabled: false, proxyPath: '/proxies/one' },
    ]));
    expect(r.status).toBe(201);
    expect(r.json.proxies).toEqual([{ name: 'one', listen: `localhost:${port}`, upstream: `localhost:${echo.port}`, enabled: false, toxics: [] }]);
    expect(r.headers.get('x-marteau-ignored')).toBe('0.proxyPath');
    expect(await connects(port)).toBe(false);
    await send('DELETE', '/proxies/one');
  });

  it('populate creates the entries before a bad one and reports the error with them', async () => {
    const [p1, p3] = [await freePort(), await freePort()];
    const r = await send('POST', '/populate', JSON.stringify([
      { name: 'good', listen: `127.0.0.1:${p1}`, upstream: `localhost:${echo.port}` },
      { name: 'bad', listen: 'localhost:99999', upstream: `localhost:${echo.port}` },
      { name: 'after', listen: `127.0.0.1:${p3}`, upstream: `localhost:${echo.port}` },
    ]));
    expect(r.status).toBe(400);
    expect(r.json.error).toContain('listen at proxy 2');
    expect(r.json.proxies.map((p: { name: string }) => p.name)).toEqual(['good']);
    const names = Object.keys((await send('GET', '/proxies')).json);
    expect(names).toContain('good');
    expect(names).not.toContain('after');
    await send('DELETE', '/proxies/good');
  });

  it('a toxic posted back as the client got it, with a null toxicity and an unknown field, updates', async () => {
    await send('POST', '/proxies', JSON.stringify({ name: 'upd', listen: 'localhost:0', upstream: `localhost:${echo.port}` }));
    const t = (await send('POST', '/proxies/upd/toxics', JSON.stringify({ name: null, type: 'latency', stream: null, toxicity: null, attributes: { latency: 5, jitter: null } }))).json;
    expect(t).toEqual({ name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 5, jitter: 0 } });
    const updated = await send('POST', '/proxies/upd/toxics/latency_downstream', JSON.stringify({ ...t, toxicity: null, attributes: { latency: 9 }, proxyPath: '/proxies/upd' }));
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ toxicity: 1, attributes: { latency: 9, jitter: 0 } });
    await send('DELETE', '/proxies/upd');
  });
});

describe('open connections where Toxiproxy cuts them (proxy.go Update, link.go RemoveToxic + timeout Cleanup)', () => {
  it('a new upstream restarts the proxy: open connections drop, new ones reach the new server', async () => {
    const created = await send('POST', '/proxies', JSON.stringify({ name: 'move', listen: 'localhost:0', upstream: `localhost:${echo.port}` }));
    const port = portOf(created.json.listen);
    const open = await openConnection(port);
    await send('POST', '/proxies/move', JSON.stringify({ upstream: `127.0.0.1:${otherPort}` }));
    await within(open.closed, 5000, 'the open connection closing');
    expect((await exchange(port, 'x', { want: 3 })).reply.toString()).toBe('B:x');
    await send('DELETE', '/proxies/move');
  });

  it('removing a timeout toxic closes the connections it was on', async () => {
    const created = await send('POST', '/proxies', JSON.stringify({ name: 'hole', listen: 'localhost:0', upstream: `localhost:${echo.port}` }));
    const port = portOf(created.json.listen);
    await send('POST', '/proxies/hole/toxics', JSON.stringify({ name: 'stall', type: 'timeout', attributes: { timeout: 0 } }));
    const open = await openConnection(port, false);
    let closedEarly = false;
    void open.closed.then(() => { closedEarly = true; });
    await new Promise((r) => setTimeout(r, 200));
    expect(closedEarly).toBe(false);
    expect((await send('DELETE', '/proxies/hole/toxics/stall')).status).toBe(204);
    await within(open.closed, 5000, 'the black-holed connection closing');
    // New connections flow again.
    expect((await exchange(port, 'ok', { want: 2 })).reply.toString()).toBe('ok');
    await send('DELETE', '/proxies/hole');
  });
});

describe("Toxiproxy's /metrics (metrics_test.go TestProxyMetricsReceivedSentBytes)", () => {
  it('serves the proxy byte counters in the Prometheus text format, with Toxiproxy\'s names and labels', async () => {
    const created = await send('POST', '/proxies', JSON.stringify({ name: 'metered', listen: 'localhost:0', upstream: `localhost:${echo.port}` }));
    const listen = created.json.listen as string;
    expect((await exchange(portOf(listen), 'hello', { want: 5 })).reply.toString()).toBe('hello');
    // An injected error: the proxy reads 3 bytes from the client and sends none to the server.
    await send('POST', '/proxies/metered/toxics', JSON.stringify({ name: 'cut', type: 'reset_peer', stream: 'upstream', attributes: { timeout: 0 } }));
    await exchange(portOf(listen), 'abc', { timeoutMs: 2000 });
    const labels = (direction: string) => `direction="${direction}",listener="${listen}",proxy="metered",upstream="localhost:${echo.port}"`;
    const deadline = Date.now() + 5000;
    let text = '';
    for (;;) {
      const res = await fetch(`${api.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      text = await res.text();
      if (text.includes(`toxiproxy_proxy_received_bytes_total{${labels('upstream')}} 8`) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines = text.split('\n').filter((l) => l.startsWith('toxiproxy_proxy') && l.includes('proxy="metered"'));
    expect(lines.sort()).toEqual([
      `toxiproxy_proxy_received_bytes_total{${labels('downstream')}} 5`,
      `toxiproxy_proxy_received_bytes_total{${labels('upstream')}} 8`,
      `toxiproxy_proxy_sent_bytes_total{${labels('downstream')}} 5`,
      `toxiproxy_proxy_sent_bytes_total{${labels('upstream')}} 5`,
    ]);
    expect(text).toContain('# TYPE toxiproxy_proxy_sent_bytes_total counter');
    await send('DELETE', '/proxies/metered');
  });
});
