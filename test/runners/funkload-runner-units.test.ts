/**
 * The funkload runner's pure parts: fl-run-bench's console lines (against real FunkLoad 1.17.2
 * output in fixtures/funkload/real/) and the argv of fl-run-bench and fl-build-report.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseYaml } from '../../src/config/errors.js';
import { parseMarteauConfig } from '../../src/config/marteau.js';
import { defaultRunners } from '../../src/runners/index.js';
import { writeReports } from '../../src/report/index.js';
import { flBuildReportArgv, flRunBenchArgv, maskUrlPasswords, secondsArg } from '../../src/runners/funkload/argv.js';
import { BenchConsole, parseConsoleLine, progressAfter, type ConsoleEvent } from '../../src/runners/funkload/console.js';
import { locateFunkload } from '../../src/runners/funkload/tools.js';
import type { RunnerNode } from '../../src/core/runner-contract.js';
import { LocalExecutor } from '../../src/exec/local.js';
import { defaultRegistry } from '../../behaviors/index.js';

const real = (name: string) => readFileSync(new URL(`../../fixtures/funkload/real/${name}`, import.meta.url), 'utf8').split('\n');

/** Feeds a real console to a BenchConsole; returns it and the events it made. */
function feed(lines: string[]): { c: BenchConsole; events: ConsoleEvent[] } {
  const c = new BenchConsole();
  const events: ConsoleEvent[] = [];
  for (const l of lines) {
    const e = c.line(l);
    if (e) events.push(e);
  }
  return { c, events };
}

/** FunkLoad's own count of each cycle (`* Cycle result: ..., N success, N failure, N errors.`), colours stripped. */
const cycleResults = (lines: string[]) =>
  lines.flatMap((l) => {
    const m = /Cycle result: .*?, (\d+) success, (\d+) failure, (\d+) errors\./.exec(l);
    return m ? [{ success: Number(m[1]), failure: Number(m[2]), error: Number(m[3]) }] : [];
  });

describe('console lines of the real fl-run-bench (fixtures/funkload/real)', () => {
  it.each(['simple-bench.console.txt', 'dropped-connection-bench.console.txt', 'errors-bench.console.txt', 'errors-bench.no-color.console.txt'])(
    '%s: the marks of each recording line are what FunkLoad counted in that cycle',
    (name) => {
      const lines = real(name);
      const { events } = feed(lines);
      const recorded = events.flatMap((e) => (e.kind === 'recording' ? [{ success: e.success, failure: e.failure, error: e.error }] : []));
      expect(recorded).toEqual(cycleResults(lines));
      expect(recorded.length).toBeGreaterThan(1);
    },
  );

  it('reads a whole coloured console into cycles, outcomes and the result path', () => {
    const { c, events } = feed(real('simple-bench.console.txt'));
    expect(c.state).toMatchObject({
      test: 'Simple.test_simple',
      cycles: [1, 2, 4],
      durationS: 5,
      cycle: 2,
      users: 4,
      // FunkLoad's totals: `* Success: 60`, `* Failures: 11`, `* Errors: 0`.
      success: 60,
      failure: 11,
      error: 0,
      status: 'FAILURE',
      xmlFiles: ['/tmp/flreal/simple-bench.xml'],
      problems: [],
    });
    // The last cycle: 36 successes over 5 s.
    expect(c.state.testsPerSecond).toBeCloseTo(7.2);
    expect(events.filter((e) => e.kind === 'cycle')).toEqual([
      { kind: 'cycle', cycle: 0, users: 1 },
      { kind: 'cycle', cycle: 1, users: 2 },
      { kind: 'cycle', cycle: 2, users: 4 },
    ]);
    expect(events.filter((e) => e.kind === 'cycle-result').map((e) => e.kind === 'cycle-result' && e.status)).toEqual(['FAILURE', 'FAILURE', 'FAILURE']);
  });

  it('an ERROR bench (setUp raising): E marks counted, status ERROR', () => {
    const { c } = feed(real('errors-bench.console.txt'));
    expect(c.state).toMatchObject({ success: 23, failure: 5, error: 14, status: 'ERROR' });
  });

  it('marks on the Starting threads / Waiting end of threads lines are not counted, coloured or not', () => {
    const lines = real('errors-bench.no-color.console.txt');
    // Real: `* Starting threads: ..EF done.` with 2 users: two thread dots, then an error and a failure FunkLoad does not count.
    expect(lines).toContain('* Starting threads: ..EF done.');
    const c = new BenchConsole();
    c.line('Cycle #1 with 2 virtual users');
    c.line('* Starting threads: ..EF done.');
    c.line('* Starting threads: .\x1b[32;01m.\x1b[0m. done.');
    c.line('* Waiting end of threads: \x1b[31;01mF\x1b[0m\x1b[32;01m.\x1b[0m\x1b[32;01m.\x1b[0m.\x1b[32;01m.\x1b[0m... done.');
    expect(c.state).toMatchObject({ success: 0, failure: 0, error: 0 });
    expect(parseConsoleLine('* Waiting end of threads: .... done.')).toEqual({ kind: 'phase', phase: 'stopping' });
  });

  it('counts the marks of the recording line live, then takes the cycle result', () => {
    const c = new BenchConsole();
    c.line('* Cycle duration: 2s');
    c.line('Cycle #0 with 3 virtual users');
    c.line('* Logging for 2s (until 2026-12-02T00:04:14.631230): ..E.E...E..E..E..EFFE..E..E done.');
    expect(c.state).toMatchObject({ cycle: 0, users: 3, success: 16, failure: 2, error: 9 });
    c.line('* Cycle result: **\x1b[31;01mERROR\x1b[0m**, 16 success, 2 failure, 9 errors.');
    expect(c.state).toMatchObject({ success: 16, failure: 2, error: 9, testsPerSecond: 8 });
  });

  it('strips ANSI colours and carriage returns', () => {
    expect(parseConsoleLine('* Logging for 5s (until 2026-12-01T21:57:02.378932): \x1b[32;01m.\x1b[0m\x1b[31;01mF\x1b[0m done.\r')).toEqual({
      kind: 'recording',
      seconds: 5,
      success: 1,
      failure: 1,
      error: 0,
    });
  });

  // FunkLoad's --distribute needs paramiko, so these lines cannot be captured here: they are what
  // Distributed.py's trace() calls print (a dot per worker, no newline before a dropped worker).
  it("reads --distribute's lines as Distributed.py prints them", () => {
    expect(parseConsoleLine('* Preparing sandboxes for 2 workers..')).toEqual({ kind: 'preparing', workers: 2 });
    expect(parseConsoleLine('* Preparing sandboxes for 2 workers.node2 is not connected, removing from pool.')).toEqual({ kind: 'preparing', workers: 2, dropped: 'node2' });
    expect(parseConsoleLine('* Starting 2 workers..')).toEqual({ kind: 'starting-workers', workers: 2 });
    expect(parseConsoleLine('* [127.0.0.2_2222] returned')).toEqual({ kind: 'worker-returned', worker: '127.0.0.2_2222' });
    expect(parseConsoleLine('* Received bench log from [node1] into /tmp/log/node1-simple-bench.xml')).toEqual({ kind: 'received', worker: 'node1', path: '/tmp/log/node1-simple-bench.xml' });
    const c = new BenchConsole();
    for (const l of ['* Workers :node1,node2,node3', '* Preparing sandboxes for 3 workers.node2 is not connected, removing from pool.', 'node3 is not connected, removing from pool.', '* Starting 1 workers.', '* [node1] returned', '* Received bench log from [node1] into /l/node1-b.xml']) c.line(l);
    expect(c.state).toMatchObject({
      workers: ['node1', 'node2', 'node3'],
      workersReturned: ['node1'],
      xmlFiles: ['/l/node1-b.xml'],
      problems: ['worker node2 is not connected, removed from the pool', 'worker node3 is not connected, removed from the pool'],
    });
  });

  it('tells a viewer about cycles and the tests FunkLoad counted, summed over nodes', () => {
    const one = new BenchConsole();
    const seen = real('simple-bench.console.txt').flatMap((l) => {
      const e = one.line(l);
      const p = e && progressAfter(e, [one.state]);
      return p ? [p] : [];
    });
    expect(seen[0]).toEqual({ cycle: 0, cycles: 3, users: 1, message: '0 tests: 0 failed, 0 errors' });
    expect(seen.at(-1)).toEqual({ cycle: 2, cycles: 3, users: 4, message: '71 tests: 11 failed, 0 errors; last cycle 7.20 successful tests/s' });
    // Two nodes: the least advanced cycle, the users and tests of both.
    const other = feed(real('errors-bench.console.txt').slice(0, 40)).c;
    expect(other.state.cycle).toBe(1);
    expect(progressAfter({ kind: 'cycle', cycle: 1, users: 2 }, [one.state, other.state])).toMatchObject({ cycle: 1, users: 6 });
    expect(progressAfter({ kind: 'preparing', workers: 2 }, [one.state])?.message).toBe('preparing 2 FunkLoad workers');
  });

  it('keeps the problems FunkLoad reports and ignores what it does not know', () => {
    const c = new BenchConsole();
    c.line("ERROR: Can not create more than 300 threads, try a smaller stack size using: 'ulimit -s 2048' for example");
    c.line('* Aborting run...');
    expect(c.state.problems).toEqual(["ERROR: Can not create more than 300 threads, try a smaller stack size using: 'ulimit -s 2048' for example"]);
    for (const l of ['', '=====', '* setUpBench hook: ... done.', 'Cycle #x with 2 virtual users', '* Cycles: 1, 2']) expect(parseConsoleLine(l)).toBeUndefined();
  });
});

describe('argv', () => {
  it('fl-run-bench with every override as one --option=value word, then module and test', () => {
    expect(
      flRunBenchArgv({ script: 'load test.py', test: 'Simple.test_simple', cycles: [1, 10, 20], duration: 10, startupDelay: 0.01, sleepTime: 0.2, sleepTimeMin: 0, sleepTimeMax: 0.5, url: 'http://127.0.0.1:8080/?a=1&b=2' }),
    ).toEqual([
      'fl-run-bench',
      '--cycles=1:10:20',
      '--duration=10',
      '--startup-delay=0.01',
      '--test-sleep-time=0.2',
      '--sleep-time-min=0',
      '--sleep-time-max=0.5',
      '--url=http://127.0.0.1:8080/?a=1&b=2',
      '--no-color',
      'load test.py',
      'Simple.test_simple',
    ]);
  });

  it('leaves unset keys to the .conf file', () => {
    expect(flRunBenchArgv({ script: 'loadtest.py', test: 'A.b' })).toEqual(['fl-run-bench', '--no-color', 'loadtest.py', 'A.b']);
  });

  it('seconds print without float noise', () => {
    expect(secondsArg(0.1 + 0.2)).toBe('0.3');
    expect(secondsArg(1.5)).toBe('1.5');
    expect(secondsArg(3)).toBe('3');
  });

  it('fl-build-report writes HTML into an exact directory, merging several files', () => {
    expect(flBuildReportArgv({ files: ['/r/a.xml', '/r/b.xml'], reportDir: '/r/report', apdexT: 0.5 })).toEqual([
      'fl-build-report',
      '--html',
      '--skip-definitions',
      '--apdex-T=0.5',
      '--report-directory=/r/report',
      '/r/a.xml',
      '/r/b.xml',
    ]);
  });

  it('hides passwords in URLs before a line is logged', () => {
    expect(maskUrlPasswords('* Server: http://shop:s3cr:et@127.0.0.1:8080/login?next=/a@b')).toBe('* Server: http://shop:***@127.0.0.1:8080/login?next=/a@b');
    expect(maskUrlPasswords('--url=https://u:p@h/ and http://h/x')).toBe('--url=https://u:***@h/ and http://h/x');
    expect(maskUrlPasswords('http://user@host/ stays')).toBe('http://user@host/ stays');
  });
});

describe('config', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'marteau-fl-config-'));
  writeFileSync(path.join(dir, 'loadtest.py'), 'class Simple: pass\n');
  const file = path.join(dir, '.marteau.yml');
  const parse = (text: string) => parseMarteauConfig(parseYaml(file, text), dir, { runners: defaultRunners(writeReports), behaviors: defaultRegistry });
  const base = 'runner: funkload\nscript: loadtest.py\ntest: Simple.test_simple\n';
  const error = (text: string): string => {
    try {
      parse(text);
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    throw new Error('expected a ConfigError');
  };

  it("accepts Marteau's keys", () => {
    const c = parse(`${base}cycles: "10:20"\nduration: 30\ndeps: [gevent]\nnodes: 2\nxml: simple-bench.xml\n`);
    expect(c).toMatchObject({ runner: 'funkload', script: 'loadtest.py', test: 'Simple.test_simple', cycles: [10, 20], durationMs: 30_000, deps: ['gevent'], nodes: 2 });
  });

  it('points at the offending line with a way out', () => {
    expect(error('runner: funkload\nscript: loadtest.py\ntest: test_simple\n')).toBe(`${file}:3:7: test: expected ClassName.method_name, e.g. Simple.test_simple`);
    expect(error(`${base}deps:\n  - gevent\n  - --pre\n`)).toMatch(new RegExp(`^${file}:6:5: deps\\.1: a dependency cannot start with "-"`));
    expect(error(`${base}duration: 2.5\n`)).toBe(`${file}:4:11: duration: fl-run-bench takes a whole number of seconds per cycle\n  hint: e.g. duration: 10`);
    expect(error(`${base}cycle_time: 1\n`)).toBe(
      `${file}:4:13: cycle_time: fl-run-bench has no command-line option for cycle_time\n  hint: set "cycle_time = N" in the [bench] section of Simple.conf`,
    );
    expect(error(`${base}thresholds: {p95: "fast"}\n`)).toMatch(new RegExp(`^${file}:4:19: thresholds\\.p95`));
    expect(error('runner: funkload\nscript: ../other/loadtest.py\ntest: A.b\n')).toMatch(new RegExp(`^${file}:2:9: script: must be a path inside the project`));
  });
});

describe('where FunkLoad is on a node (the locate script, run by sh)', () => {
  const node = (funkload?: string): RunnerNode => ({ name: 'n', index: 0, kind: 'local', executor: new LocalExecutor('n'), funkload });
  const locate = (n: RunnerNode, env: Record<string, string> = {}) => locateFunkload(n, { cwd: tmpdir(), env, signal: new AbortController().signal });
  const install = (files: Record<string, string>) => {
    const d = mkdtempSync(path.join(tmpdir(), 'marteau-fl-install-'));
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
      writeFileSync(path.join(d, f), text, { mode: 0o755 });
    }
    return d;
  };

  it("a system install on the PATH: FunkLoad's Python from fl-run-bench's #! line", async () => {
    const d = install({ 'bin/fl-run-bench': '#!/usr/bin/env python2.7\n', 'bin/fl-build-report': '#!/usr/bin/env python2.7\n' });
    expect(await locate(node(), { PATH: `${d}/bin:/usr/bin:/bin` })).toEqual({
      bin: `${d}/bin`,
      runBench: `${d}/bin/fl-run-bench`,
      buildReport: `${d}/bin/fl-build-report`,
      python: ['/usr/bin/env', 'python2.7'],
    });
  });

  it('a virtualenv given by its directory: its own python; no fl-build-report there', async () => {
    const d = install({ 'bin/fl-run-bench': '#!/x/venv/bin/python\n', 'bin/python': '' });
    expect(await locate(node(d))).toEqual({ bin: `${d}/bin`, runBench: `${d}/bin/fl-run-bench`, buildReport: undefined, python: [`${d}/bin/python`] });
  });

  it('the vendored tree: fl-python beside fl-run-bench', async () => {
    const d = install({ 'fl-run-bench': '#!/usr/bin/env bash\n', 'fl-python': '' });
    expect((await locate(node(`${d}/fl-run-bench`))).python).toEqual([`${d}/fl-python`]);
  });

  it('nothing there: says which setting to fix', async () => {
    await expect(locate(node('/nonexistent/venv'))).rejects.toThrow(
      'node "n": no fl-run-bench at /nonexistent/venv (nor in its bin/): set funkload: in marteau.nodes.yml to a FunkLoad virtualenv, its bin directory or the fl-run-bench file',
    );
    await expect(locate(node(), { PATH: '/nonexistent' })).rejects.toThrow(/^node "n": fl-run-bench \(FunkLoad\) is not installed/);
  });
});
