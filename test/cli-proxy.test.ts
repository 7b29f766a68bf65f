import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, startEchoServer } from './helpers/echo.js';
import { freePort } from './helpers/net.js';

const BIN = path.resolve('bin/marteau-tui.js');

function run(args: string[], opts: { until?: RegExp; timeoutMs?: number } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
  /** Once `re` is in the output; a failure after `timeoutMs`, or at once if the process exits first. */
  const waitFor = (re: RegExp, timeoutMs = 10_000) => new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${re} in time; out=${out} err=${err}`)), timeoutMs);
    const check = () => { if (re.test(out)) { clearTimeout(t); resolve(); } };
    child.stdout.on('data', check);
    exited.then(() => { clearTimeout(t); reject(new Error(`exited early; out=${out} err=${err}`)); });
    check();
  });
  const ready = opts.until ? waitFor(opts.until, opts.timeoutMs) : Promise.resolve();
  return { child, exited, ready, waitFor, out: () => out, err: () => err };
}

let dir: string;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-cli-'));
  echo = await startEchoServer();
});
afterAll(async () => { await echo.close(); });

describe('marteau-tui proxy', () => {
  it('runs a proxy from flags, prints counts, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const p = run(['proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${echo.port}`, '--behaviors', '50:delay', '--interval', '100'], { until: /listening/ });
    await p.ready;
    expect(p.out()).toContain(`listening tcp 127.0.0.1:${port} -> 127.0.0.1:${echo.port} mix 50:delay`);
    const r = await exchange(port, 'hello', { want: 5 });
    expect(r.reply.toString()).toBe('hello');
    // The next count line: a fixed 300 ms wait failed when the proxy was off the CPU that long.
    await p.waitFor(/exch 1 /);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.err()).toContain('SIGTERM: closing listeners');
    // The listener is gone.
    expect((await exchange(port, 'x')).error).toBe('ECONNREFUSED');
  });

  it('goes on serving when its output is closed (`| head -1`), and still exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const p = run(['proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${echo.port}`, '--interval', '100'], { until: /listening/ });
    await p.ready;
    // The reader goes away, as `head -1` does: the next line of counts meets EPIPE.
    p.child.stdout.destroy();
    expect((await exchange(port, 'one', { want: 3 })).reply.toString()).toBe('one');
    await new Promise((res) => setTimeout(res, 500));
    expect((await exchange(port, 'two', { want: 3 })).reply.toString()).toBe('two');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.err()).toBe(0);
    expect(p.err()).not.toMatch(/EPIPE|\n\s+at /);
  });

  it('lets an in-flight exchange finish on SIGINT', async () => {
    const port = await freePort();
    const p = run(['proxy', '-l', `127.0.0.1:${port}`, '-u', `127.0.0.1:${echo.port}`, '-b', '100:delay', '--interval', '100'], { until: /listening/ });
    await p.ready;
    const inFlight = exchange(port, 'slow', { want: 4, timeoutMs: 3000 });
    // In flight once its delay is drawn (1 s, the count line's 100 ms apart): after a fixed 200 ms,
    // a proxy kept off the CPU had not yet read it, and the SIGINT closed it unread ('' came back).
    await p.waitFor(/faults delay=1/);
    p.child.kill('SIGINT');
    const r = await inFlight;
    expect(r.reply.toString()).toBe('slow');
    expect(await p.exited).toBe(0);
  });

  it('points at the line of a config error and exits 2 without a stack trace', async () => {
    const file = path.join(dir, 'bad.yml');
    await writeFile(file, 'proxies:\n  redis:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:6379\n    behaviors: "20:delya"\n');
    const p = run(['proxy', '--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(`${file}:5:16: proxies.redis.behaviors.0: unknown behavior "delya"; did you mean "delay"? Known behaviors: abort,`);
    expect(p.err()).toContain('hint:');
    expect(p.err()).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['over 100 %', '    behaviors: "60:delay,50:error"\n', /:5:16: .*add up to 110 %/],
    ['a bad option type', '    behaviors: {delay: {percent: 10, sleep: "slow"}}\n', /:5:\d+: proxies\.redis\.behaviors\.delay\.sleep: behavior "delay": option "sleep": .*number/],
    ['an unknown key', '    behavoirs: 10:error\n', /:5:5: proxies\.redis\.behavoirs: unknown key "behavoirs"; did you mean "behaviors"\?\n  hint: known keys here: listen, upstream,/],
    ['a bad seed', '    seed: [1]\n', /:5:11: proxies\.redis\.seed: a seed is a number or a word, e.g\. seed: 42/],
    // Where the list opened, not the end of the file where the parser missed its "]".
    ['a YAML syntax error', '    behaviors: [oops\n', /:5:16: YAML syntax: the list opened with "\[" here is never closed\n {2}hint: end it with "\]"/],
    ['an error kind the protocol has not', '    protocol: redis\n    behaviors:\n      error: {percent: 10, kind: LOADNG}\n',
      /:7:34: proxies\.redis\.behaviors\.error\.kind: behavior "error": option "kind": redis has no error kind "LOADNG"; did you mean "LOADING"\? \(redis kinds: LOADING, ERR,/],
  ])('reports %s with file:line', async (_name, line, expected) => {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.yml`);
    await writeFile(file, `proxies:\n  redis:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:6379\n${line}`);
    const p = run(['proxy', '--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toMatch(expected);
  });

  it('points at a misspelt required key rather than at the key it leaves missing', async () => {
    const file = path.join(dir, 'typo.yml');
    await writeFile(file, 'proxies:\n  redis:\n    listen: 127.0.0.1:0\n    upstrem: 127.0.0.1:6379\n');
    const p = run(['proxy', '--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toBe(`marteau-tui: ${file}:4:5: proxies.redis.upstrem: unknown key "upstrem"; did you mean "upstream"?\n  hint: known keys here: listen, upstream, protocol, behaviors, pin, seed, max_buffer, max_connections, rewrite_host, tls, upstream_tls\n`);
  });

  it('shows each problem of a file with its line, not just the first', async () => {
    const file = path.join(dir, 'two.yml');
    await writeFile(file, 'proxies:\n  redis:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:6379\n    pin: sometimes\n    max_buffer: lots\n');
    const p = run(['proxy', '--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toMatch(new RegExp(`^marteau-tui: ${file}:5:10: proxies\\.redis\\.pin: .*\n(  hint: .*\n)?${file}:6:17: proxies\\.redis\\.max_buffer: expected a number, got the string "lots"`));
    expect(p.err()).not.toContain('more problem');
  });

  it.each([
    ['a misspelt behavior', ['--behaviors', '10:dealy'], '--behaviors: unknown behavior "dealy"; did you mean "delay"? Known behaviors: abort,'],
    ["an error kind the protocol has not, given with Vaurien's option flag", ['--protocol', 'postgres', '--behaviors', '10:error', '--behavior-error-kind', '503'],
      `--behavior-error-kind: behavior "error": option "kind": postgres has no error kind "503", http has: is the proxy's protocol right? (postgres kinds: `],
    ['a kind on raw tcp', ['--behaviors', '10:fail_first', '--behavior-fail_first-kind', 'LOADING'],
      `--behavior-fail_first-kind: behavior "fail_first": option "kind": tcp has no error kind "LOADING", redis has: is the proxy's protocol right? (raw tcp has no protocol errors`],
  ])('refuses %s on the command line, exit 2', async (_name, flags, expected) => {
    const p = run(['proxy', '-l', '127.0.0.1:0', '-u', '127.0.0.1:1', ...flags]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(`marteau-tui: ${expected}`);
    expect(p.err()).not.toMatch(/\n\s+at /);
  });

  it('says what a file without `proxies:` needs', async () => {
    const file = path.join(dir, 'empty.yml');
    await writeFile(file, 'statsd:\n  port: 8125\n');
    const p = run(['proxy', '--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(`${file}:1:1: missing required key "proxies"\n  hint: e.g. proxies: {cache: {listen:`);
  });

  it('says --interval must be above 0, exit 2', async () => {
    const p = run(['proxy', '-l', '127.0.0.1:0', '-u', '127.0.0.1:1', '--interval', '0']);
    expect(await p.exited).toBe(2);
    expect(p.err()).toBe('marteau-tui: --interval: expected a whole number of milliseconds above 0, got "0"\n');
  });

  it('says a port is in use, exit 2', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const p = run(['proxy', '-l', `127.0.0.1:${port}`, '-u', '127.0.0.1:1']);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(`127.0.0.1:${port} is already in use`);
    blocker.close();
  });

  // A proxies file's other mistakes are said at their line; these named the proxy alone.
  it("a proxies file's listen: taken or not this machine's, at its line, exit 2", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const file = path.join(dir, 'taken.yml');
    for (const [listen, said] of [
      [`127.0.0.1:${port}`, `127.0.0.1:${port} is already in use; pick another port or stop what listens there`],
      ['192.0.2.1:0', 'cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine'],
    ]) {
      await writeFile(file, `proxies:\n  a: {listen: 127.0.0.1:0, upstream: 127.0.0.1:1}\n  b:\n    listen: ${listen}\n    upstream: 127.0.0.1:1\n`);
      const p = run(['proxy', '--config', file]);
      expect(await p.exited, listen).toBe(2);
      expect(p.err(), listen).toContain(`marteau-tui: ${file}:4:13: proxies.b.listen: ${said}`);
    }
    blocker.close();
  });

  // The README: `proxies:` in .marteau.yml or a standalone file. A project's proxies point at its
  // services through references that only a job fills; it said 'expected host:port' of them.
  it("a project's ${MARTEAU_...} upstream given to proxy --config: says only a job fills it, exit 2", async () => {
    const file = path.join(dir, 'project.marteau.yml');
    await writeFile(file, 'name: shop\nproxies:\n  redis: {listen: 127.0.0.1:0, upstream: "${MARTEAU_SERVICE_REDIS}", protocol: redis}\n');
    const p = run(['proxy', '--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(`marteau-tui: ${file}:3:42: proxies.redis.upstream: expected host:port; "\${MARTEAU_SERVICE_REDIS}" is a job's reference, filled in only when the engine runs the file (marteau-tui --ci, enqueue): marteau-tui proxy reads it as written`);
  });

  it('an --api port in use: exit 2, and no proxy was ever said to listen', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const p = run(['proxy', '-l', '127.0.0.1:0', '-u', '127.0.0.1:1', '--api', `127.0.0.1:${port}`]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain(`--api: 127.0.0.1:${port} is already in use`);
    expect(p.out()).not.toContain('listening');
    blocker.close();
  });

  it('runs many proxies from a file', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const file = path.join(dir, 'two.yml');
    await writeFile(file, `proxies:\n  one:\n    listen: 127.0.0.1:${a}\n    upstream: 127.0.0.1:${echo.port}\n  two:\n    listen: 127.0.0.1:${b}\n    upstream: 127.0.0.1:${echo.port}\n    behaviors: {error: 100}\n`);
    const p = run(['proxy', '--config', file, '--interval', '100'], { until: /listening two/ });
    await p.ready;
    expect((await exchange(a, 'ok', { want: 2 })).reply.toString()).toBe('ok');
    expect((await exchange(b, 'ok', { want: 1000 })).reply.length).toBe(1000);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.out()).toMatch(/two \(tcp\) .* faults error=1/);
  });
});
