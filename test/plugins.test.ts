/**
 * Behavior plugins loaded from `plugins:` in a proxies config, in a running `marteau-tui proxy`:
 * the example plugin of fixtures/plugins works on real traffic, broken plugins are clear errors at
 * load time naming their file, a throwing hook fails only its exchange, and the public plugin API
 * is importable as `marteau-tui/plugin`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProxiesFile } from '../src/config/proxies.js';
import { runCli, startApi } from './helpers/cli.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { startHttpServer } from './helpers/http-server.js';
import { buildRegistry } from '../behaviors/index.js';

const FIXTURES = path.resolve('fixtures/plugins');
let web: Awaited<ReturnType<typeof startHttpServer>>;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let dir: string;

beforeAll(async () => {
  web = await startHttpServer();
  echo = await startEchoServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-plugins-'));
});
afterAll(async () => {
  await web.close();
  await echo.close();
});

/** A config in a temp dir whose plugin paths are relative to it, as users write them. */
async function config(name: string, plugins: string[], proxies: string): Promise<string> {
  const file = path.join(dir, `${name}.yml`);
  const list = plugins.map((p) => `  - ${path.relative(dir, p)}\n`).join('');
  await writeFile(file, `plugins:\n${list}proxies:\n${proxies}`);
  return file;
}

const httpProxy = (behaviors: string) => `  web:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:${web.port}\n    protocol: http\n    behaviors: ${behaviors}\n`;
const REQ = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
const statuses = (b: Buffer) => [...b.toString().matchAll(/HTTP\/1.1 (\d+)/g)].map((m) => m[1]);
/** For exchange(): the reply holds `n` responses' status lines (read until then, up to 10 s). */
const responses = (n: number) => ({ until: (b: Buffer) => statuses(b).length >= n, timeoutMs: 10_000 });

async function proxyPort(url: string, name: string): Promise<number> {
  const p = await fetch(`${url}/proxies/${name}`).then((r) => r.json()) as { listen: string };
  return Number(p.listen.split(':').pop());
}

describe('plugins', () => {
  it('runs the example plugin (fixtures/plugins/match-error.js) on live traffic, as a mix and as a toxic', async () => {
    const file = await config('example', [path.join(FIXTURES, 'match-error.js')], httpProxy('{match_error: {percent: 100, match: /checkout, every: 2}}'));
    const api = await startApi(['--config', file]);
    const port = await proxyPort(api.url, 'web');
    const r = await exchange(port, REQ('/checkout') + REQ('/checkout') + REQ('/home') + REQ('/checkout') + REQ('/checkout'), responses(5));
    expect(statuses(r.reply)).toEqual(['200', '503', '200', '200', '503']);
    const names = (await fetch(`${api.url}/behaviors`).then((x) => x.json()) as { behaviors: string[] }).behaviors;
    expect(names).toContain('match_error');
    // The same plugin as a toxic over the Toxiproxy routes.
    await fetch(`${api.url}/vaurien/web/behavior`, { method: 'PUT', body: JSON.stringify({ name: 'dummy' }) });
    const t = await fetch(`${api.url}/proxies/web/toxics`, { method: 'POST', body: JSON.stringify({ type: 'match_error', attributes: { match: '/home' } }) });
    expect(await t.json()).toMatchObject({ name: 'match_error_downstream', attributes: { match: '/home', every: 1 } });
    expect(statuses((await exchange(port, REQ('/home') + REQ('/x'), responses(2))).reply)).toEqual(['503', '200']);
    // Its `check` refuses a kind the proxy's protocol has not, as the built-in error does.
    const bad = await fetch(`${api.url}/proxies/web/toxics`, { method: 'POST', body: JSON.stringify({ type: 'match_error', name: 'k', attributes: { kind: 'LOADING' } }) });
    expect({ status: bad.status, body: await bad.json() }).toEqual({ status: 400, body: {
      status: 400, error: 'bad request body: attribute kind: http has no error kind "LOADING", redis has: is the proxy\'s protocol right? (http kinds: 429, 500, 502, 503, 504, or any other status from 400 to 599)' } });
    expect(await api.stop()).toBe(0);
  });

  it("checks a plugin's options against the proxy's protocol at the config's line", async () => {
    const file = await config('kind', [path.join(FIXTURES, 'match-error.js')], httpProxy('{match_error: {percent: 100, kind: 502}}')
      + `  cache:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:1\n    protocol: redis\n    behaviors: {match_error: {percent: 100, kind: 502}}\n`);
    await expect(loadProxiesFile(file, buildRegistry())).rejects.toThrow(
      `${file}:13:51: proxies.cache.behaviors.match_error.kind: behavior "match_error": option "kind": redis has no error kind "502", http has: is the proxy's protocol right? (redis kinds: LOADING,`);
  });

  it('isolates a throwing hook and a malformed action to the exchange they broke', async () => {
    const file = await config('buggy', [path.join(FIXTURES, 'throwing-hook.js'), path.join(FIXTURES, 'broken/bad-action.js')], httpProxy('"100:buggy"')
      + `  bad:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:${web.port}\n    protocol: http\n    behaviors: "100:bad_action"\n`);
    const api = await startApi(['--config', file]);
    const port = await proxyPort(api.url, 'web');
    const r = await exchange(port, REQ('/a') + REQ('/b') + REQ('/c') + REQ('/d'), responses(4));
    expect(statuses(r.reply)).toEqual(['200', '503', '200', '503']);
    // The proxy goes on: a new connection works.
    expect(statuses((await exchange(port, REQ('/e'), responses(1))).reply)).toEqual(['200']);
    expect(statuses((await exchange(await proxyPort(api.url, 'bad'), REQ('/f'), responses(1))).reply)).toEqual(['503']);
    const stats = await fetch(`${api.url}/marteau/proxies/web/stats`).then((x) => x.json()) as { behaviors: Record<string, number> };
    expect(stats.behaviors.plugin_error).toBe(2);
    await api.waitFor(/behavior "bad_action" failed on connection 1: returned an invalid action .*ms must be a number/, { stream: 'err' });
    expect(api.err()).toContain('behavior "buggy" failed on connection 1: bug in the buggy plugin');
    expect(api.err()).toContain('behavior "buggy" failed on connection 2: bug in onConnection');
    expect(await api.stop()).toBe(0);
  });

  it.each([
    ['missing-name.js', 'the behavior has no `name`'],
    ['bad-schema.js', 'behavior "bad_schema": `options` must be a zod object schema'],
    ['no-default.js', 'behavior "no_default": option "ms" has no default'],
    ['fixed-alone.js', 'behavior "fixed_alone": `fixed` stands for what `onExchange` returns, and there is no `onExchange`'],
    ['bad-check.js', 'behavior "bad_check": `check` must be a function'],
    ['clash.js', 'the name "delay" is already taken by a built-in behavior; pick another name'],
    ['throws.js', 'it threw while being imported'],
    ['syntax.js', `syntax error at ${path.join(FIXTURES, 'broken', 'syntax.js')}:6:35: Unexpected token ';'`],
    ['does-not-exist.js', 'cannot read it: no such file; paths are relative to the config file'],
  ])('refuses a broken plugin (%s) at load time, pointing at the entry and naming the file', async (name, problem) => {
    const plugin = path.join(FIXTURES, 'broken', name);
    const file = await config(`broken-${name}`, [plugin], httpProxy('"10:delay"'));
    await expect(loadProxiesFile(file, buildRegistry())).rejects.toThrow(`${file}:2:5: plugins.0: plugin ${plugin}: ${problem}`);
  });

  it('exits 2 on a broken plugin, with the error and no stack trace', async () => {
    const plugin = path.join(FIXTURES, 'broken', 'throws.js');
    const file = await config('broken-cli', [plugin], httpProxy('"10:delay"'));
    const cli = runCli(['proxy', '--config', file]);
    expect({ code: await cli.exited, err: cli.err() }).toMatchObject({ code: 2 });
    expect(cli.err()).toContain(`${file}:2:5: plugins.0: plugin ${plugin}: it threw while being imported (at ${plugin}:2:7): cannot initialise: missing FOO_URL`);
    expect(cli.err()).toContain('hint: see behaviors/README.md');
    expect(cli.err()).not.toMatch(/\n\s+at /);
  });

  it('reloads an edited plugin with --watch, and refuses to drop one still in use', async () => {
    const lib = pathToFileURL(path.resolve('dist/src/proxy/plugin.js')).href;
    const plugin = path.join(dir, 'live.js');
    const version = (action: string) => `import { act, defineBehavior, z } from '${lib}';\nexport default defineBehavior({ name: 'live', description: 'edited live', options: z.object({}), onExchange: () => ${action} });\n`;
    await writeFile(plugin, version('act.forward()'));
    const file = await config('live', [plugin], `  echo:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:${echo.port}\n    behaviors: "100:live"\n`);
    const api = await startApi(['--config', file, '--watch']);
    const port = await proxyPort(api.url, 'echo');
    expect((await exchange(port, 'hi', { want: 2 })).reply.toString()).toBe('hi');
    const tmp = `${plugin}.tmp`;
    await writeFile(tmp, version('act.close()'));
    await rename(tmp, plugin);
    await api.waitFor(/config reloaded from .*: no proxy changed/);
    const closed = await exchange(port, 'hi', { want: 2 });
    expect(closed.closed).toBe(true);
    expect(closed.reply.length).toBe(0);
    // Removing the plugin while the mix uses it: not applied, said why.
    await writeFile(file, `proxies:\n  echo:\n    listen: 127.0.0.1:0\n    upstream: 127.0.0.1:${echo.port}\n    behaviors: "100:live"\n`);
    await api.waitFor(/config not applied[^]*unknown behavior "live"/, { stream: 'err' });
    expect(await api.stop()).toBe(0);
  });

  it("exports the plugin API as 'marteau-tui/plugin' and the CLI as 'marteau-tui'", async () => {
    const script = "const p = await import('marteau-tui/plugin'); const c = await import('marteau-tui'); console.log(Object.keys(p).sort().join(','), typeof c.main);";
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: path.resolve('.') });
    expect(stdout.trim()).toBe('MAX_TIMER_MS,act,checkErrorKind,defineBehavior,durationOption,errorKindOption,toxic,z function');
  });
});
