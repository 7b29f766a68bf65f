/**
 * Real `.marteau.yml` files from public repositories (fixtures/marteau-yml/, origins in its
 * ORIGIN.md), loaded as the engine loads them: each valid one is a FunkLoad job with the keys
 * Marteau gave it; the invalid ones say where and what to change.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { loadMarteauConfig, type MarteauConfig } from '../src/config/marteau.js';
import { configOptions } from './helpers/marteau-config.js';
import { project, removeTemp } from './helpers/projects.js';

afterAll(removeTemp);

const fixtures = new URL('../fixtures/marteau-yml/', import.meta.url).pathname;
const text = (name: string) => readFileSync(path.join(fixtures, name), 'utf8');

/** The project the file came from, reduced to what loading checks: the test module where wdir says. */
async function load(name: string): Promise<{ dir: string; config: MarteauConfig }> {
  const raw = text(name);
  const wdir = /^wdir: (\S+)$/m.exec(raw)?.[1] ?? '.';
  const script = /^script: (\S+)$/m.exec(raw)![1];
  const dir = await project(raw, { [path.join(wdir, script)]: 'from funkload.FunkLoadTestCase import FunkLoadTestCase\n' });
  return { dir, config: await loadMarteauConfig(dir, configOptions) };
}

type Expected = Partial<Pick<MarteauConfig, 'name' | 'script' | 'test' | 'xml' | 'wdir' | 'nodes' | 'deps' | 'cycles' | 'durationMs' | 'email'>>;

const VALID: [string, Expected][] = [
  ['mozilla-services__marteau.marteau.yml', { name: 'foo', test: 'StupidTest.test_simple', script: 'loadtest.py', xml: 'simple-bench.xml', wdir: 'marteau/tests', nodes: 1, deps: [], email: [] }],
  ['mozilla-services__marteau__tests.marteau.yml', { name: 'foo', test: 'StupidTest.test_simple', script: 'loadtest.py', xml: 'simple-bench.xml', wdir: undefined, nodes: 1 }],
  ['mozilla-services__tokenserver@442e6a8.marteau.yml', { name: 'TokenServer', test: 'NodeAssignmentTest.test_empty', script: 'loadtest.py', wdir: 'loadtest', deps: ['PyBrowserID'], nodes: 2 }],
  ['mozilla-services__tokenserver@ec64781.marteau.yml', { name: 'TokenServer', test: 'NodeAssignmentTest.test_realistic', wdir: 'loadtest', deps: ['PyBrowserID'], nodes: 1 }],
  ['mozilla__marketplace-loadtest.marteau.yml', { name: 'MarketPlace', test: 'MarketplaceTest.test_marketplace', script: 'loadtest.py', nodes: 9, cycles: undefined, durationMs: undefined }],
  // FunkLoad's "10:20:30" as a quoted string; email: the recipient of the report link.
  ['mozilla__picl-server.marteau.yml', { name: 'PICL-Server', wdir: 'loadtest', script: 'stress.py', test: 'StressTest.test_hello_world', nodes: 1, email: ['rfkelly@mozilla.com'], cycles: [10, 20, 30], durationMs: 10_000 }],
  // cycles as one int.
  ['crankycoder__heka-marketplace-loadtest.marteau.yml', { name: 'HekaMarketPlace', test: 'HekaMarketplaceTest.test_marketplace', nodes: 9, cycles: [30], durationMs: 120_000, deps: ['gevent'] }],
  ['tarekziade__geoip_server.marteau.yml', { name: 'GeoIPTest', test: 'GeoIPTest.test_geoip', wdir: 'loadtest', nodes: 9, deps: ['gevent'] }],
  ['tarekziade__marteau-demo.marteau.yml', { name: 'StackOF', wdir: 'loadtest', script: 'stress.py', test: 'StressTest.test_example', nodes: 4, cycles: [10, 20, 30], durationMs: 60_000 }],
];

describe('real .marteau.yml files from public repositories', () => {
  it.each(VALID)('%s is a FunkLoad job with its keys', async (name, expected) => {
    const { dir, config } = await load(name);
    expect(config.runner).toBe('funkload');
    expect(config).toMatchObject(expected);
    expect(config.workDir).toBe(path.join(dir, expected.wdir ?? config.wdir ?? ''));
    // The result file Marteau named is fetched back with the job.
    if (config.xml) expect(config.artifacts).toContain(config.xml);
  });

  it('every fixture file is covered by this test', async () => {
    const { readdirSync } = await import('node:fs');
    const covered = new Set([...VALID.map(([n]) => n), ...INVALID.map(([n]) => n)]);
    expect(readdirSync(fixtures).filter((f) => f.endsWith('.yml')).sort()).toEqual([...covered].sort());
  });

  const INVALID: [string, RegExp][] = [
    // Marteau's own test config: Python plugins have no equivalent here; the hint says what to write instead.
    ['mozilla-services__marteau__tests-marteau.yml', /^\S+:8:1: lookup: Marteau's lookup: imports Python modules that register fixture classes; marteau-tui has no Python fixtures\n {2}hint: remove lookup:, and describe each fixture as a proxy change: /],
    // `duration:120` (the docs' typo, copied by a user): PyYAML refused it too.
    ['mozilla-services__marteau__docs-example.marteau.yml', /^\S+:7:1: YAML syntax: Implicit keys need to be on a single line\n {2}hint: a space is missing after the colon: write "duration: 120"$/],
    ['redsnapper8t8__marteau-tests.marteau.yml', /^\S+:7:1: YAML syntax: Implicit keys need to be on a single line\n {2}hint: a space is missing after the colon: write "duration: 120"$/],
  ];

  it.each(INVALID)('%s is refused at its line, with what to change', async (name, message) => {
    const e = await load(name).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toMatch(message);
  });

  it('fixed as the hint says, the docs example is a FunkLoad job with every documented key', async () => {
    const dir = await project(text('mozilla-services__marteau__docs-example.marteau.yml').replace('duration:120', 'duration: 120'), { 'loadtest.py': '' });
    const config = await loadMarteauConfig(dir, configOptions);
    expect(config).toMatchObject({ runner: 'funkload', name: 'MarketPlace', nodes: 9, email: ['tarek@ziade.org'], cycles: [10, 20, 30, 100], durationMs: 120_000, deps: ['PyBrowserID'] });
  });
});

describe('what a Marteau user may leave out or get wrong', () => {
  const fail = async (yaml: string, files: Record<string, string> = {}) => {
    const dir = await project(yaml, files);
    return loadMarteauConfig(dir, configOptions).then(
      () => '',
      (e: Error) => e.message.slice(dir.length + '/.marteau.yml'.length),
    );
  };

  it('script without test: says to add test', async () => {
    expect(await fail('name: x\nscript: loadtest.py\n', { 'loadtest.py': '' })).toBe(
      ':1:1: missing required key "test"\n  hint: the FunkLoad test to bench, ClassName.method_name, e.g. test: Simple.test_simple',
    );
  });

  it('test without script: says to add script', async () => {
    expect(await fail('name: x\ntest: Simple.test_simple\n')).toBe(':1:1: missing required key "script"\n  hint: the FunkLoad test module, relative to wdir, e.g. script: loadtest.py');
  });

  it('nothing to run: names the three ways', async () => {
    expect(await fail('name: x\nnodes: 2\n')).toBe(
      ':1:1: missing required key "scenario"\n  hint: nothing to run yet: add script: and test: (a FunkLoad test, as in Marteau), scenario: (HTTP steps for the builtin runner) or command:',
    );
  });

  it('cycles in each form Marteau and FunkLoad wrote them', async () => {
    for (const [yaml, cycles] of [
      ['cycles: 10:20:30', [10, 20, 30]],
      ["cycles: '5'", [5]],
      ['cycles: 7', [7]],
      ['cycles: [1, 2]', [1, 2]],
    ] as const) {
      const dir = await project(`name: x\nscript: t.py\ntest: A.b\n${yaml}\n`, { 't.py': '' });
      expect((await loadMarteauConfig(dir, configOptions)).cycles).toEqual(cycles);
    }
    expect(await fail('name: x\nscript: t.py\ntest: A.b\ncycles: 10:x\n', { 't.py': '' })).toMatch(/^:4:9: cycles: expected cycles of concurrent users/);
  });

  it('email: one address or a list; a malformed one is refused at its line', async () => {
    const dir = await project('name: x\nscript: t.py\ntest: A.b\nemail: [a@example.com, ops@localhost]\n', { 't.py': '' });
    expect((await loadMarteauConfig(dir, configOptions)).email).toEqual(['a@example.com', 'ops@localhost']);
    expect(await fail('name: x\nscript: t.py\ntest: A.b\nemail: tarek\n', { 't.py': '' })).toMatch(/^:4:8: email: expected an e-mail address/);
  });
});
