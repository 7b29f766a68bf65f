/**
 * The control plane's small pieces in-process: JSON error positions, guards, the plugin action
 * guard, and Control's Toxiproxy semantics on a ProxySet without HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Control } from '../src/proxy/api/control.js';
import { ControlError } from '../src/proxy/api/control-errors.js';
import { checkToken, crossOrigin, foreignHost, isLoopback, sameSecret } from '../src/proxy/api/guard.js';
import { JsonSyntaxError, parseJson } from '../src/proxy/api/json.js';
import { act, defineBehavior, z } from '../src/proxy/plugin.js';
import { guardBehavior } from '../src/proxy/plugins.js';
import { ProxySet } from '../src/proxy/proxy-set.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { buildRegistry } from '../behaviors/index.js';

describe('JSON bodies', () => {
  it.each([
    ['{"a": }', 1, 7, 'unexpected "}", expected a value'],
    ['{"a": 1,\n  "b" 2}', 2, 7, 'expected ":" after the key'],
    ['[1, 2', 1, 6, 'unexpected end of body, expected "," or "]"'],
    ['{"a": "x\ny"}', 1, 9, 'control character in a string'],
    ['{"a": tru}', 1, 7, 'expected a value'],
    ['{} {}', 1, 4, 'after the JSON value'],
    ['{"a": 01}', 1, 8, 'unexpected "1"'],
    ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]', 1, 66, 'nested deeper than 64 levels'],
  ])('locates the error in %j', (text, line, column, reason) => {
    try {
      parseJson(text);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(JsonSyntaxError);
      expect(e).toMatchObject({ line, column });
      expect((e as Error).message).toContain(reason);
    }
  });

  it('parses valid JSON like JSON.parse', () => {
    for (const t of ['{"a": [1, -2.5e3, true, false, null, "\\u00e9\\n"]}', '"x"', '0', '[]']) expect(parseJson(t)).toEqual(JSON.parse(t));
  });
});

describe('guards', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'api.localhost']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1']) expect(isLoopback(h)).toBe(false);
  });

  it('spots cross-origin requests and foreign Host headers', () => {
    expect(crossOrigin({})).toBeUndefined();
    expect(crossOrigin({ 'sec-fetch-site': 'none' })).toBeUndefined();
    expect(crossOrigin({ origin: 'http://127.0.0.1:8474', host: '127.0.0.1:8474' })).toBeUndefined();
    expect(crossOrigin({ origin: 'http://evil.example', host: '127.0.0.1:8474' })).toBe('Origin: http://evil.example');
    expect(crossOrigin({ 'sec-fetch-site': 'cross-site' })).toBe('Sec-Fetch-Site: cross-site');
    expect(foreignHost({ host: 'localhost:8474' }, '127.0.0.1')).toBeUndefined();
    expect(foreignHost({ host: 'evil.example' }, '127.0.0.1')).toBe('evil.example');
  });

  it('checks tokens in constant time from any accepted place', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abcd')).toBe(false);
    expect(() => checkToken('t', { authorization: 'Bearer t' }, undefined)).not.toThrow();
    expect(() => checkToken('t', { authorization: `Basic ${Buffer.from('user:t').toString('base64')}` }, undefined)).not.toThrow();
    expect(() => checkToken('t', {}, 't')).not.toThrow();
    expect(() => checkToken('t', {}, undefined)).toThrow(expect.objectContaining({ status: 401 }));
    expect(() => checkToken('t', { authorization: 'Bearer u' }, undefined)).toThrow(expect.objectContaining({ status: 403 }));
  });
});

describe('plugin action guard', () => {
  it('turns a malformed action into a hook failure, passes good ones', async () => {
    const make = (r: unknown) => guardBehavior(defineBehavior({ name: 'p', description: '', options: z.object({}), onExchange: () => r as never }));
    const ctx = {} as never;
    expect(() => make({ type: 'delay', ms: Number.NaN, stream: 'upstream' }).onExchange!(ctx, {})).toThrow(/ms must be a number/);
    expect(() => make({ type: 'delay', ms: 1e12, stream: 'upstream' }).onExchange!(ctx, {})).toThrow(/ms must be a number/);
    expect(() => make({ type: 'teleport' }).onExchange!(ctx, {})).toThrow(/unknown action type "teleport"/);
    expect(() => make([act.forward(), { type: 'throttle', bytesPerSecond: 0, stream: 'downstream' }]).onExchange!(ctx, {})).toThrow(/bytesPerSecond/);
    await expect(make(Promise.resolve({ type: 'corrupt', bytes: -1, stream: 'downstream' })).onExchange!(ctx, {})).rejects.toThrow(/bytes/);
    expect(make(act.delay(5)).onExchange!(ctx, {})).toEqual(act.delay(5));
    expect(make(undefined).onExchange!(ctx, {})).toBeUndefined();
  });
});

describe('Control', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let set: ProxySet;
  let control: Control;
  beforeAll(async () => {
    echo = await startEchoServer();
    const registry = buildRegistry();
    set = new ProxySet(registry);
    control = new Control(set, registry);
  });
  afterAll(async () => {
    await set.close(0);
    await echo.close();
  });

  it('serialises structural changes: concurrent creates of one name give one proxy and one 409', async () => {
    const spec = { name: 'same', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` };
    const results = await Promise.allSettled([control.create(spec), control.create(spec), control.create(spec)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as ControlError);
    expect(errors.map((e) => [e.status, e.message])).toEqual([[409, 'proxy already exists'], [409, 'proxy already exists']]);
    await control.remove('same');
  });

  it('keeps a proxy that cannot move to a busy address where it was', async () => {
    const a = await control.create({ name: 'a', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
    const b = await control.create({ name: 'b', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
    a.addToxic({ type: 'latency', attributes: { latency: 1 } });
    await expect(control.update('a', { listen: b.listenAddress })).rejects.toMatchObject({ status: 500, message: `listen tcp ${b.listenAddress}: bind: address already in use` });
    expect(control.get('a')).toBe(a);
    expect((await exchange(a.port, 'still', { want: 5 })).reply.toString()).toBe('still');
    await control.remove('a');
    await control.remove('b');
  });

  it('sets mix and toxics atomically, or not at all', async () => {
    const p = await control.create({ name: 'chaos', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
    await control.setChaos('chaos', { mix: '10:error', toxics: [{ type: 'latency', attributes: { latency: 1 } }] });
    expect(p.describe()).toBe('10:error +latency');
    await expect(control.setChaos('chaos', { mix: '20:delay', toxics: [{ type: 'nope' }] })).rejects.toMatchObject({ status: 400, where: 'toxics.0' });
    expect(p.describe()).toBe('10:error +latency');
    await control.remove('chaos');
  });
});
