/** The config side of the chaos measures: `recovery:`, a fixture's `expect:`, window thresholds, with file:line errors. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseYaml } from '../../src/config/errors.js';
import { parseMarteauConfig } from '../../src/config/marteau.js';
import { recoveryScheduleWarnings } from '../../src/config/recovery.js';
import { defaultRunners } from '../../src/runners/index.js';
import { writeReports } from '../../src/report/index.js';
import { defaultRegistry } from '../../behaviors/index.js';

const FILE = '/proj/.marteau.yml';
const parse = (text: string) => parseMarteauConfig(parseYaml(FILE, text), '/proj', { runners: defaultRunners(writeReports), behaviors: defaultRegistry });
const HEAD = `name: x
base_url: http://127.0.0.1:8080
scenario: [{get: /}]
proxies:
  redis: {listen: "127.0.0.1:0", upstream: "127.0.0.1:1", protocol: redis}
fixtures:
  redis_blackout: {proxy: redis, behaviors: "100:blackout", at: 5s, for: 10s, expect: 503}
  noise: {proxy: redis, behaviors: "5:delay"}
`;

describe('recovery and window thresholds in .marteau.yml', () => {
  it('normalises recovery options, expectations and nested thresholds', () => {
    const c = parse(`${HEAD}recovery: {window: 1s, success_rate_tolerance: 2%, p95_tolerance: 0.5, p95_slack: 25ms, baseline: 5}
thresholds:
  recovery: "< 5s"
  per_cycle: {p95: "< 1s"}
  during: {redis_blackout: {status_5xx: "< 100%"}}
  during.redis_blackout.expected: ">= 99%"
`);
    expect(c.recovery).toEqual({ windowMs: 1000, successRateTolerance: 0.02, p95Tolerance: 0.5, p95SlackMs: 25, baselineMs: 5000 });
    expect(c.fixtures.find((f) => f.name === 'redis_blackout')!.expect).toEqual(['503']);
    expect(parse(HEAD).recovery).toEqual({ windowMs: 2000, successRateTolerance: 0.01, p95Tolerance: 0.2, p95SlackMs: 10, baselineMs: 10_000 });
    expect(parse(HEAD.replace('expect: 503', 'expect: [5xx, timeout, 502]')).fixtures[0].expect).toEqual(['5xx', 'timeout', '502']);
  });

  it.each([
    ['a misspelt recovery key', `${HEAD}recovery: {windw: 2s}\n`, `${FILE}:9:12: recovery.windw: unknown key "windw"; did you mean "window"?`],
    ['a tolerance that is not a percentage', `${HEAD}recovery: {p95_tolerance: lots}\n`, `${FILE}:9:27: recovery.p95_tolerance: expected a percentage, e.g. "1%", or a fraction such as 0.01`],
    ['a success-rate tolerance over 100 %', `${HEAD}recovery: {success_rate_tolerance: 150%}\n`, `${FILE}:9:36: recovery.success_rate_tolerance: a success-rate tolerance is at most 100%`],
    ['a zero recovery window', `${HEAD}recovery: {window: 0s}\n`, `${FILE}:9:20: recovery.window: the recovery window must be longer than 0`],
    ['a bad expectation', HEAD.replace('expect: 503', 'expect: 5XX0'), `${FILE}:7:87: fixtures.redis_blackout.expect: expected a status (503), a class ("5xx"), "timeout" or "connection", or a list of them`],
    ['a bad window expression', `${HEAD}thresholds:\n  during: {redis_blackout: {status_5xx: "lots"}}\n`, `${FILE}:10:41: thresholds.during.redis_blackout.status_5xx: cannot read threshold "lots"`],
    ['an unknown window metric', `${HEAD}thresholds:\n  during.redis_blackout.status_6xx: "< 1%"\n`, `${FILE}:10:37: thresholds.during.redis_blackout.status_6xx: unknown threshold metric "status_6xx" for fault window redis_blackout`],
    ['a misspelt window name', `${HEAD}thresholds:\n  during: {redis_blackuot: {status_5xx: "< 1%"}}\n`, `${FILE}:10:41: thresholds.during.redis_blackuot.status_5xx: no fault window named "redis_blackuot"\n  hint: fault windows of this job: redis_blackout`],
    ['a setup fixture is no window', `${HEAD}thresholds:\n  during.noise.status_5xx: "< 1%"\n`, `${FILE}:10:28: thresholds.during.noise.status_5xx: no fault window named "noise"`],
  ])('%s', (_, text, expected) => {
    expect(() => parse(text)).toThrow(ConfigError);
    // The message holds file:line:col, the path, what is wrong and the hint.
    expect(() => parse(text)).toThrow(expected);
  });
});

describe('a misspelt window name with every runner that judges thresholds', () => {
  // The builtin runner checked names at load time; FunkLoad and Locust jobs ran to their end
  // and only then failed the threshold ("no fault window nope in this run").
  const dir = mkdtempSync(path.join(os.tmpdir(), 'marteau-windows-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'test_shop.py'), 'from funkload.FunkLoadTestCase import FunkLoadTestCase\n');
  writeFileSync(path.join(dir, 'locustfile.py'), 'from locust import HttpUser\n');
  const rest = HEAD.split('\n').slice(3).join('\n');
  const runners = {
    funkload: `name: x\nscript: test_shop.py\ntest: Shop.test_home\n${rest}`,
    locust: `name: x\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://127.0.0.1:8080\n${rest}`,
  };
  it.each(Object.entries(runners))('%s', (_, head) => {
    const file = path.join(dir, '.marteau.yml');
    const load = () => parseMarteauConfig(parseYaml(file, `${head}thresholds:\n  during.redis_blackuot.status_5xx: "< 1%"\n`), dir, { runners: defaultRunners(writeReports), behaviors: defaultRegistry });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow('thresholds.during.redis_blackuot.status_5xx: no fault window named "redis_blackuot"\n  hint: fault windows of this job: redis_blackout');
  });
});

describe('faults too close to the end of the load, warned about at enqueue', () => {
  // HEAD is a builtin run of one 10 s cycle; here 60 s. redis_blackout ends at 15 s.
  const warnings = (text: string) => recoveryScheduleWarnings(parse(text));
  const long = `${HEAD}duration: 60\n`;

  it('warns for a fault ending less than recovery.window before the load does, and only then', () => {
    expect(warnings(long)).toEqual([]);
    const late = long.replace('at: 5s, for: 10s', 'at: 50s, for: 9s');
    expect(warnings(late)).toEqual([
      'fault "redis_blackout" ends at 59.0s, 1.0s before the end of the load (1m00s: 1 cycle(s) of duration 60s); judging recovery needs recovery.window (2.0s) after it, so it will read "too soon to judge". End it earlier, lengthen the run, or shorten recovery.window.',
    ]);
    expect(warnings(`${late}recovery: {window: 1s}\n`)).toEqual([]);
    // Past the end of the load (a fixture's times are not bounded by it).
    expect(warnings(HEAD)).toEqual([expect.stringMatching(/^fault "redis_blackout" ends at 15\.0s, at or after the end of the load \(10\.0s: /)]);
    // A fault that lasts to the end has nothing to recover from: no warning.
    expect(warnings(long.replace('at: 5s, for: 10s', 'at: 50s'))).toEqual([]);
  });

  it('reads chaos entries and service faults too, and says nothing when only the timeout bounds the run', () => {
    const chaos = `${long}chaos: [{proxy: redis, at: 50s, for: 9.5s, behaviors: "100:blackout", name: late_step}, {service: db, at: 59s, fault: restart}]\nservices:\n  db: {command: [sleep, "100"]}\n`;
    // In the order they end; a restart ends as it happens.
    expect(warnings(chaos)).toEqual([expect.stringMatching(/^fault "db-restart-1" ends at 59\.0s, 1\.0s before/), expect.stringMatching(/^fault "late_step" ends at 59\.5s, 500ms before the end of the load \(1m00s: /)]);
    const command = `name: x\nrunner: command\ncommand: [sleep, "1"]\nproxies:\n  redis: {listen: "127.0.0.1:0", upstream: "127.0.0.1:1", protocol: redis}\ntimeout: 20s\nchaos: [{proxy: redis, at: 10s, for: 9.5s, behaviors: "100:blackout"}]\n`;
    expect(warnings(command)).toEqual([]);
  });
});
