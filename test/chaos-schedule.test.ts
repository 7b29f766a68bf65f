/**
 * Chaos scenarios, the pure parts: `chaos:` in .marteau.yml (every mistake at its file:line),
 * the schedule compiler (steps, ramps, flaps, stacked fixtures), the player's pause, resume
 * and manual take-over on fake proxies, and what the TUI and the report say about it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseYaml } from '../src/config/errors.js';
import { parseMarteauConfig } from '../src/config/marteau.js';
import { ChaosPlayer, type MixTarget, type ScheduleView } from '../src/core/chaos-player.js';
import { changeReason, type TimelineEvent } from '../src/core/events.js';
import { compileSchedule, type MixChange } from '../src/core/schedule.js';
import { parseMix, type MixSpec } from '../src/proxy/mix.js';
import { defaultRunners } from '../src/runners/index.js';
import { writeReports } from '../src/report/index.js';
import { activeFault, scheduleLine } from '../src/ui/schedule-line.js';
import { removeTemp, temp } from './helpers/projects.js';
import { defaultRegistry } from '../behaviors/index.js';

afterAll(removeTemp);

const FILE = '/proj/.marteau.yml';
const opts = { runners: defaultRunners(writeReports), behaviors: defaultRegistry };
// 3 cycles of 10s with 1s between: the load runs 32s (users start 0.01s apart: 1 user each).
const HEAD = `name: chaos
cycles: [1, 1, 1]
duration: 10
cycle_time: 1
scenario: [{get: /}]
base_url: http://127.0.0.1:1
proxies:
  redis: {listen: 127.0.0.1:0, upstream: 127.0.0.1:6379, protocol: redis, behaviors: "5:delay"}
  api: {listen: 127.0.0.1:0, upstream: 127.0.0.1:8080, protocol: http}
`;
const parse = (text: string, o = opts) => parseMarteauConfig(parseYaml(FILE, text), '/proj', o);
const fail = (text: string, o = opts): ConfigError => {
  try {
    parse(text, o);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
};
/** The line of the first line of `text` that contains `needle` (1-based). */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('chaos: in .marteau.yml', () => {
  it('normalises steps, ramps and flaps, with a run length from the builtin cycles', () => {
    const c = parse(`${HEAD}seed: 42
chaos:
  - {name: redis_blackout, proxy: redis, at: 10s, for: 10s, behaviors: "100:blackout"}
  - {proxy: api, at: 2s, for: 6s, ramp: {behavior: delay, from: 0, to: 60, every: 2s, options: {sleep: 0.2}}}
  - {proxy: api, at: 8s, behaviors: {error: 100}, flap: {on: 1s, off: 500ms}}
`);
    expect(c.seed).toBe(42);
    expect(c.runLength.ms).toBe(32_000);
    expect(c.chaos).toEqual([
      { name: 'redis_blackout', proxy: 'redis', atMs: 10_000, forMs: 10_000, shape: { kind: 'step', behaviors: '100:blackout' } },
      { name: 'api-1', proxy: 'api', atMs: 2000, forMs: 6000, shape: { kind: 'ramp', behavior: 'delay', from: 0, to: 60, everyMs: 2000, options: { sleep: 0.2 } } },
      { name: 'api-2', proxy: 'api', atMs: 8000, forMs: undefined, shape: { kind: 'flap', behaviors: { error: 100 }, onMs: 1000, offMs: 500 } },
    ]);
  });

  const cases: [string, string, string, RegExp][] = [
    ['overlapping steps on one proxy', '  - {proxy: redis, at: 0s, for: 10s, behaviors: "50:delay"}\n  - {proxy: redis, at: 5s, for: 2s, behaviors: "100:blackout"}\n', 'at: 5s', /chaos\.1\.at: overlaps "redis-1" on proxy redis \(0ms–10\.0s and 5\.0s–7\.0s\)[\s\S]*hint: start this one at 10\.0s or later/],
    ['a mix over 100 %', '  - {proxy: redis, at: 1s, behaviors: "60:delay,50:error"}\n', '60:delay', /percentages add up to 110 %, over 100 %/],
    ['a ramp over 100 %', '  - {proxy: api, at: 1s, for: 4s, ramp: {behavior: delay, from: 0, to: 120}}\n', 'ramp:', /chaos\.0\.ramp\.to: must be <= 100, got the integer 120/],
    ['a step past the run', '  - {proxy: redis, at: 30s, for: 5s, behaviors: "100:blackout"}\n', 'at: 30s', /chaos\.0\.for: ends at 35\.0s, past the end of the run \(32\.0s: 3 cycle\(s\) of duration 10s, cycle_time 1s\)/],
    ['a start past the run', '  - {proxy: redis, at: 40s, behaviors: "100:blackout"}\n', 'at: 40s', /chaos\.0\.at: starts at 40\.0s, at or past the end of the run/],
    ['an unknown proxy', '  - {proxy: db, at: 1s, behaviors: "100:blackout"}\n', 'proxy: db', /chaos\.0\.proxy: unknown proxy "db"[\s\S]*hint: proxies declared in this config: redis, api/],
    ['an unknown behavior', '  - {proxy: redis, at: 1s, behaviors: "100:blakout"}\n', 'blakout', /unknown behavior "blakout"/],
    ['a misspelt key', '  - {proxy: redis, at: 1s, behaviours: "100:blackout"}\n', 'behaviours', /unknown key "behaviours"; did you mean "behaviors"\?/],
    ['nothing to do', '  - {proxy: redis, at: 1s, for: 2s}\n', 'proxy: redis', /chaos\.0: say what happens/],
    ['a ramp without for', '  - {proxy: redis, at: 1s, ramp: {behavior: delay, from: 0, to: 50}}\n', 'ramp:', /a ramp needs `for`/],
    ['a flap of 0s', '  - {proxy: redis, at: 1s, behaviors: "100:error", flap: {on: 0s, off: 1s}}\n', 'flap:', /chaos\.0\.flap\.on: must be more than 0/],
  ];
  it.each(cases)('refuses %s, at its line', (_what, entries, needle, message) => {
    const text = `${HEAD}chaos:\n${entries}`;
    const e = fail(text);
    expect(e.message).toMatch(message);
    expect(e.file).toBe(FILE);
    expect(e.line).toBe(lineOf(text, needle));
  });

  it('other runners: times are checked against the timeout', () => {
    const text = `name: c\ncommand: [node, load.js]\ntimeout: 20s\nproxies:\n  db: {listen: 127.0.0.1:0, upstream: 127.0.0.1:1}\nchaos:\n  - {proxy: db, at: 15s, for: 10s, behaviors: "100:blackout"}\n`;
    expect(fail(text).message).toMatch(/ends at 25\.0s, past the end of the run \(20\.0s: timeout 20\.0s\)/);
  });

  it('reads the list from a file of the project, with errors at that file\'s lines', async () => {
    const dir = await temp('chaos-file');
    const list = '# redis goes away\n- {proxy: redis, at: 2s, for: 3s, behaviors: "100:blackout"}\n- {proxy: redis, at: 4s, behaviors: "100:down"}\n';
    await writeFile(path.join(dir, 'chaos.yml'), list);
    const withFile = (text: string) => parseMarteauConfig(parseYaml(path.join(dir, '.marteau.yml'), text), dir, opts);
    let err: unknown;
    try {
      withFile(`${HEAD}chaos: chaos.yml\n`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toBe(path.join(dir, 'chaos.yml'));
    expect((err as ConfigError).line).toBe(3);
    expect((err as ConfigError).message).toMatch(/^.*chaos\.yml:3:\d+: 1\.at: overlaps "redis-1"/);
    await writeFile(path.join(dir, 'chaos.yml'), list.replace('at: 4s', 'at: 5s'));
    expect(withFile(`${HEAD}chaos: chaos.yml\n`).chaos.map((e) => e.atMs)).toEqual([2000, 5000]);
    expect(() => withFile(`${HEAD}chaos: ../elsewhere.yml\n`)).toThrow(/chaos: must be a relative path inside the project/);
    expect(() => withFile(`${HEAD}chaos: missing.yml\n`)).toThrow(/chaos: cannot read missing\.yml: no such file/);
  });
});

describe('compileSchedule', () => {
  const shape = (c: MixChange) => `${c.atMs ?? 'setup'} ${c.proxy} ${c.action} ${c.entry} ${c.spec === undefined ? '(own)' : JSON.stringify(c.spec)} ${c.label}`;
  const compile = (yaml: string) => {
    const c = parse(`${HEAD}${yaml}`);
    return compileSchedule(c.chaos, c.fixtures, c.runLength.ms).map(shape);
  };

  it('a step applies then gives the proxy its own mix back', () => {
    expect(compile('chaos:\n  - {name: b, proxy: redis, at: 10s, for: 10s, behaviors: "100:blackout"}\n')).toEqual([
      '10000 redis apply b "100:blackout" step',
      '20000 redis restore b (own) end of step',
    ]);
  });

  it('a ramp goes from `from` to `to` in `every` steps, the last one lasting until the end', () => {
    expect(compile('chaos:\n  - {name: r, proxy: api, at: 2s, for: 7s, ramp: {behavior: delay, from: 10, to: 70, every: 2s}}\n')).toEqual([
      '2000 api apply r {"delay":{"percent":10}} ramp 10% delay (1/4)',
      '4000 api apply r {"delay":{"percent":30}} ramp 30% delay (2/4)',
      '6000 api apply r {"delay":{"percent":50}} ramp 50% delay (3/4)',
      '8000 api apply r {"delay":{"percent":70}} ramp 70% delay (4/4)',
      '9000 api restore r (own) end of ramp 70% delay (4/4)',
    ]);
  });

  it('a flap without `for` alternates until the run ends', () => {
    const c = compile('chaos:\n  - {name: f, proxy: api, at: 26s, behaviors: "100:error", flap: {on: 2s, off: 1s}}\n');
    expect(c).toEqual([
      '26000 api apply f "100:error" flap on (1/2)',
      '28000 api restore f (own) end of flap on (1/2)',
      '29000 api apply f "100:error" flap on (2/2)',
      '31000 api restore f (own) end of flap on (2/2)',
    ]);
  });

  it('interleaves proxies by time; fixtures stack and uncover what was under them', () => {
    expect(compile(`fixtures:
  around: {proxy: redis, behaviors: "10:error"}
  during: {proxy: redis, behaviors: "100:blackout", at: 1s, for: 2s}
chaos:
  - {name: s, proxy: api, at: 2s, for: 5s, behaviors: "50:delay"}
`)).toEqual([
      'setup redis apply around "10:error" fixture',
      '1000 redis apply during "100:blackout" fixture',
      '2000 api apply s "50:delay" step',
      '3000 redis restore during "10:error" end of fixture',
      '7000 api restore s (own) end of step',
    ]);
  });

  it('is a pure function of the config: compiling twice gives the same list', () => {
    const yaml = 'chaos:\n  - {proxy: api, at: 1s, for: 9s, ramp: {behavior: error, from: 0, to: 100, every: 300ms}}\n  - {proxy: redis, at: 0s, behaviors: "100:fail_first"}\n';
    expect(compile(yaml)).toEqual(compile(yaml));
    expect(compile(yaml)).toHaveLength(32);
  });
});

describe('ChaosPlayer', () => {
  class FakeProxy implements MixTarget {
    readonly options: { behaviors?: MixSpec };
    mix = '';
    readonly reasons: (string | undefined)[] = [];
    constructor(readonly name: string, behaviors?: MixSpec) {
      this.options = { behaviors };
      this.mix = parseMix(behaviors, defaultRegistry).text;
    }
    async setMix(spec: MixSpec, reason?: string): Promise<{ text: string }> {
      this.reasons.push(reason);
      this.mix = parseMix(spec, defaultRegistry).text;
      return { text: this.mix };
    }
  }
  const changes = (): MixChange[] => {
    const c = parse(`${HEAD}timeout: 4h\nchaos:\n  - {name: out, proxy: redis, at: 0s, for: 1h, behaviors: "100:blackout"}\n`.replace('duration: 10', 'duration: 4000'));
    return compileSchedule(c.chaos, c.fixtures, c.runLength.ms);
  };

  it('pause holds the mix, resume brings in what is due, a manual change pauses and is recorded', async () => {
    const redis = new FakeProxy('redis', '5:delay');
    const events: TimelineEvent[] = [];
    const player = new ChaosPlayer(changes(), new Map([['redis', redis]]), (e) => events.push(e), () => {});
    await player.setup();
    player.pause('redis');
    const t0 = Date.now();
    player.start(t0);
    await until(() => player.view()[0].current !== undefined);
    // Due while paused: not applied, but known.
    expect(redis.mix).toBe('5:delay');
    expect(player.view()[0]).toMatchObject({ paused: true, current: { entry: 'out', label: 'step' }, next: { at: t0 + 3_600_000, entry: 'out' }, remaining: 1 });
    await player.resume('redis');
    expect(redis.mix).toBe('100:blackout');
    expect(await player.manual('redis', '30:error')).toBe('30:error');
    expect(player.view()[0]).toMatchObject({ paused: true, manual: true });
    await player.teardown();
    // The hand-set mix stays: the end of the run does not overwrite it.
    expect(redis.mix).toBe('30:error');
    expect(events.map((e) => `${e.fixture} ${e.action} ${e.mix} ${e.label}`)).toEqual([
      'out apply 100:blackout resumed: step',
      'manual manual 30:error set by hand',
    ]);
    expect(events.every((e) => typeof e.offsetMs === 'number')).toBe(true);
  });

  it('the end of the run restores the own mix of a proxy the schedule changed', async () => {
    const redis = new FakeProxy('redis', '5:delay');
    const events: TimelineEvent[] = [];
    const player = new ChaosPlayer(changes(), new Map([['redis', redis]]), (e) => events.push(e), () => {});
    player.start();
    await until(() => redis.mix === '100:blackout');
    await player.teardown();
    expect(redis.mix).toBe('5:delay');
    expect(events.map((e) => `${e.fixture} ${e.action} ${e.mix} ${e.label}`)).toEqual(['out apply 100:blackout step', 'out restore 5:delay end of the run']);
    // The proxy hears why, for the report's fault timeline.
    expect(redis.reasons).toEqual(['chaos out: step', 'chaos out: end of the run']);
  });
});

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}


describe('what views say about a schedule', () => {
  const view = (o: Partial<ScheduleView>): ScheduleView => ({ proxy: 'db', paused: false, manual: false, remaining: 0, ...o });

  it('the Behaviors pane: in force, next change and time left; paused and by hand say how to resume', () => {
    const now = 1_000_000;
    expect(scheduleLine(view({}), now)).toBeUndefined();
    expect(scheduleLine(view({ remaining: 2 }), now)).toEqual({ state: 'running', now: 'own mix', next: 'waits for the load to start', nextShort: ['waits for the load'] });
    const running = view({ current: { entry: 'outage', label: 'step', restore: false }, next: { at: now + 4200, entry: 'outage', label: 'end of step' }, remaining: 1 });
    expect(scheduleLine(running, now)).toEqual({ state: 'running', now: 'outage · step', next: 'next outage · end of step in 5s', nextShort: ['next outage in 5s'] });
    expect(scheduleLine({ ...running, next: { ...running.next!, at: now + 125_000 } }, now)!.next).toBe('next outage · end of step in 2m05s');
    expect(scheduleLine({ ...running, paused: true }, now)).toMatchObject({ state: 'paused', now: 'paused (s resumes) at outage · step' });
    const manual = scheduleLine({ ...running, paused: true, manual: true }, now)!;
    expect(manual).toMatchObject({ state: 'manual', now: 'set by hand · s resumes' });
    // Whole in the Behaviors pane at 80x24: 26 cells after its mark.
    expect(manual.now.length).toBeLessThanOrEqual(26);
    // The Proxies pane: the fault in force and when it ends.
    expect(activeFault('50:error', running, now)).toEqual({ faulty: true, text: 'fault 50:error · outage · ends in 5s' });
    expect(activeFault('50:error', { ...running, manual: true, paused: true }, now).text).toBe('fault 50:error · set by hand · until changed');
    expect(activeFault('', running, now)).toEqual({ faulty: false, text: 'no fault · next in 5s (outage)' });
    expect(activeFault('100:dummy', undefined, now)).toEqual({ faulty: false, text: 'no fault' });
    expect(scheduleLine(view({ current: { entry: 'outage', label: 'end of step', restore: true } }), now)).toEqual({ state: 'done', now: 'outage · own mix', next: 'no more changes' });
  });

  it('the report: why a mix changed', () => {
    expect(changeReason({ source: 'chaos', fixture: 'ramp_db', label: 'ramp 40% delay (3/6)' })).toBe('chaos ramp_db: ramp 40% delay (3/6)');
    expect(changeReason({ source: 'fixture', fixture: 'slow_db', label: 'fixture' })).toBe('fixture slow_db');
    expect(changeReason({ source: 'fixture', fixture: 'slow_db', label: 'end of fixture' })).toBe('fixture slow_db: end of fixture');
    expect(changeReason({ source: 'manual', fixture: 'manual', label: 'set by hand' })).toBe('set by hand');
  });
});
