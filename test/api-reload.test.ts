/**
 * `marteau-tui proxy --config FILE --watch`: a valid edit is applied atomically (changed proxies
 * updated in place, added ones started, removed ones stopped); an invalid edit is reported with
 * file:line and the running config is kept.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type RunningCli } from './helpers/cli.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { freePort } from './helpers/net.js';
import { saveAsEditor } from './helpers/editor-save.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let dir: string;
beforeAll(async () => {
  echo = await startEchoServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-reload-'));
});
afterAll(async () => { await echo.close(); });

function proxyYaml(entries: Record<string, { listen: number; behaviors?: string }>): string {
  let y = 'proxies:\n';
  for (const [name, e] of Object.entries(entries)) {
    y += `  ${name}:\n    listen: 127.0.0.1:${e.listen}\n    upstream: 127.0.0.1:${echo.port}\n`;
    if (e.behaviors) y += `    behaviors: ${e.behaviors}\n`;
  }
  return y;
}

async function proxies(url: string): Promise<Record<string, { mix: string; listen: string; toxics: unknown[] }>> {
  const list = await fetch(`${url}/marteau/proxies`).then((r) => r.json()) as { name: string; mix: string; listen: string; toxics: unknown[] }[];
  return Object.fromEntries(list.map((p) => [p.name, p]));
}

function roundTrip(s: net.Socket, msg: string): Promise<{ reply: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no reply to ${msg}`)), 5000);
    const onData = (d: Buffer) => {
      got += d;
      if (got.length < msg.length) return;
      clearTimeout(timer);
      s.off('data', onData);
      resolve({ reply: got, ms: performance.now() - start });
    };
    s.on('data', onData);
    s.write(msg);
  });
}

describe('hot reload (--watch)', () => {
  let cli: RunningCli;
  let url: string;
  let file: string;
  let ports: number[];
  let reloads = 0;
  /** Wait for the n-th "config reloaded" or "config not applied" report after this point. */
  const nextReport = async (kind: 'reloaded' | 'not applied') => {
    const re = kind === 'reloaded' ? /config reloaded from /g : /config not applied/g;
    const stream = kind === 'reloaded' ? 'out' : 'err';
    const count = () => ((stream === 'out' ? cli.out() : cli.err()).match(re) ?? []).length;
    const before = count();
    const deadline = Date.now() + 10_000;
    while (count() <= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(count()).toBeGreaterThan(before);
    reloads++;
  };

  beforeAll(async () => {
    ports = [await freePort(), await freePort(), await freePort()];
    file = path.join(dir, 'proxies.yml');
    await writeFile(file, proxyYaml({ one: { listen: ports[0] }, two: { listen: ports[1], behaviors: '"100:error"' } }));
    cli = runCli(['proxy', '--config', file, '--watch', '--api', '127.0.0.1:0', '--interval', '60000']);
    url = (await cli.waitFor(/api listening on (http:\/\/127\.0\.0\.1:\d+)/, { timeoutMs: 20_000 }))[1];
  });
  afterAll(async () => { expect(await cli.stop()).toBe(0); });

  it('applies a valid edit: mix changed in place (open connections and toxics kept), proxy added, proxy removed', async () => {
    const open = net.connect(ports[0], '127.0.0.1');
    await new Promise((r) => open.once('connect', r));
    expect((await roundTrip(open, 'before')).reply).toBe('before');
    await fetch(`${url}/proxies/one/toxics`, { method: 'POST', body: JSON.stringify({ name: 'kept', type: 'latency', attributes: { latency: 1 } }) });

    const reported = nextReport('reloaded');
    await saveAsEditor(file, proxyYaml({ one: { listen: ports[0], behaviors: '{delay: {percent: 100, sleep: 0.3}}' }, three: { listen: ports[2] } }));
    await reported;
    expect(cli.out()).toMatch(/config reloaded from .*proxies\.yml: added three; updated one; removed two/);

    const now = await proxies(url);
    expect(Object.keys(now).sort()).toEqual(['one', 'three']);
    expect(now.one.mix).toBe('100:delay');
    expect(now.one.toxics).toHaveLength(1);
    const after = await roundTrip(open, 'after!');
    expect(after.reply).toBe('after!');
    expect(after.ms).toBeGreaterThanOrEqual(290);
    open.destroy();
    expect((await exchange(ports[1], 'x')).error).toBe('ECONNREFUSED');
    expect((await exchange(ports[2], 'three', { want: 5 })).reply.toString()).toBe('three');
  });

  it('reports an invalid edit with file:line and keeps the running config', async () => {
    const bad = 'proxies:\n  one:\n    listen: 127.0.0.1:' + ports[0] + '\n    upstream: 127.0.0.1:' + echo.port + '\n    behaviors: "20:delya"\n';
    let reported = nextReport('not applied');
    await saveAsEditor(file, bad);
    await reported;
    expect(cli.err()).toContain(`${file}:5:16: proxies.one.behaviors.0: unknown behavior "delya"`);
    reported = nextReport('not applied');
    await saveAsEditor(file, 'proxies:\n  one: [oops\n');
    await reported;
    expect(cli.err()).toMatch(new RegExp(`${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: YAML syntax`));

    const now = await proxies(url);
    expect(Object.keys(now).sort()).toEqual(['one', 'three']);
    expect(now.one.mix).toBe('100:delay');
    expect((await exchange(ports[2], 'still', { want: 5 })).reply.toString()).toBe('still');
  });

  it('keeps everything when a new listener cannot bind, then recovers on the next good edit', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    let reported = nextReport('not applied');
    await saveAsEditor(file, proxyYaml({ one: { listen: ports[0] }, three: { listen: ports[2] }, four: { listen: taken } }));
    await reported;
    expect(cli.err()).toContain(`127.0.0.1:${taken} is already in use`);
    let now = await proxies(url);
    expect(Object.keys(now).sort()).toEqual(['one', 'three']);
    expect(now.one.mix).toBe('100:delay');
    blocker.close();

    // A new listen address restarts that proxy there (its toxics go along).
    const moved = await freePort();
    reported = nextReport('reloaded');
    await saveAsEditor(file, proxyYaml({ one: { listen: moved }, three: { listen: ports[2] } }));
    await reported;
    expect(cli.out()).toMatch(/proxies\.yml: restarted one\n/);
    now = await proxies(url);
    expect(now.one).toMatchObject({ listen: `127.0.0.1:${moved}`, mix: '100:dummy' });
    expect(now.one.toxics).toHaveLength(1);
    expect((await exchange(moved, 'moved', { want: 5 })).reply.toString()).toBe('moved');
    expect((await exchange(ports[0], 'x')).error).toBe('ECONNREFUSED');
    expect(reloads).toBeGreaterThanOrEqual(5);
  });
});
