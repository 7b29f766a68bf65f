/**
 * `marteau-tui proxy` run with what Vaurien and Toxiproxy users already have: Vaurien's command
 * line as vaurien.util.start_proxy builds it, a Vaurien INI file, toxiproxy-server's `-config
 * proxies.json -host -port`. Each is driven as its users drive it (vaurienclient's requests,
 * Toxiproxy's API) with real HTTP traffic behind the proxy.
 */
import http from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { startHttpServer } from './helpers/http-server.js';
import { connects, freePort } from './helpers/net.js';

let dir: string;
let web: Awaited<ReturnType<typeof startHttpServer>>;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-compat-'));
  web = await startHttpServer();
});
afterAll(async () => { await web.close(); });

function get(port: number): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - start }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - start }));
  });
}

describe("Vaurien's command line", () => {
  // vaurien/util.py start_proxy builds: python -m vaurien.run --backend B --proxy P --log-level
  // info --log-output - --protocol http --http --http-host H --http-port N, plus options; its
  // test_http_proxy.py passes ['--behavior-delay-sleep', '1'] and then switches to delay with
  // vaurienclient, asserting the request takes over a second more than the fastest plain one.
  it('runs as start_proxy starts it; --behavior-delay-sleep is what PUT /behavior delay uses', async () => {
    const [proxyPort, httpPort] = [await freePort(), await freePort()];
    const cli = runCli(['proxy', '--backend', `127.0.0.1:${web.port}`, '--proxy', `127.0.0.1:${proxyPort}`, '--log-level', 'info', '--log-output', '-',
      '--protocol', 'http', '--http', '--http-host', '127.0.0.1', '--http-port', String(httpPort), '--behavior-delay-sleep', '1', '--interval', '60000']);
    try {
      await cli.waitFor(/api listening on http:\/\/127\.0\.0\.1:(\d+)/, { timeoutMs: 60_000 });
      let fastest = Infinity;
      for (let i = 0; i < 5; i++) fastest = Math.min(fastest, (await get(proxyPort)).ms);
      const put = await fetch(`http://127.0.0.1:${httpPort}/behavior`, { method: 'PUT', body: JSON.stringify({ name: 'delay' }) });
      expect(put.status).toBe(200);
      const slow = await get(proxyPort);
      expect(slow.status).toBe(200);
      // The sleep is 1 s; a plain request is far quicker (the fastest of five may itself be slow on a busy machine).
      expect(fastest).toBeLessThan(500);
      expect(slow.ms).toBeGreaterThanOrEqual(1000);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('reads them after global options too, as commander finds the command', async () => {
    const proxyPort = await freePort();
    const cli = runCli(['--state-dir', path.join(dir, 'global-state'), 'proxy', '--backend', `127.0.0.1:${web.port}`, '--proxy', `127.0.0.1:${proxyPort}`, '--protocol', 'http', '--behavior', '100:error']);
    try {
      await cli.waitFor(/listening/, { timeoutMs: 60_000 });
      expect((await get(proxyPort)).status).toBe(503);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('reads --behavior PERCENT:NAME with per-behavior options and Vaurien\'s statsd flags', async () => {
    const port = await freePort();
    const cli = runCli(['proxy', '--proxy', `127.0.0.1:${port}`, '--backend', `127.0.0.1:${web.port}`, '--protocol', 'http',
      '--behavior', '100:error', '--behavior-error-warmup', '2', '--behavior-error-kind', '502', '--statsd.enabled', '--statsd.host', '127.0.0.1', '--statsd.port', '9', '--interval', '60000']);
    try {
      await cli.waitFor(/listening http 127\.0\.0\.1:\d+ -> .* mix (.*)/, { timeoutMs: 60_000 });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await get(port)).status);
      expect(statuses).toEqual([200, 200, 502]);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('--protocol-http-overwrite-host-header writes the backend address into Host, as Vaurien\'s http protocol does', async () => {
    const hostEcho = http.createServer((req, res) => res.end(req.headers.host));
    await new Promise<void>((r) => hostEcho.listen(0, '127.0.0.1', r));
    const backend = `127.0.0.1:${(hostEcho.address() as net.AddressInfo).port}`;
    const port = await freePort();
    const cli = runCli(['proxy', '--proxy', `127.0.0.1:${port}`, '--backend', backend, '--protocol', 'http', '--protocol-http-overwrite-host-header', '--interval', '60000']);
    try {
      await cli.waitFor(/listening/, { timeoutMs: 60_000 });
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { host: 'shop.example' } });
        expect(await res.text()).toBe(backend);
      }
    } finally {
      expect(await cli.stop()).toBe(0);
      hostEcho.close();
    }
  });

  it('refuses an unknown behavior option with the options it has, and the one meant (exit 2)', async () => {
    const cli = runCli(['proxy', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--behavior-delay-slep', '2']);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain('--behavior-delay-slep: delay has no such option; did you mean "sleep"? Its options: sleep, before');
    const far = runCli(['proxy', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--behavior-delay-zzzzz', '2']);
    expect(await far.exited).toBe(2);
    expect(far.err()).toContain('--behavior-delay-zzzzz: delay has no such option; its options: sleep, before');
  });

  it('names the behavior a misspelt flag meant (exit 2), and takes fail-first for fail_first', async () => {
    const cli = runCli(['proxy', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--behavior-dealy-sleep', '2']);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain('--behavior-dealy-sleep: no behavior named in it; did you mean "delay"? Use --behavior-<name>-<option>');
    const dashed = runCli(['proxy', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--behavior-fail-first-exchanges', 'x']);
    expect(await dashed.exited).toBe(2);
    expect(dashed.err()).toContain('--behavior-fail-first-exchanges: expected');
  });
});

describe('a Vaurien INI file given to --config', () => {
  it('reads [vaurien] and [statsd] as Vaurien does, its values over the flags', async () => {
    const port = await freePort();
    const file = path.join(dir, 'vaurien.ini');
    await writeFile(file, [
      '[DEFAULT]',
      'extends = base.ini',
      '',
      '[vaurien]',
      `backend = 127.0.0.1:${web.port}`,
      `proxy = 127.0.0.1:${port}`,
      'behavior = 100:error',
      'protocol = http',
      '; Vaurien-only tuning, read and reported',
      'pool_max_size = 100',
      '',
      '[statsd]',
      'enabled = true',
      'host = "127.0.0.1"',
      'port = 9',
      '',
    ].join('\n'));
    await writeFile(path.join(dir, 'base.ini'), '[vaurien]\nbehavior = 100:dummy\ntimeout = 30\n');
    const cli = runCli(['proxy', '--config', file, '--backend', '127.0.0.1:1', '--interval', '60000']);
    try {
      await cli.waitFor(/listening vaurien \(http\) 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ mix 100:error/, { timeoutMs: 60_000 });
      expect((await get(port)).status).toBeGreaterThanOrEqual(500);
      expect(cli.err()).toContain('[vaurien] pool_max_size is read but has no use here');
      // `extends` is the reader's, not a setting [vaurien] inherits from [DEFAULT].
      expect(cli.err()).not.toContain('extends');
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('names a key Vaurien does not know and the setting it looks like, given a relative path too', async () => {
    const file = path.join(dir, 'typo.ini');
    await writeFile(file, `[vaurien]\nbackend = 127.0.0.1:${web.port}\nproxy = 127.0.0.1:0\nbehaviour = 100:error\npool_max_size = 1\n`);
    const relative = path.relative(process.cwd(), file);
    const cli = runCli(['proxy', '--config', relative, '--interval', '60000']);
    try {
      await cli.waitFor(/listening vaurien \(tcp\) .* mix pass-through/, { timeoutMs: 60_000 });
      expect(cli.err()).toContain(`${relative}:4: [vaurien] behaviour is not a Vaurien setting, ignored; did you mean "behavior"?`);
      expect(cli.err()).toContain(`${relative}:5: [vaurien] pool_max_size is read but has no use here`);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('names a section Vaurien does not read, and a [statsd] key it does not know, rather than run on the defaults without a word', async () => {
    const file = path.join(dir, 'sections.ini');
    await writeFile(file, `[proxy:x]\nlisten = 127.0.0.1:0\nprotocol = redsi\n[vaurein]\nbehavior = 100:error\n[vaurien]\nbackend = 127.0.0.1:${web.port}\nproxy = 127.0.0.1:0\n[statsd]\nenabeld = true\n`);
    const cli = runCli(['proxy', '--config', file, '--interval', '60000']);
    try {
      await cli.waitFor(/listening vaurien \(tcp\) .* mix pass-through/, { timeoutMs: 60_000 });
      expect(cli.err()).toContain(`${file}:1: [proxy:x] is not a section Vaurien reads, ignored with its keys; Vaurien reads [vaurien] (proxy, backend, protocol, behavior) and [statsd]`);
      expect(cli.err()).toContain(`${file}:4: [vaurein] is not a section Vaurien reads, ignored with its keys; did you mean [vaurien]?`);
      expect(cli.err()).toContain(`${file}:10: [statsd] enabeld is not a Vaurien setting, ignored; did you mean "enabled"?`);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it.each([
    ['a misspelt behavior, at its line', '', 'behavior = 10:dealy', (file: string) => `${file}:4:1: [vaurien] behavior: unknown behavior "dealy"; did you mean "delay"? Known behaviors: abort,`],
    ['an error kind the protocol has not, at the flag that gave it', '--behavior-error-kind=LOADNG', 'behavior = 10:error',
      () => '--behavior-error-kind: behavior "error": option "kind": redis has no error kind "LOADNG"; did you mean "LOADING"? (redis kinds: LOADING,'],
  ])('refuses %s, exit 2 without a stack trace', async (_name, flag, line, expected) => {
    const file = path.join(dir, `mix-${Math.random().toString(36).slice(2)}.ini`);
    await writeFile(file, `[vaurien]\nbackend = 127.0.0.1:1\nprotocol = redis\n${line}\n`);
    const cli = runCli(['proxy', '--config', file, ...(flag ? [flag] : [])]);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain(`marteau-tui: ${expected(file)}`);
    expect(cli.err()).not.toMatch(/\n\s+at /);
  });

  it('names a mistake at the path it was given, as its notes, also in a file it extends', async () => {
    const sub = await mkdtemp(path.join(dir, 'rel-'));
    await writeFile(path.join(sub, 'own.ini'), '[vaurien]\nbackend = 127.0.0.1:1\nprotocol = redis\nbehavior = 10:dealy\n');
    await writeFile(path.join(sub, 'base.ini'), '[statsd]\nhost = ${NO_SUCH_VARIABLE_HERE}\n');
    await writeFile(path.join(sub, 'child.ini'), '[DEFAULT]\nextends = base.ini\n\n[vaurien]\nbackend = 127.0.0.1:1\n');
    const rel = (f: string) => path.relative(process.cwd(), path.join(sub, f));
    const own = runCli(['proxy', '--config', rel('own.ini')]);
    expect(await own.exited).toBe(2);
    expect(own.err()).toContain(`marteau-tui: ${rel('own.ini')}:4:1: [vaurien] behavior: unknown behavior "dealy"`);
    const child = runCli(['proxy', '--config', rel('child.ini')]);
    expect(await child.exited).toBe(2);
    expect(child.err()).toContain(`marteau-tui: ${rel('base.ini')}:2:1: \${NO_SUCH_VARIABLE_HERE}: no such environment variable`);
  });

  it('refuses a Python [behavior:NAME] callable with the file and line, exit 2', async () => {
    const file = path.join(dir, 'custom.ini');
    await writeFile(file, '[vaurien]\nbackend = 127.0.0.1:1\n\n[behavior:slow]\ncallable = mypkg.behaviors:Slow\n');
    const cli = runCli(['proxy', '--config', file]);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain(`${file}:5:1: [behavior:slow] callable = mypkg.behaviors:Slow: Vaurien's Python behaviors cannot run here`);
  });
});

describe("toxiproxy-server's -config proxies.json", () => {
  it('creates the listed proxies at start, serves the API on -host/-port, honours enabled: false', async () => {
    const [a, b, apiPort] = [await freePort(), await freePort(), await freePort()];
    const file = path.join(dir, 'proxies.json');
    await writeFile(file, JSON.stringify([
      { name: 'web', listen: `127.0.0.1:${a}`, upstream: `127.0.0.1:${web.port}`, enabled: true },
      { name: 'spare', listen: `localhost:${b}`, upstream: `127.0.0.1:${web.port}`, enabled: false },
    ]));
    const cli = runCli(['proxy', '-config', file, '-host', '127.0.0.1', '-port', String(apiPort), '--interval', '60000']);
    try {
      await cli.waitFor(/api listening on/, { timeoutMs: 60_000 });
      expect((await get(a)).status).toBe(200);
      expect(await connects(b)).toBe(false);
      const proxies = await (await fetch(`http://127.0.0.1:${apiPort}/proxies`)).json() as Record<string, { listen: string; enabled: boolean }>;
      expect(proxies.spare).toMatchObject({ listen: `localhost:${b}`, enabled: false });
      expect(proxies.web).toMatchObject({ listen: `127.0.0.1:${a}`, enabled: true });
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('matches field names without regard to case, as Go does, and names an ignored near miss', async () => {
    const [a, apiPort] = [await freePort(), await freePort()];
    const file = path.join(dir, 'cased.json');
    const text = JSON.stringify([{ Name: 'web', Listen: `127.0.0.1:${a}`, UPSTREAM: `127.0.0.1:${web.port}`, enabeld: false }]);
    await writeFile(file, text);
    const cli = runCli(['proxy', '-config', file, '-host', '127.0.0.1', '-port', String(apiPort), '--interval', '60000']);
    try {
      await cli.waitFor(/api listening on/, { timeoutMs: 60_000 });
      expect((await get(a)).status).toBe(200);
      expect(cli.err()).toContain(`${file}:1:${text.indexOf('"enabeld"') + 1}: proxy 1 (web): "enabeld" is not a Toxiproxy field, ignored; did you mean "enabled"?`);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('says where a JSON syntax error is, exit 2', async () => {
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '[\n  {"name": "x",}\n]\n');
    const cli = runCli(['proxy', '-config', file]);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain(`${file}:2:16: JSON syntax: unexpected "}", expected a "quoted" key`);
  });

  it('names a missing required field and its likely misspelling at its line, exit 2 without a stack trace', async () => {
    const file = path.join(dir, 'typo.json');
    await writeFile(file, '[\n  {"name": "web", "upstream": "127.0.0.1:6379"},\n  {"name": "redis", "listen": "127.0.0.1:0",\n   "upstrem": "127.0.0.1:6379"}\n]\n');
    const cli = runCli(['proxy', '-config', file]);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain(`${file}:4:4: proxy 2 (redis): missing required field "upstream"\n  hint: did you mean "upstream" where the file has "upstrem"?`);
    expect(cli.err()).not.toMatch(/internal error|\n\s+at /);
  });

  // toxiproxy-server logs such an entry and goes on without it; the API's populate says "bad
  // request body" or Go's bind error (status 500). A file is the user's to fix, as a YAML one:
  // its line, the flags' words, exit 2, nothing left listening.
  it('says a bad, taken or foreign listen address and a bad upstream at their line, exit 2', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const busy = (taken.address() as net.AddressInfo).port;
    const free = await freePort();
    const cases: [string, string, string][] = [
      ['bad-listen', `"127.0.0.1:99999", "upstream": "127.0.0.1:${web.port}"`, `:3:27: proxy 2 (b): listen: "127.0.0.1:99999": port 99999 is over 65535`],
      ['zero-upstream', `"127.0.0.1:0", "upstream": "127.0.0.1:0"`, `:3:54: proxy 2 (b): upstream: "127.0.0.1:0": port 0 is not a server's port`],
      ['taken', `"127.0.0.1:${busy}", "upstream": "127.0.0.1:${web.port}"`, `:3:27: proxy 2 (b): 127.0.0.1:${busy} is already in use; pick another port or stop what listens there`],
      ['foreign', `"192.0.2.1:0", "upstream": "127.0.0.1:${web.port}"`, `:3:27: proxy 2 (b): cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine`],
    ];
    try {
      for (const [name, second, said] of cases) {
        const file = path.join(dir, `${name}.json`);
        await writeFile(file, `[\n  {"name": "a", "listen": "127.0.0.1:${free}", "upstream": "127.0.0.1:${web.port}"},\n  {"name": "b", "listen": ${second}}\n]\n`);
        const cli = runCli(['proxy', '-config', file, '-port', String(await freePort())]);
        expect(await cli.exited, name).toBe(2);
        expect(cli.err(), name).toContain(`marteau-tui: ${file}${said}`);
        expect(cli.err(), name).not.toMatch(/bad request body|bind:|\n\s+at /);
        expect(await connects(free), name).toBe(false);
      }
    } finally {
      taken.close();
    }
  });
});
