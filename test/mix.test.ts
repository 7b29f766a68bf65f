import { describe, expect, it } from 'vitest';
import { draw, MixError, parseMix } from '../src/proxy/mix.js';
import { seededRandom } from '../src/proxy/random.js';
import { defaultRegistry } from '../behaviors/index.js';
import { act, defineBehavior, z, type ExchangeContext } from '../src/proxy/plugin.js';
import { guardBehavior } from '../src/proxy/plugins.js';
import { PROTOCOL_NAMES } from '../src/proxy/protocol.js';
import { protocolInfo } from '../src/proxy/protocols/index.js';
import { compileToxic, ToxicError } from '../src/proxy/toxics.js';

describe('mix', () => {
  it('reads the Vaurien form and the map form the same way', () => {
    const a = parseMix('20:delay,10:blackout', defaultRegistry);
    const b = parseMix({ delay: 20, blackout: 10 }, defaultRegistry);
    expect(a.text).toBe('20:delay,10:blackout');
    expect(b.text).toBe(a.text);
    expect(a.entries.map((e) => [e.behavior.name, e.percent])).toEqual([['delay', 20], ['blackout', 10], ['dummy', 70]]);
  });

  it('applies option defaults and validates options', () => {
    const m = parseMix({ delay: { percent: 5, sleep: 0.3 } }, defaultRegistry);
    expect(m.entries[0].options).toEqual({ sleep: 0.3, before: true });
    expect(() => parseMix({ delay: { percent: 5, sleep: -1 } }, defaultRegistry)).toThrow(/option "sleep"/);
    expect(() => parseMix({ delay: { percent: 5, slep: 1 } }, defaultRegistry)).toThrow(/has no option "slep"; did you mean "sleep"\? Known options: sleep, before/);
  });

  it('refuses unknown names, bad syntax and totals over 100 % with the spot', () => {
    expect(() => parseMix('20:delya', defaultRegistry)).toThrow(/unknown behavior "delya"; did you mean "delay"\? Known behaviors: abort, bandwidth/);
    expect(() => parseMix('delay:20', defaultRegistry)).toThrow(/"delay:20" is not PERCENT:NAME/);
    expect(() => parseMix('60:delay,50:error', defaultRegistry)).toThrow(/add up to 110 %/);
    try {
      parseMix('10:delay,5:oops', defaultRegistry);
    } catch (e) {
      expect((e as MixError).path).toEqual([1]);
    }
  });

  it('an explicit dummy is allowed (Vaurien crashed on it)', () => {
    expect(parseMix('10:dummy,20:error', defaultRegistry).text).toBe('20:error');
  });

  it('draws each behavior at its share, replayably with a seed', () => {
    const m = parseMix('25:delay,10:error', defaultRegistry);
    const counts = (seed: number) => {
      const r = seededRandom(seed);
      const c: Record<string, number> = {};
      for (let i = 0; i < 100_000; i++) {
        const n = draw(m, r).behavior.name;
        c[n] = (c[n] ?? 0) + 1;
      }
      return c;
    };
    const c = counts(1);
    expect(c.delay / 1000).toBeCloseTo(25, 0);
    expect(c.error / 1000).toBeCloseTo(10, 0);
    expect(counts(1)).toEqual(c);
    expect(counts(2)).not.toEqual(c);
  });

  it('keeps the draws a seed gave in earlier versions, so that a journaled seed still replays its faults', () => {
    // Printed by seededRandom as it was before its state moved into an Int32Array (session 16).
    const before: [number | string, number[]][] = [
      [1, [0.3065799742471427, 0.18883207882754505, 0.32219586498104036, 0.5991508581209928, 0.37614654330536723, 0.4409670331515372]],
      ['replay-7', [0.5062812203541398, 0.6888048860710114, 0.7746160118840635, 0.02883059228770435, 0.8740467610768974, 0.80522565334104]],
    ];
    for (const [seed, draws] of before) {
      const r = seededRandom(seed);
      expect(Array.from({ length: draws.length }, () => r())).toEqual(draws);
    }
  });

  it('asks a behavior once per mix for the actions its options fix, and they are what its hook returns', () => {
    const ctx = { state: new Map() } as unknown as ExchangeContext;
    const m = parseMix({ error: { percent: 10, kind: 'BUSY' }, delay: { percent: 10, sleep: 0.25, before: false } }, defaultRegistry);
    for (const e of m.entries.slice(0, 2)) expect(e.fixed).toEqual([e.behavior.onExchange!(ctx, e.options)]);
    expect(m.entries[0].fixed).toEqual([act.error('BUSY')]);
    // A warmup is counted per exchange: nothing fixed, the hook runs.
    expect(parseMix({ error: { percent: 10, warmup: 3 } }, defaultRegistry).entries[0].fixed).toBeUndefined();
    expect(parseMix('10:latency', defaultRegistry).entries[0].fixed).toBeUndefined();
  });

  it("checks error kinds against the proxy's protocol, in mixes and toxics alike", () => {
    const redis = { protocol: protocolInfo('redis') };
    let caught: unknown;
    try {
      parseMix({ delay: 5, transient: { percent: 10, kind: 'loading' } }, defaultRegistry, redis);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(MixError);
    expect((caught as MixError).message).toBe('behavior "transient": option "kind": redis has no error kind "loading"; did you mean "LOADING"? (redis kinds: LOADING, ERR, READONLY, OOM, BUSY, MASTERDOWN, MISCONF, NOAUTH, NOSCRIPT, TRYAGAIN, CLUSTERDOWN)');
    expect((caught as MixError).path).toEqual(['transient', 'kind']);
    // A kind that is no word at all: no guess, the list.
    expect(() => parseMix({ fail_first: { percent: 100, kind: '?' } }, defaultRegistry, redis)).toThrow(/has no error kind "\?" \(redis kinds: /);
    expect(() => compileToxic({ type: 'error', attributes: { kind: '57P01' } }, defaultRegistry, protocolInfo('mysql')))
      .toThrow(new ToxicError(`bad request body: attribute kind: mysql has no error kind "57P01", postgres has: is the proxy's protocol right? (mysql kinds: ${protocolInfo('mysql').errorKinds.join(', ')})`));
    // Every kind a protocol lists is accepted by each behavior that takes one.
    for (const name of PROTOCOL_NAMES) {
      for (const kind of protocolInfo(name).errorKinds) {
        for (const b of ['error', 'transient', 'fail_first']) parseMix({ [b]: { percent: 10, kind } }, defaultRegistry, { protocol: protocolInfo(name) });
      }
    }
    // YAML reads `kind: 503` as a number: the status all the same, down to the action.
    expect(parseMix({ error: { percent: 10, kind: 503 } }, defaultRegistry, { protocol: protocolInfo('http') }).entries[0].fixed).toEqual([act.error('503')]);
  });

  it('refuses a plugin whose fixed actions are malformed, naming the behavior and its place', () => {
    const bad = guardBehavior(defineBehavior({
      name: 'nan_delay', description: '', options: z.object({}),
      onExchange: () => act.delay(1),
      fixed: () => act.delay(Number.NaN),
    }));
    const registry = new Map([...defaultRegistry, [bad.name, bad]]);
    let err: unknown;
    try {
      parseMix('5:delay,10:nan_delay', registry);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MixError);
    expect((err as MixError).message).toMatch(/^behavior "nan_delay": fixed\(\): returned an invalid action .*ms must be a number/);
    expect((err as MixError).path).toEqual([1]);
  });

  it('keeps a behavior\'s per-proxy state across a mix change with the same options only', () => {
    const a = parseMix({ error: { percent: 10, warmup: 5 } }, defaultRegistry);
    a.entries[0].state.set('seen', 3);
    expect(parseMix({ error: { percent: 50, warmup: 5 } }, defaultRegistry, { previous: a }).entries[0].state.get('seen')).toBe(3);
    expect(parseMix({ error: { percent: 50, warmup: 6 } }, defaultRegistry, { previous: a }).entries[0].state.get('seen')).toBeUndefined();
  });
});
