/**
 * `marteau-tui proxy` on bad input: each mistake is named where it was made (the flag as typed,
 * or file:line:col with the other proxy involved), in words, with exit 2 and no stack trace; and
 * a proxies file with no proxy stops at once unless something can add proxies later.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { freePort } from './helpers/net.js';
import { saveAsEditor } from './helpers/editor-save.js';

let dir: string;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-proxy-input-'));
  echo = await startEchoServer();
});
afterAll(async () => { await echo.close(); });

async function file(name: string, text: string): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, text);
  return f;
}

/** Run to its end: exit code and stderr, which must hold neither a stack trace nor zod's wording. */
async function fails(args: string[]): Promise<{ code: number; err: string }> {
  const cli = runCli(['proxy', ...args, '--interval', '60000']);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
  const code = await cli.exited;
  clearTimeout(timer);
  const err = cli.err();
  expect(err).not.toMatch(/\n\s+at |internal error|Too small|Too big|Invalid input/);
  expect(cli.out()).not.toContain('listening');
  return { code, err };
}

const UPSTREAM = () => `127.0.0.1:${echo.port}`;

describe('marteau-tui proxy: bad input', () => {
  it('--statsd with port 0 names --statsd, in words (not --statsd-prefix, not zod)', async () => {
    const r = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '--statsd', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('marteau-tui: --statsd: port 0 is not a port a statsd server listens on; give its port, e.g. --statsd 127.0.0.1:8125\n');
    const p = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '--statsd', '127.0.0.1:8125', '--statsd-prefix', 'a b']);
    expect(p.code).toBe(2);
    expect(p.err).toContain('marteau-tui: --statsd-prefix: "a b" has other characters than letters, digits, _ . and -');
  });

  it('a misspelt --protocol or --pin gets did you mean, as in a config file; a word near none the choices', async () => {
    const protocol = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '--protocol', 'htpt']);
    expect(protocol).toEqual({
      code: 2,
      err: "error: option '-p, --protocol <name>' argument 'htpt' is invalid. Did you mean \"http\"? (choices: tcp, http, redis, memcache, mysql, postgres, smtp)\n(run with --help for usage)\n",
    });
    expect((await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '-p', 'Redis'])).err).toContain('Did you mean "redis"?');
    const pin = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '--pin', 'conection']);
    expect(pin.code).toBe(2);
    expect(pin.err).toContain('\'conection\' is invalid. Did you mean "connection"? (choices: exchange, connection)');
    const far = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '-p', 'banana']);
    expect(far).toEqual({ code: 2, err: "error: option '-p, --protocol <name>' argument 'banana' is invalid. Allowed choices are tcp, http, redis, memcache, mysql, postgres, smtp.\n(run with --help for usage)\n" });
    // What the config file says for the same word.
    const cfg = await fails(['-c', await file('htpt.yml', `proxies:\n  p:\n    listen: 127.0.0.1:0\n    upstream: ${UPSTREAM()}\n    protocol: htpt\n`)]);
    expect(cfg.code).toBe(2);
    expect(cfg.err).toContain('; did you mean "http"?');
  });

  it('a listen or --api address this machine does not have, or a name that does not resolve: in words, exit 2', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737), an address no machine here has; .invalid never resolves (RFC 2606).
    const notHere = await fails(['-l', '192.0.2.1:8000', '-u', UPSTREAM()]);
    expect(notHere).toEqual({ code: 2, err: 'marteau-tui: proxy "tcp": cannot listen on 192.0.2.1:8000: 192.0.2.1 is not an address of this machine; use 127.0.0.1 (this machine only), 0.0.0.0 (all its addresses) or one it has\n' });
    const noName = await fails(['-l', 'nosuch.invalid:8000', '-u', UPSTREAM()]);
    expect(noName).toEqual({ code: 2, err: 'marteau-tui: proxy "tcp": cannot listen on nosuch.invalid:8000: the host name nosuch.invalid does not resolve; use an address of this machine, e.g. 127.0.0.1\n' });
    const api = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '--api', '192.0.2.1:8474', '--api-token', 't']);
    expect(api).toEqual({ code: 2, err: 'marteau-tui: --api: cannot listen on 192.0.2.1:8474: 192.0.2.1 is not an address of this machine; use 127.0.0.1 (this machine only), 0.0.0.0 (all its addresses) or one it has\n' });
  });

  it("a behavior option out of range is said in words, not zod's, on the command line and in a file", async () => {
    const flag = await fails(['--proxy', '127.0.0.1:0', '--backend', UPSTREAM(), '--behavior', '20:delay', '--behavior-delay-sleep', '-1']);
    expect(flag).toEqual({ code: 2, err: 'marteau-tui: --behavior-delay-sleep: behavior "delay": option "sleep": must be >= 0, got the integer -1\n' });
    const f = await file('negative-sleep.yml', `proxies:\n  a: {listen: 127.0.0.1:0, upstream: ${UPSTREAM()}, behaviors: {delay: {percent: 10, sleep: -1}}}\n`);
    const yml = await fails(['--config', f]);
    expect(yml.code).toBe(2);
    expect(yml.err).toContain(': proxies.a.behaviors.delay.sleep: behavior "delay": option "sleep": must be >= 0, got the integer -1\n');
  });

  it('a --config file that cannot be read says why in words, whichever kind its name gives', async () => {
    for (const name of ['none.yml', 'none.ini', 'none.json']) {
      const f = path.join(dir, name);
      expect(await fails(['--config', f])).toEqual({ code: 2, err: `marteau-tui: ${f}: cannot read the file: no such file\n  hint: check the path given to --config\n` });
    }
    expect(await fails(['--config', dir])).toEqual({ code: 2, err: `marteau-tui: ${dir}: cannot read the file: it is a directory\n  hint: check the path given to --config\n` });
  });

  it('a --statsd host that does not resolve is said once, in words, and the proxy goes on', async () => {
    const cli = runCli(['proxy', '-l', '127.0.0.1:0', '-u', UPSTREAM(), '--statsd', 'nosuch.invalid:8125', '--interval', '60000']);
    try {
      const port = Number((await cli.waitFor(/listening tcp 127\.0\.0\.1:(\d+)/))[1]);
      // Every exchange sends a timing, and every send fails the same way.
      for (let i = 0; i < 5; i++) expect((await exchange(port, 'x', { want: 1 })).reply.toString()).toBe('x');
      await cli.waitFor(/statsd: cannot send/, { stream: 'err' });
      for (let i = 0; i < 5; i++) expect((await exchange(port, 'y', { want: 1 })).reply.toString()).toBe('y');
    } finally {
      expect(await cli.stop()).toBe(0);
    }
    const lines = cli.err().split('\n').filter((l) => l.startsWith('statsd:'));
    expect(lines).toEqual(['statsd: cannot send to nosuch.invalid:8125: the host name nosuch.invalid does not resolve (said once; the proxy goes on, its metrics are dropped)']);
  });

  it('a file with an empty proxies: map exits 2 at its file:line:col with how to fix', async () => {
    const f = await file('empty.yml', 'proxies: {}\n');
    const r = await fails(['--config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`marteau-tui: ${f}:1:10: proxies: no proxy defined\n  hint: add a proxy under proxies:, e.g. proxies: {cache:`);
    expect(r.err).toContain('--api');
    expect(r.err).toContain('--watch');
  });

  it('an empty proxies file with --api waits for proxies created over the API, as toxiproxy-server starts empty', async () => {
    const f = await file('empty-api.yml', 'proxies: {}\n');
    const cli = runCli(['proxy', '--config', f, '--api', '127.0.0.1:0', '--interval', '60000']);
    try {
      const url = (await cli.waitFor(/api listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
      await cli.waitFor(/no proxy yet: waiting for proxies to be created over the API \(POST http:\/\/127\.0\.0\.1:\d+\/proxies\)\n/);
      const res = await fetch(`${url}/proxies`, { method: 'POST', body: JSON.stringify({ name: 'late', listen: '127.0.0.1:0', upstream: UPSTREAM() }) });
      expect(res.status).toBe(201);
      const port = Number(((await res.json()) as { listen: string }).listen.split(':').pop());
      expect((await exchange(port, 'late', { want: 4 })).reply.toString()).toBe('late');
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('an empty proxies file with --watch waits for the file to gain a proxy', async () => {
    const f = await file('empty-watch.yml', 'proxies: {}\n');
    const cli = runCli(['proxy', '--config', f, '--watch', '--interval', '60000']);
    try {
      await cli.waitFor(new RegExp(`no proxy yet: waiting for proxies to be added to ${f.replace(/[.]/g, '\\.')}\n`));
      const port = await freePort();
      await saveAsEditor(f, `proxies:\n  late:\n    listen: 127.0.0.1:${port}\n    upstream: ${UPSTREAM()}\n`);
      await cli.waitFor(/listening late \(tcp\)/, { timeoutMs: 30_000 });
      expect((await exchange(port, 'late', { want: 4 })).reply.toString()).toBe('late');
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('`proxy:` for `proxies:` says which key it meant, not only that proxies: is missing', async () => {
    const f = await file('singular.yml', `proxy:\n  a:\n    listen: 127.0.0.1:0\n    upstream: ${UPSTREAM()}\n`);
    const r = await fails(['--config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: ${f}:1:1: proxy: unknown key "proxy"; did you mean "proxies"?\n  hint: known keys here: proxies, statsd, plugins, api\n`);
  });

  it('a misspelt optional top-level key is reported too; other top-level keys (a .marteau.yml) stay ignored', async () => {
    const f = await file('stastd.yml', `name: shop\nproxies:\n  a:\n    listen: 127.0.0.1:0\n    upstream: ${UPSTREAM()}\nstastd:\n  port: 8125\n`);
    const r = await fails(['--config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: ${f}:6:1: stastd: unknown key "stastd"; did you mean "statsd"?\n  hint: known keys here: proxies, statsd, plugins, api\n`);
  });

  it('--name follows the config files\' rule for a proxy name', async () => {
    const r = await fails(['-l', '127.0.0.1:0', '-u', UPSTREAM(), '--name', 'a/b c']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('marteau-tui: --name: "a/b c" cannot be a proxy name: a proxy name is letters, digits, _ and - (as in a config file), e.g. --name a-b-c\n');
    const f = await file('name.yml', `proxies:\n  "a/b c":\n    listen: 127.0.0.1:0\n    upstream: ${UPSTREAM()}\n`);
    const c = await fails(['--config', f]);
    expect(c.code).toBe(2);
    expect(c.err).toContain('a proxy name is letters, digits, _ and -');
  });

  it('an upstream on port 0 is refused (flag, YAML, Vaurien INI); a listen on port 0 still picks a free port', async () => {
    const r = await fails(['-l', '127.0.0.1:0', '-u', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('marteau-tui: --upstream: "127.0.0.1:0": port 0 is not a server\'s port (0 means "any free port", which only a listen address can ask for); give the port the real server listens on, e.g. --upstream 127.0.0.1:6379\n');
    const y = await file('up0.yml', 'proxies:\n  a:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:0\n');
    const c = await fails(['--config', y]);
    expect(c.code).toBe(2);
    expect(c.err).toContain(`${y}:4:15: proxies.a.upstream: port 0 is not a server's port`);
    const ini = await file('up0.ini', '[vaurien]\nproxy = 127.0.0.1:0\nbackend = 127.0.0.1:0\n');
    const v = await fails(['--config', ini]);
    expect(v.code).toBe(2);
    expect(v.err).toContain(`${ini}:3:1: [vaurien] backend: "127.0.0.1:0": port 0 is not a server's port`);

    const ok = runCli(['proxy', '-l', '127.0.0.1:0', '-u', UPSTREAM(), '--interval', '60000']);
    const port = Number((await ok.waitFor(/listening tcp 127\.0\.0\.1:(\d+)/))[1]);
    expect(port).toBeGreaterThan(0);
    expect(await ok.stop()).toBe(0);
  });

  it('addresses a file cannot hold are file:line errors, not crashes', async () => {
    const y = await file('big.yml', 'proxies:\n  a:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:99999\n');
    const c = await fails(['--config', y]);
    expect(c.code).toBe(2);
    expect(c.err).toContain(`${y}:4:15: proxies.a.upstream: port 99999 is over 65535`);
    const ini = await file('foo.ini', '[vaurien]\nproxy = 127.0.0.1:0\nbackend = foo\n');
    const v = await fails(['--config', ini]);
    expect(v.code).toBe(2);
    expect(v.err).toContain(`${ini}:3:1: [vaurien] backend: "foo" is not host:port`);
  });

  it('two proxies of one file on one listen address: file:line:col at the second, naming the first', async () => {
    const port = await freePort();
    const f = await file('dup.yml', `proxies:\n  a:\n    listen: 127.0.0.1:${port}\n    upstream: ${UPSTREAM()}\n  b:\n    listen: 127.0.0.1:${port}\n    upstream: ${UPSTREAM()}\n`);
    const r = await fails(['--config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: ${f}:6:13: proxies.b.listen: 127.0.0.1:${port} is already the listen address of proxy "a" (line 3); two proxies cannot listen on one port\n`
      + '  hint: give one of them another port (port 0: any free port, printed when it listens)\n');
    // A wildcard takes the port on every address of its family.
    const w = await file('dup-any.yml', `proxies:\n  a:\n    listen: 0.0.0.0:${port}\n    upstream: ${UPSTREAM()}\n  b:\n    listen: 127.0.0.1:${port}\n    upstream: ${UPSTREAM()}\n`);
    expect((await fails(['--config', w])).err).toContain(`${w}:6:13: proxies.b.listen: 127.0.0.1:${port} is already the listen address of proxy "a" (line 3)`);
  });

  it('port 0 twice in one file is two free ports, not a clash', async () => {
    const f = await file('zeros.yml', `proxies:\n  a:\n    listen: 127.0.0.1:0\n    upstream: ${UPSTREAM()}\n  b:\n    listen: 127.0.0.1:0\n    upstream: ${UPSTREAM()}\n`);
    const cli = runCli(['proxy', '--config', f, '--interval', '60000']);
    await cli.waitFor(/listening a .*\n(.*\n)*listening b /);
    expect(await cli.stop()).toBe(0);
  });

  it('on --watch, an edit giving two proxies one address is not applied, with file:line:col naming the other', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const yaml = (b: number) => `proxies:\n  a:\n    listen: 127.0.0.1:${pa}\n    upstream: ${UPSTREAM()}\n  b:\n    listen: 127.0.0.1:${b}\n    upstream: ${UPSTREAM()}\n`;
    const f = await file('dup-watch.yml', yaml(pb));
    const cli = runCli(['proxy', '--config', f, '--watch', '--interval', '60000']);
    try {
      await cli.waitFor(/listening b /);
      await saveAsEditor(f, yaml(pa));
      await cli.waitFor(/config not applied/, { stream: 'err', timeoutMs: 30_000 });
      expect(cli.err()).toContain(`${f}:6:13: proxies.b.listen: 127.0.0.1:${pa} is already the listen address of proxy "a" (line 3)`);
      expect((await exchange(pb, 'kept', { want: 4 })).reply.toString()).toBe('kept');
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('on --watch, a new proxy on the address a running proxy still holds names that proxy', async () => {
    const port = await freePort();
    const f = await file('rename-watch.yml', `proxies:\n  a:\n    listen: 127.0.0.1:${port}\n    upstream: ${UPSTREAM()}\n`);
    const cli = runCli(['proxy', '--config', f, '--watch', '--interval', '60000']);
    try {
      await cli.waitFor(/listening a /);
      await saveAsEditor(f, `proxies:\n  b:\n    listen: 127.0.0.1:${port}\n    upstream: ${UPSTREAM()}\n`);
      await cli.waitFor(/config not applied/, { stream: 'err', timeoutMs: 30_000 });
      expect(cli.err()).toContain(`${f}:3:13: proxies.b.listen: 127.0.0.1:${port} is held by the running proxy "a"`);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it.each([
    ['toxiproxy-server\'s -port', ['-port', '99999'], '-port: port 99999 is over 65535; e.g. -port 8474'],
    ['toxiproxy-server\'s -port, not a number', ['-port', 'http'], '-port: expected a port number, got "http"; e.g. -port 8474'],
    ['Vaurien\'s --http-port', ['--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--http', '--http-port', '99999'], '--http-port: port 99999 is over 65535; e.g. --http-port 8080'],
    ['Vaurien\'s --statsd.port 0', ['--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--statsd.enabled', '--statsd.port', '0'],
      '--statsd.port: port 0 is not a port a statsd server listens on; give its port, e.g. --statsd.port 8125'],
    ['Vaurien\'s --behavior over 100 %', ['--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--behavior', '100:delay,10:error'],
      '--behavior: the percentages add up to 110 %, over 100 %; lower some of them'],
    ['ours, --behaviors over 100 %', ['-l', '127.0.0.1:0', '-u', '127.0.0.1:1', '-b', '100:delay,10:error'],
      '--behaviors: the percentages add up to 110 %, over 100 %; lower some of them'],
  ])('%s: the error names the flag as typed', async (_name, args, expected) => {
    const r = await fails(args);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: ${expected}\n`);
  });
});
