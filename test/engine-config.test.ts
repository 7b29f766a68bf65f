/**
 * .marteau.yml and marteau.nodes.yml: valid configs normalise as documented; every mistake is
 * one message with file:line:col, what is wrong and a hint.
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseYaml } from '../src/config/errors.js';
import { loadMarteauConfig, parseMarteauConfig } from '../src/config/marteau.js';
import { marteauJsonSchema } from '../src/config/marteau-schema.js';
import { loadNodesConfig, nodesJsonSchema, parseNodesConfig } from '../src/config/nodes.js';
import { packagedNodesFile } from '../src/config/nodes-file.js';
import { splitWords } from '../src/config/words.js';
import { CONFIG_FILE, configError, configOptions, parseConfig } from './helpers/marteau-config.js';
import { removeTemp, temp } from './helpers/projects.js';
import { commandRunner } from '../src/runners/command.js';
import { writeReports } from '../src/report/index.js';
import { runnerRegistry } from '../src/core/runner-contract.js';
import { defaultRegistry } from '../behaviors/index.js';

afterAll(removeTemp);

const FILE = CONFIG_FILE;
const opts = configOptions;
const parse = (text: string) => parseConfig(text);
const fail = configError;

describe('.marteau.yml', () => {
  it('normalises a full config (Marteau keys keep their meaning)', () => {
    const c = parse(`
name: shop
runner: command
command: node load.js --users "10 users" 'a b'
nodes: 2
node_tags: [fast]
wdir: tests
xml: simple-bench.xml
cycles: "5:10:20"
duration: 10
startup_delay: 500ms
sleep_time: 0.2
deps: [gevent]
email: a@b.c
proxies:
  redis: {listen: 127.0.0.1:0, upstream: 127.0.0.1:6379, protocol: redis}
fixtures:
  around: {proxy: redis, behaviors: "10:delay"}
  blackout: {proxy: redis, behaviors: {blackout: 100}, at: 20s, for: 10s}
  late: {proxy: redis, behaviors: "5:error", for: 2m}
notify: {webhook: "http://127.0.0.1:9/hook", bell: false}
env: {TARGET: http://127.0.0.1:8080, USERS: 10, DEBUG: true}
timeout: 2m
artifacts: [out/report.json]
`);
    expect(c).toMatchObject({
      name: 'shop',
      runner: 'command',
      command: ['node', 'load.js', '--users', '10 users', 'a b'],
      nodes: 2,
      nodeTags: ['fast'],
      workDir: '/proj/tests',
      cycles: [5, 10, 20],
      durationMs: 10_000,
      startupDelayMs: 500,
      sleepTimeMs: 200,
      deps: ['gevent'],
      env: { TARGET: 'http://127.0.0.1:8080', USERS: '10', DEBUG: 'true' },
      timeoutMs: 120_000,
      artifacts: ['simple-bench.xml', 'out/report.json'],
      notify: { bell: false, webhook: 'http://127.0.0.1:9/hook', webhookTimeoutMs: 5000 },
    });
    expect(c.fixtures).toEqual([
      { name: 'around', proxy: 'redis', behaviors: '10:delay', atMs: undefined, forMs: undefined },
      { name: 'blackout', proxy: 'redis', behaviors: { blackout: 100 }, atMs: 20_000, forMs: 10_000 },
      { name: 'late', proxy: 'redis', behaviors: '5:error', atMs: 0, forMs: 120_000 },
    ]);
    expect(c.proxies[0]).toMatchObject({ name: 'redis', listen: '127.0.0.1:0', protocol: 'redis' });
  });

  it('defaults: name from the directory, runner command when command is set, 1 node, 1 h timeout', () => {
    const c = parse('command: [echo, hi]\n');
    expect(c).toMatchObject({ name: 'proj', runner: 'command', nodes: 1, timeoutMs: 3_600_000, upload: true, keepRemote: false });
  });

  it.each([
    ['a YAML syntax error', 'name: x\ncommand: [a\n', `${FILE}:2:10: YAML syntax: the list opened with "[" here is never closed\n  hint: end it with "]" (a list on one line: [a, b]), or write one "- entry" line per entry`],
    ['a wrong type', 'name: x\ncommand: echo\nnodes: two\n', `${FILE}:3:8: nodes: expected a number, got the string "two"\n  hint: a whole number of nodes, e.g. nodes: 2`],
    ['a number out of range', 'name: x\ncommand: echo\nnodes: 0\n', `${FILE}:3:8: nodes: must be >= 1, got the integer 0\n  hint: a whole number of nodes, e.g. nodes: 2`],
    ['a misspelt key', 'name: x\ncommand: echo\nnodse: 2\n', `${FILE}:3:1: nodse: unknown key "nodse"; did you mean "nodes"?`],
    // The missing `upstream` is the misspelling's doing: one problem, not two.
    ['a misspelt required key', 'name: x\ncommand: echo\nproxies:\n  db: {listen: "127.0.0.1:0", upstram: "127.0.0.1:1"}\n', `${FILE}:4:31: proxies.db.upstram: unknown key "upstram"; did you mean "upstream"?\n  hint: known keys here:`],
    ['bad cycles', 'name: x\ncommand: echo\ncycles: "10:x"\n', `${FILE}:3:9: cycles: expected cycles of concurrent users: "10:20:30" (FunkLoad) or a list [10, 20, 30]\n  hint: FunkLoad form "10:20:30" or a list [10, 20, 30]`],
    ['a bad duration', 'name: x\ncommand: echo\nduration: soon\n', `${FILE}:3:11: duration: expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)`],
    ['a fixture on an unknown proxy', 'name: x\ncommand: echo\nfixtures:\n  f: {proxy: nope, behaviors: "10:delay"}\n', `${FILE}:4:14: fixtures.f.proxy: unknown proxy "nope"\n  hint: declare it under \`proxies:\` in this file (listen, upstream, protocol)`],
    ['an unknown behavior in a fixture', 'name: x\ncommand: echo\nproxies:\n  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}\nfixtures:\n  f: {proxy: db, behaviors: "10:delya"}\n', `${FILE}:6:29: fixtures.f.behaviors.0: unknown behavior "delya"; did you mean "delay"? Known behaviors: abort,`],
    ["Marteau's class fixtures", 'name: x\ncommand: echo\nfixtures:\n  f: {class: Foo, arguments: {}}\n', `${FILE}:4:7: fixtures.f.class: Marteau's class-based fixtures (class:, arguments:) are not supported\n  hint: describe the proxy change instead: {proxy: NAME, behaviors: "100:delay", at: 10s, for: 5s}`],
    ["a runner's own schema (builtin without scenario)", 'name: x\n', `${FILE}:1:1: missing required key "scenario"`],
    ['an unclosed quote in command', "name: x\ncommand: \"node 'oops\"\n", `${FILE}:2:10: command: the single quote at character 6 is never closed\n  hint: close the quote, or write the command as a list`],
    ['thresholds with the command runner', 'name: x\ncommand: echo\nthresholds: {p95: "< 3ms"}\n', `${FILE}:3:13: thresholds: the command runner does not evaluate thresholds: its result is the exit status`],
    ['a reserved env name', 'name: x\ncommand: echo\nenv: {MARTEAU_X: 1}\n', `${FILE}:3:7: env.MARTEAU_X: "MARTEAU_X": names starting with MARTEAU_ are set by marteau-tui\n  hint: pick another name`],
    ['a bad env name', 'name: x\ncommand: echo\nenv: {"A B": 1}\n', `${FILE}:3:7: env.A B: an environment variable name is letters, digits and _ (not starting with a digit)`],
    ['wdir escaping the project', 'name: x\ncommand: echo\nwdir: ../up\n', `${FILE}:3:7: wdir: must be a relative path inside the project (no leading /, no ..)`],
    // Every path key is confined: each names a file read on a node or copied into the results.
    ['xml climbing out to a secret', 'name: x\ncommand: echo\nxml: ../../../../home/u/.ssh/id_ed25519\n', `${FILE}:3:6: xml: must be a relative path inside the project (no leading /, no ..)`],
    ['an absolute xml', 'name: x\ncommand: echo\nxml: /etc/shadow\n', `${FILE}:3:6: xml: must be a relative path inside the project (no leading /, no ..)`],
    ['an artifact climbing out', 'name: x\ncommand: echo\nartifacts: [out/../../k]\n', `${FILE}:3:13: artifacts.0: must be a relative path inside the project (no leading /, no ..)`],
    ['a chaos file outside the project', 'name: x\ncommand: echo\nchaos: /tmp/chaos.yml\n', `${FILE}:3:8: chaos: must be a relative path inside the project (no leading /, no ..)`],
    ['a service wdir outside the project', 'name: x\ncommand: echo\nservices:\n  app: {command: app, wdir: ../../srv}\n', `${FILE}:4:29: services.app.wdir: must be a relative path inside the project (no leading /, no ..)`],
    ['a duration past what a timer can wait', 'name: x\ncommand: echo\ntimeout: 1000h\n', `${FILE}:3:10: timeout: at most 596h (about 24.8 days: the longest a timer can wait)`],
    ['a behavior delay past what a timer can wait', 'name: x\ncommand: echo\nproxies:\n  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:1", behaviors: {latency: {percent: 10, latency: 3e9}}}\n', `${FILE}:4:`],
    ['a webhook that is not http', 'name: x\ncommand: echo\nnotify: {webhook: ftp://x}\n', `${FILE}:3:19: notify.webhook: expected an http:// or https:// URL`],
    ['a list instead of a map', '- a\n- b\n', `${FILE}:1:1: expected a map of settings (name:, runner:, ...)`],
    ['a wrong type in a proxy', 'name: x\ncommand: echo\nproxies:\n  db: {listen: 5, upstream: "127.0.0.1:1"}\n', `${FILE}:4:16: proxies.db.listen: expected a string, got the integer 5`],
  ])('%s', (_, text, expected) => {
    const e = fail(text);
    expect(e.message.startsWith(expected), `got:\n${e.message}`).toBe(true);
  });

  it('a threshold with a bad unit: the hint on its own line, as for every other key', () => {
    // The check used to join its hint to the message with "; ", unlike every other config error.
    expect(fail('name: x\nrunner: builtin\nbase_url: http://127.0.0.1:8000\nscenario: [{get: /}]\nthresholds:\n  per_cycle: {p95: "< 300 parsecs"}\n').message).toBe(
      `${FILE}:6:20: thresholds.per_cycle.p95: "parsecs" is not a time unit (ms, s, us) in "< 300 parsecs"\n  hint: e.g. "< 300ms", "<= 1.5s" (no unit means ms)`,
    );
  });

  it('a runner not in this build', () => {
    // A build with only the command runner: independent of which runners the default build has.
    const only = { runners: runnerRegistry([commandRunner(writeReports)]), behaviors: defaultRegistry };
    expect(() => parseMarteauConfig(parseYaml(FILE, 'name: x\nrunner: funkload\n'), '/proj', only)).toThrow(
      `${FILE}:2:9: runner: runner "funkload" is not available in this version\n  hint: available runners: command; e.g. runner: command with command: [node, load.js]`,
    );
  });

  it('reports every problem in file order, each with its line, up to five', () => {
    const e = fail('name: x\ncommand: echo\nnodes: zero\nduration: never\n');
    expect(e.message).toBe([
      `${FILE}:3:8: nodes: expected a number, got the string "zero"`,
      '  hint: a whole number of nodes, e.g. nodes: 2',
      `${FILE}:4:11: duration: expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)`,
    ].join('\n'));
    expect(e).toMatchObject({ line: 3, col: 8 });
    // Seven misspelt keys: five shown in full, the other two counted.
    const many = fail(`name: x\ncommand: echo\n${['nodse', 'timout', 'duraton', 'cycels', 'wdri', 'emial', 'xmll'].map((k) => `${k}: 1\n`).join('')}`).message;
    const lines = many.split('\n').filter((l) => l.startsWith(FILE));
    expect(lines.map((l) => l.split(': ')[0])).toEqual([3, 4, 5, 6, 7].map((n) => `${FILE}:${n}:1`));
    expect(lines[0]).toBe(`${FILE}:3:1: nodse: unknown key "nodse"; did you mean "nodes"?`);
    expect(many.endsWith('\n(and 2 more problems)')).toBe(true);
  });

  it.each([
    ['redis, misspelt', 'redis', '{error: {percent: 10, kind: LOADNG}}', 'kind', 'redis has no error kind "LOADNG"; did you mean "LOADING"? (redis kinds: LOADING, ERR, READONLY,'],
    ['redis, a number', 'redis', '{transient: {percent: 10, kind: 999}}', 'kind', 'redis has no error kind "999" (redis kinds: LOADING,'],
    ["postgres, an HTTP status", 'postgres', '{fail_first: {percent: 100, kind: 503}}', 'kind', `postgres has no error kind "503", http has: is the proxy's protocol right? (postgres kinds: `],
    ['tcp (the default), a redis kind', 'tcp', '{error: {percent: 10, kind: LOADING}}', 'kind', `tcp has no error kind "LOADING", redis has: is the proxy's protocol right? (raw tcp has no protocol errors: its one kind, "random", sends 1000 random bytes; leave kind out)`],
  ])("an error kind the proxy's protocol does not have (%s) is refused at its line", (_, protocol, mix, option, problem) => {
    const text = `name: x\ncommand: echo\nproxies:\n  db:\n    listen: "127.0.0.1:0"\n    upstream: "127.0.0.1:1"\n    protocol: ${protocol}\n    behaviors: ${mix}\n`;
    const behavior = /\{(\w+):/.exec(mix)![1];
    const col = mix.indexOf(`${option}: `) + `${option}: `.length + '    behaviors: '.length + 1;
    expect(fail(text).message).toContain(`${FILE}:8:${col}: proxies.db.behaviors.${behavior}.${option}: behavior "${behavior}": option "${option}": ${problem}`);
  });

  it("checks fixtures' and chaos steps' error kinds against their proxy's protocol; the kinds it has pass", () => {
    const proxies = 'proxies:\n  cache: {listen: "127.0.0.1:0", upstream: "127.0.0.1:1", protocol: redis}\n  web: {listen: "127.0.0.1:0", upstream: "127.0.0.1:2", protocol: http}\n';
    expect(fail(`name: x\ncommand: echo\n${proxies}fixtures:\n  f: {proxy: cache, behaviors: {error: {percent: 5, kind: READONLY}}}\n  g: {proxy: web, behaviors: {error: {percent: 5, kind: READONLY}}}\n`).message)
      .toContain(`${FILE}:8:57: fixtures.g.behaviors.error.kind: behavior "error": option "kind": http has no error kind "READONLY", redis has: is the proxy's protocol right? (http kinds: 429, 500, 502, 503, 504, or any other status from 400 to 599)\n  hint:`);
    expect(fail(`name: x\ncommand: echo\nduration: 60\n${proxies}chaos:\n  - {proxy: web, at: 1s, for: 2s, behaviors: {error: {percent: 50, kind: 502}}}\n  - {proxy: cache, at: 1s, for: 2s, behaviors: {error: {percent: 50, kind: 502}}}\n`).message)
      .toContain(`${FILE}:9:76: chaos.1.behaviors.error.kind: behavior "error": option "kind": redis has no error kind "502", http has`);
    // YAML reads `kind: 503` as a number: it is the HTTP status all the same.
    const c = parse(`name: x\ncommand: echo\n${proxies}fixtures:\n  f: {proxy: web, behaviors: {error: {percent: 5, kind: 503}}}\n  g: {proxy: cache, behaviors: {fail_first: {percent: 100, kind: LOADING}}}\n`);
    expect(c.fixtures.map((f) => f.name)).toEqual(['f', 'g']);
  });

  it('finds .marteau.yml in a directory and says what to do when there is none', async () => {
    const dir = await temp('cfg');
    await expect(loadMarteauConfig(dir, opts)).rejects.toThrow(`${dir}: no .marteau.yml (nor *.marteau.yml) in this directory\n  hint: create one (see \`marteau-tui schema\`), or give the path of a config file`);
    // Several *.marteau.yml and no .marteau.yml: one job cannot be several, so it asks which.
    await writeFile(path.join(dir, 'a.marteau.yml'), 'name: a\ncommand: [true]\n');
    await writeFile(path.join(dir, 'b.marteau.yml'), 'name: b\ncommand: [true]\n');
    await expect(loadMarteauConfig(dir, opts)).rejects.toThrow(`${dir}: this directory holds 2 configs (a.marteau.yml, b.marteau.yml) and no .marteau.yml`);
    await writeFile(path.join(dir, '.marteau.yml'), 'name: here\ncommand: [true]\n');
    expect((await loadMarteauConfig(dir, opts)).name).toBe('here');
  });

  it('has a JSON Schema for editors that knows every key', () => {
    const s = marteauJsonSchema() as { properties: Record<string, unknown>; additionalProperties: boolean };
    expect(Object.keys(s.properties)).toEqual(expect.arrayContaining(['name', 'test', 'script', 'xml', 'wdir', 'nodes', 'deps', 'fixtures', 'runner', 'cycles', 'duration', 'proxies', 'thresholds', 'notify', 'env']));
    expect(s.additionalProperties).toBe(false);
    expect(JSON.stringify(nodesJsonSchema())).toContain('accept-new');
  });
});

describe('marteau.nodes.yml', () => {
  const nodes = (text: string) => parseNodesConfig(parseYaml('/cfg/nodes.yml', text));

  it('the packaged file holds this machine as `local`', async () => {
    const c = await loadNodesConfig(packagedNodesFile());
    expect(c.nodes).toEqual([{ type: 'local', name: 'local', maxJobs: 1, tags: [], enabled: true }]);
    expect(await readFile(packagedNodesFile(), 'utf8')).toContain('local:');
  });

  it('funkload: a local path is relative to the file; an SSH node\'s is the node\'s own', () => {
    const c = nodes('nodes:\n  local: {funkload: venvs/fl}\n  a: {host: 127.0.0.2, funkload: /opt/fl/bin}\n  b: {host: 127.0.0.3}\n');
    expect(c.nodes.map((n) => n.funkload)).toEqual(['/cfg/venvs/fl', '/opt/fl/bin', undefined]);
  });

  it('ssh nodes get defaults; relative paths are relative to the file; ~ is home', () => {
    const c = nodes('nodes:\n  a: {host: 127.0.0.2, identity: keys/id, known_hosts: ~/kh}\nprobe: {interval: 2s, timeout: 500ms}\n');
    expect(c.nodes[0]).toMatchObject({ type: 'ssh', host: '127.0.0.2', port: 22, identity: '/cfg/keys/id', knownHosts: path.join(os.homedir(), 'kh'), hostKey: 'strict', maxJobs: 1, connectTimeoutMs: 10_000 });
    expect(c).toMatchObject({ probeIntervalMs: 2000, probeTimeoutMs: 500 });
  });

  it.each([
    ['a misspelt key', 'nodes:\n  a: {host: h, prot: 1}\n', '/cfg/nodes.yml:2:16: nodes.a.prot: unknown key "prot"; did you mean "port"?'],
    ['a host on a local node', 'nodes:\n  a: {type: local, host: h}\n', '/cfg/nodes.yml:2:20: nodes.a.host: a local node takes no "host"\n  hint: remove it, or set type: ssh'],
    ['a bad host key policy', 'nodes:\n  a: {host: h, host_key: yes}\n', '/cfg/nodes.yml:2:26: nodes.a.host_key: expected one of "strict", "accept-new", got the string "yes"\n  hint: strict (default)'],
    ['a port out of range', 'nodes:\n  a:\n    host: h\n    port: 70000\n', '/cfg/nodes.yml:4:11: nodes.a.port: must be <= 65535, got the integer 70000'],
    ['a list of nodes', 'nodes: []\n', '/cfg/nodes.yml:1:8: nodes: expected a map, got a list'],
  ])('%s', (_, text, expected) => {
    let message = '';
    try {
      nodes(text);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.startsWith(expected), `got:\n${message}`).toBe(true);
  });
});

describe('command words', () => {
  it('splits like a shell without expanding anything', () => {
    expect(splitWords(`a "b c" 'd $(e)' f\\ g $HOME ;|> "x\\"y"`)).toEqual(['a', 'b c', 'd $(e)', 'f g', '$HOME', ';|>', 'x"y']);
    expect(splitWords('  ')).toEqual([]);
    expect(splitWords(`''`)).toEqual(['']);
  });
});
