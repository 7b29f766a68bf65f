/**
 * Mistakes an audit found passing enqueue (or refused without a way out): each is now a config
 * error at its file:line:col when the job is queued, saying what is wrong and how to fix it.
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseYaml } from '../src/config/errors.js';
import { parseNodesConfig } from '../src/config/nodes.js';
import { parseThresholds, ThresholdError } from '../src/config/thresholds.js';
import { builtinConfigSchema } from '../src/runners/builtin/config.js';
import { BIN } from './helpers/dist.js';
import { CONFIG_FILE as FILE, configError, parseConfig } from './helpers/marteau-config.js';
import { removeTemp, temp } from './helpers/projects.js';

afterAll(removeTemp);

/** A 2 s builtin run (1 cycle of 1 user) with one proxy `p`. */
const RUN = 'name: x\nbase_url: http://127.0.0.1:9\nduration: 2\nscenario: [{get: /}]\nproxies:\n  p: {listen: "127.0.0.1:0", upstream: "127.0.0.1:9"}\n';

describe("a job's control API", () => {
  it('off loopback is refused at load, at its line, saying it binds to loopback', () => {
    expect(configError(`${RUN}api: {listen: 0.0.0.0:0}\n`).message).toBe(
      `${FILE}:7:15: api.listen: 0.0.0.0:0 is not a loopback address, and a job's control API takes no token: any machine reaching it could drive this job's proxies\n` +
        "  hint: a job's API binds to loopback: listen: 127.0.0.1:PORT or [::1]:PORT (port 0: any free port); to serve the API to other machines, run the proxies with `marteau-tui proxy --api HOST:PORT --api-token TOKEN`",
    );
    expect(configError(`${RUN}api:\n  listen: 192.168.1.10:8474\n`).message).toMatch(new RegExp(`^${FILE}:8:11: api.listen: 192.168.1.10:8474 is not a loopback address`));
  });

  it.each(['127.0.0.1:0', '"[::1]:8474"', 'localhost:8474', '127.0.0.2:8474'])('on loopback (%s) passes', (listen) => {
    expect(parseConfig(`${RUN}api: {listen: ${listen}}\n`).api?.listen).toBe(listen.replace(/"/g, ''));
  });

  it('a misspelt key under api: gets its fix', () => {
    expect(configError(`${RUN}api: {lisen: 127.0.0.1:0}\n`).message).toContain('api.lisen: unknown key "lisen"; did you mean "listen"?');
  });
});

describe('fixtures timed past the end of the run', () => {
  it('are refused at their `at`, with the same words as a chaos entry', () => {
    const fixture = configError(`${RUN}fixtures: {x: {proxy: p, behaviors: "10:delay", at: 5m, for: 1s}}\n`);
    expect(fixture.message).toBe(`${FILE}:7:53: fixtures.x.at: starts at 5m00s, at or past the end of the run (2.0s: 1 cycle(s) of duration 2s)\n  hint: start it earlier, or lengthen the run`);
    const chaos = configError(`${RUN}chaos: [{proxy: p, behaviors: "10:delay", at: 5m, for: 1s}]\n`);
    expect(chaos.message.replace(/^.*?: chaos\.0\.at: /, '')).toBe(fixture.message.replace(/^.*?: fixtures\.x\.at: /, ''));
  });

  it('one starting in time may outlast the run (cut at its end, as before), with the warning that says so', async () => {
    const { recoveryScheduleWarnings } = await import('../src/config/recovery.js');
    const c = parseConfig(`${RUN}fixtures:\n  x: {proxy: p, behaviors: "10:delay", at: 1s, for: 5s}\n`);
    expect(c.fixtures[0]).toMatchObject({ atMs: 1000, forMs: 5000 });
    expect(recoveryScheduleWarnings(c)).toEqual([expect.stringMatching(/^fault "x" ends at 6\.0s, at or after the end of the load/)]);
  });

  it('within the run, or before it (no `at`), pass', () => {
    const c = parseConfig(`${RUN}fixtures:\n  a: {proxy: p, behaviors: "10:delay", at: 500ms, for: 1s}\n  b: {proxy: p, behaviors: "10:delay"}\n  c: {proxy: p, behaviors: "10:delay", for: 2s}\n`);
    expect(c.fixtures.map((f) => [f.name, f.atMs, f.forMs])).toEqual([['a', 500, 1000], ['b', undefined, undefined], ['c', 0, 2000]]);
  });
});

describe('a nodes file without nodes', () => {
  const nodes = (text: string) => parseNodesConfig(parseYaml('/cfg/nodes.yml', text));

  it('is a config error at `nodes:`, saying how to add one', () => {
    expect(() => nodes('nodes: {}\n')).toThrow(
      '/cfg/nodes.yml:1:8: nodes: no node defined\n  hint: add at least one, e.g. nodes: {local: {type: local}} (this machine) or nodes: {box1: {host: 127.0.0.2, user: load}}; or use no nodes file: the default runs jobs on this machine',
    );
    expect(() => nodes('queue: redis://127.0.0.1:6379/0\nnodes:\n  {}\n')).toThrow('/cfg/nodes.yml:3:3: nodes: no node defined');
  });

  it('makes `marteau-tui nodes` exit 2 with that message; no nodes file still means this machine', async () => {
    const dir = await temp('nodes');
    const file = path.join(dir, 'nodes.yml');
    await writeFile(file, 'nodes: {}\n');
    const env = { ...process.env, NO_COLOR: '1', XDG_STATE_HOME: dir, MARTEAU_NODES: '' };
    const bad = spawnSync(process.execPath, [BIN, 'nodes', '--nodes', file], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    expect(bad.stderr).toContain(`${file}:1:8: nodes: no node defined`);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(bad.status).toBe(2);
    // The packaged default (no --nodes, no $MARTEAU_NODES, no ./marteau.nodes.yml) lists `local`.
    const dflt = spawnSync(process.execPath, [BIN, 'nodes'], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    expect(dflt.status, dflt.stderr).toBe(0);
    expect(dflt.stdout).toMatch(/^local\s+local\b/m);
  }, 60_000);
});

describe('a file that cannot be read', () => {
  // A bare errno ("(ENOENT)") told a user nothing: these say why in words, as proxies files do.
  it('a chaos: file that is not there', () => {
    expect(configError(`${RUN}chaos: faults.yml\n`).message).toBe(
      `${FILE}:7:8: chaos: cannot read faults.yml: no such file\n  hint: name a YAML file of the project holding the list of chaos entries`,
    );
  });

  it('a nodes file that is not there: exit 2, in words', async () => {
    const dir = await temp('nodes');
    const file = path.join(dir, 'nodez.yml');
    const env = { ...process.env, NO_COLOR: '1', XDG_STATE_HOME: dir, MARTEAU_NODES: '' };
    const r = spawnSync(process.execPath, [BIN, 'nodes', '--no-probe', '--nodes', file], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toContain(`${file}: cannot read the nodes file: no such file\n  hint: check --nodes or $MARTEAU_NODES`);
    expect(r.status).toBe(2);
  }, 60_000);
});

describe('did you mean', () => {
  const thresholdError = (raw: unknown): string => {
    try {
      parseThresholds(raw);
    } catch (e) {
      if (e instanceof ThresholdError) return e.message;
      throw e;
    }
    throw new Error('expected a ThresholdError');
  };

  it('a misspelt threshold metric', () => {
    expect(thresholdError({ sucess_rate: '>= 99%' })).toMatch(/^thresholds\.sucess_rate: unknown threshold metric "sucess_rate"; did you mean "success_rate"\? \(one of success_rate, /);
    // Aliases are suggested too; per_cycle and fault windows have their own names.
    expect(thresholdError({ mediam: '< 1s' })).toContain('did you mean "median"?');
    expect(thresholdError({ per_cylce: { p95: '< 1s' } })).toContain('did you mean "per_cycle"?');
    expect(thresholdError({ per_cycle: { p59: '< 1s' } })).toMatch(/"p59"; did you mean "p50"\? \(one of success_rate, .*, errors\)$/);
    expect(thresholdError({ during: { w: { status_5x: '< 1%' } } })).toContain('unknown threshold metric "status_5x" for fault window w; did you mean "status_5xx"?');
    // Nothing near: no suggestion, the list as before.
    expect(thresholdError({ banana: '< 1' })).toMatch(/unknown threshold metric "banana" \(one of /);
  });

  it('through the loader, at its line', () => {
    expect(configError('name: x\nbase_url: http://127.0.0.1:9\nscenario: [{get: /}]\nthresholds: {sucess_rate: ">= 99%"}\n').message).toMatch(
      new RegExp(`^${FILE}:4:27: thresholds.sucess_rate: unknown threshold metric "sucess_rate"; did you mean "success_rate"\\?\\n  hint: one of success_rate,`),
    );
  });

  // One helper (didYouMean) for a misspelt key and a misspelt word of a list.
  it('a misspelt value of a list: a protocol, a node type, a runner, a fault', () => {
    expect(configError(`${RUN.replace('upstream: "127.0.0.1:9"', 'upstream: "127.0.0.1:9", protocol: htpt')}`).message).toBe(
      `${FILE}:6:65: proxies.p.protocol: expected one of "tcp", "http", "redis", "memcache", "mysql", "postgres", "smtp", got the string "htpt"; did you mean "http"?`,
    );
    expect(configError('name: x\nrunner: comand\ncommand: echo\n').message).toContain('runner: expected one of "builtin", ');
    expect(configError('name: x\nrunner: comand\ncommand: echo\n').message).toContain('got the string "comand"; did you mean "command"?');
    expect(() => parseNodesConfig(parseYaml('/n.yml', 'nodes:\n  a: {type: lcal}\n'))).toThrow('got the string "lcal"; did you mean "local"?');
    expect(configError(`${RUN}services:\n  db: {command: [sleep, "9"]}\nchaos:\n  - {service: db, fault: kil, at: 0s, for: 1s}\n`).message).toContain('chaos.0.fault: unknown fault "kil"; did you mean "kill"?');
    // Nothing near: the list alone, as before.
    expect(configError(`${RUN.replace('upstream: "127.0.0.1:9"', 'upstream: "127.0.0.1:9", protocol: banana')}`).message).not.toContain('did you mean');
  });

  it('a misspelt name of a proxy or a service', () => {
    expect(configError(`${RUN}fixtures: {x: {proxy: q, behaviors: "10:delay"}}\n`).message).toContain('fixtures.x.proxy: unknown proxy "q"; did you mean "p"?');
    expect(configError(`${RUN}chaos: [{proxy: pp, behaviors: "10:delay", for: 1s}]\n`).message).toContain('unknown proxy "pp"; did you mean "p"?');
    expect(configError(`${RUN}services:\n  db: {command: [sleep, "9"]}\nchaos:\n  - {service: dc, fault: kill, at: 0s, for: 1s}\n`).message).toContain('unknown service "dc"; did you mean "db"?');
  });

  it('a misspelt key of a scenario step, with the keys a step has', () => {
    const known = 'known keys here: get, post, put, patch, delete, head, options, method, path, headers, body, json, expect, description, name';
    expect(configError('name: x\nbase_url: http://127.0.0.1:9\nscenario: [{get: /, expct: 200}]\n').message).toBe(
      `${FILE}:3:21: scenario.0.expct: unknown key "expct"; did you mean "expect"?\n  hint: ${known}`,
    );
    // A misspelt method is the one mistake: no "a step needs a method" besides.
    expect(configError('name: x\nbase_url: http://127.0.0.1:9\nscenario:\n  - {get: /}\n  - {gt: /}\n').message).toBe(
      `${FILE}:5:6: scenario.1.gt: unknown key "gt"; did you mean "get"?\n  hint: ${known}`,
    );
    // An unknown key far from every method still leaves the step without one: both are said.
    const both = configError('name: x\nbase_url: http://127.0.0.1:9\nscenario: [{bogus: 1}]\n').message;
    expect(both).toContain('scenario.0: a step needs a method and a path');
    expect(both).toContain(`scenario.0.bogus: unknown key "bogus"\n  hint: ${known}`);
  });
});

describe('apdex_t and request_timeout take durations, as every other duration key', () => {
  it('with a unit, in seconds as before without', () => {
    const c = parseConfig('name: x\nbase_url: http://127.0.0.1:9\nscenario: [{get: /}]\nrequest_timeout: 5s\napdex_t: 500ms\n');
    const b = builtinConfigSchema.parse(c.raw);
    expect([b.request_timeout, b.apdex_t]).toEqual([5, 0.5]);
    // Plain numbers are seconds, kept exactly as written (no round trip through milliseconds).
    const n = builtinConfigSchema.parse(parseConfig('name: x\nbase_url: http://127.0.0.1:9\nscenario: [{get: /}]\nrequest_timeout: 1.1\napdex_t: 0.3\nstartup_delay: 0.07\n').raw);
    expect([n.request_timeout, n.apdex_t, n.startup_delay]).toEqual([1.1, 0.3, 0.07]);
    // The builtin runner's own duration keys too (its schema used to refuse "2s").
    const d = builtinConfigSchema.parse(parseConfig('name: x\nbase_url: http://127.0.0.1:9\nscenario: [{get: /}]\nduration: 2m\nsleep_time: 250ms\ncycle_time: 1s\n').raw);
    expect([d.duration, d.sleep_time, d.cycle_time]).toEqual([120, 0.25, 1]);
  });

  it.each([
    ['request_timeout: 0', `${FILE}:4:18: request_timeout: must be more than 0`],
    ['request_timeout: 2h', `${FILE}:4:18: request_timeout: at most 3600 s (1h00m)`],
    ['apdex_t: 0s', `${FILE}:4:10: apdex_t: must be more than 0`],
    ['apdex_t: soon', `${FILE}:4:10: apdex_t: expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)`],
    ['duration: 2d', `${FILE}:4:11: duration: expected a duration`],
  ])('%s is refused at its line', (line, expected) => {
    const e = configError(`name: x\nbase_url: http://127.0.0.1:9\nscenario: [{get: /}]\n${line}\n`);
    expect(e.message.startsWith(expected), `got:\n${e.message}`).toBe(true);
  });

  it('the schema says so', async () => {
    const { marteauJsonSchema } = await import('../src/config/marteau-schema.js');
    const props = (marteauJsonSchema() as { properties: Record<string, { description?: string; anyOf?: unknown[] }> }).properties;
    expect(props.request_timeout.description).toMatch(/seconds or with a unit/);
    expect(props.apdex_t.description).toMatch(/seconds or with a unit/);
    expect(JSON.stringify(props.request_timeout)).toContain('"type":"string"');
  });
});

describe('base_url without its scheme', () => {
  it('says an http:// or https:// URL is expected, written right', () => {
    expect(configError('name: x\nbase_url: 127.0.0.1:9\nscenario: [{get: /}]\n').message).toBe(`${FILE}:2:11: base_url: "127.0.0.1:9" is not an http:// or https:// URL; write base_url: http://127.0.0.1:9`);
    expect(configError('name: x\nurl: localhost:8000/api\nscenario: [{get: /}]\n').message).toBe(`${FILE}:2:6: url: "localhost:8000/api" is not an http:// or https:// URL; write url: http://localhost:8000/api`);
    expect(configError('name: x\nbase_url: ftp://127.0.0.1/\nscenario: [{get: /}]\n').message).toBe(`${FILE}:2:11: base_url: "ftp://127.0.0.1/" is not an http:// or https:// URL; e.g. base_url: http://127.0.0.1:8000`);
  });
});

describe('a load longer than its timeout', () => {
  it('a sweep: refused at timeout:, naming what makes the sweep that long', () => {
    expect(configError(`${RUN}chaos: sweep\ntimeout: 10s\n`).message).toBe(
      `${FILE}:8:10: timeout: the load lasts 24.0s (chaos: sweep, its lead and 3 faults of 3.0s each with the gap after it), longer than the timeout of 10.0s: the job would always end timed out\n` +
        '  hint: raise it to at least the load and a margin for setup and reports, e.g. timeout: 2m, or shorten the load',
    );
  });

  it('past the default timeout (1 h): said of the default, at the top of the file', () => {
    expect(configError(RUN.replace('duration: 2', 'duration: 2h')).message).toBe(
      `${FILE}:1:1: timeout: the load lasts 2h00m (1 cycle(s) of duration 7200s), longer than the default timeout of 1h00m: the job would always end timed out\n` +
        '  hint: set timeout: to at least the load and a margin for setup and reports, e.g. timeout: 132m, or shorten the load',
    );
  });
});

describe('a misspelt key deep inside chaos:', () => {
  // chaos: is a list, a file name or {sweep}: zod failed the three as one, 'chaos: unexpected value a list'.
  it("a ramp's or a flap's key gets its fix, at its line", () => {
    expect(configError(`${RUN}chaos:\n  - {proxy: p, at: 0s, for: 1s, ramp: {behaviour: delay, from: 0, to: 50}}\n`).message).toBe(
      `${FILE}:8:40: chaos.0.ramp.behaviour: unknown key "behaviour"; did you mean "behavior"?\n  hint: known keys here: behavior, from, to, every, options`,
    );
    // `of` is one letter from `on` and `off`: the one not given is meant.
    expect(configError(`${RUN}chaos:\n  - {proxy: p, for: 1s, behaviors: "100:error", flap: {on: 1s, of: 1s}}\n`).message).toBe(
      `${FILE}:8:64: chaos.0.flap.of: unknown key "of"; did you mean "off"?\n  hint: known keys here: on, off`,
    );
  });

  it("a sweep's fault kind that does not exist is named, with a sweep's example", () => {
    expect(configError(`${RUN}chaos:\n  sweep: {faults: [down, slo]}\n`).message).toBe(
      `${FILE}:8:26: chaos.sweep.faults.1: expected one of "down", "slow", "errors", "process", got the string "slo"; did you mean "slow"?\n` +
        '  hint: e.g. chaos: {sweep: {step: 3s, gap: 4s, faults: [down, slow, errors, process]}}',
    );
  });

  it('a value of no shape chaos: takes still says what it takes', () => {
    expect(configError(`${RUN}chaos: 5\n`).message).toMatch(new RegExp(`^${FILE}:7:8: chaos: unexpected value the integer 5\n  hint: e\\.g\\. chaos: \\[`));
  });
});

describe('a bracket or quote never closed', () => {
  const syntax = (text: string) => {
    try {
      parseYaml('p.yml', text);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected a syntax error');
  };
  const LIST = 'hint: end it with "]" (a list on one line: [a, b]), or write one "- entry" line per entry';

  // The parser notices the missing "]" where the next key starts, or at the end: the fix is where it opened.
  it('is reported where it opened, not the line after', () => {
    expect(syntax('proxies:\n  r:\n    behaviors: [a, b\n    protocol: redis\n')).toBe(`p.yml:3:16: YAML syntax: the list opened with "[" here is never closed\n  ${LIST}`);
    expect(syntax('proxies:\n  r:\n    behaviors: [a, b\n')).toBe(`p.yml:3:16: YAML syntax: the list opened with "[" here is never closed\n  ${LIST}`);
    // Over several lines; inside a list of items; the outer one when the inner one is closed.
    expect(syntax('a: [1,\n  2,\n  3\nb: 3\n')).toMatch(/^p\.yml:1:4: YAML syntax: the list opened with "\[" here/);
    expect(syntax('a:\n  - x\n  - [y, z\n  - w\n')).toMatch(/^p\.yml:3:5: /);
    expect(syntax('a: [1, [2, 3]\nb: 1\n')).toMatch(/^p\.yml:1:4: /);
    expect(syntax('a: {delay: 20\nb: 1\n')).toBe('p.yml:1:4: YAML syntax: the map opened with "{" here is never closed\n  hint: end it with "}" (a map on one line: {a: 1, b: 2}), or write one "key: value" line per entry');
  });

  it('a quote too', () => {
    expect(syntax("a: 'abc\nb: 1\n")).toBe("p.yml:1:4: YAML syntax: the string opened with ' here is never closed\n  hint: end it with ' (a ' inside it is written '')");
    expect(syntax('a: "ab\\"c\nb: 1\n')).toMatch(/^p\.yml:1:4: YAML syntax: the string opened with " here is never closed/);
  });

  it("other syntax errors keep the parser's position and words", () => {
    expect(syntax('a: [1, 2]]\n')).toMatch(/^p\.yml:1:10: YAML syntax: Unexpected flow-seq-end token/);
  });
});

describe('a ${...} reference unquoted in [ ] or { }', () => {
  it('is said as such where it starts, with the quoted spelling to write, rather than YAML\'s "Missing , or :"', () => {
    expect(configError('name: x\ncommand: [node, app.js, --port, ${MARTEAU_SERVICE_APP_PORT}]\n').message).toBe(
      `${FILE}:2:33: YAML syntax: \${MARTEAU_SERVICE_APP_PORT} is not quoted, and inside [ ] or { } its "{" starts a map\n` +
        '  hint: quote the value: write "${MARTEAU_SERVICE_APP_PORT}", as the examples do',
    );
    // Amid a value, the whole value is what to quote, and where it starts is said.
    expect(configError('name: x\ncommand: [true]\nenv: {A: 1, URL: http://127.0.0.1:${MARTEAU_PROXY_P_PORT}/x, B: 2}\n').message).toBe(
      `${FILE}:3:18: YAML syntax: \${MARTEAU_PROXY_P_PORT} is not quoted, and inside [ ] or { } its "{" starts a map\n` +
        '  hint: quote the value: write "http://127.0.0.1:${MARTEAU_PROXY_P_PORT}/x", as the examples do',
    );
    expect(configError('name: x\ncommand: [true]\nenv: {A: ${MARTEAU_JOB_ID}}\n').message).toMatch(new RegExp(`^${FILE.replace(/[.]/g, '\\.')}:3:10: YAML syntax: \\$\\{MARTEAU_JOB_ID\\} is not quoted`));
    // Quoted, or in a block (where a plain value may hold braces), it is read as written.
    expect(() => parseConfig('name: x\ncommand: [true]\nenv: {A: "${MARTEAU_JOB_ID}"}\n')).not.toThrow();
    expect(() => parseConfig('name: x\ncommand: [true]\nenv:\n  A: ${MARTEAU_JOB_ID}\n')).not.toThrow();
  });
});
