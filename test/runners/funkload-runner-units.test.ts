/**
 * The funkload runner's pure parts: fl-run-bench's console lines (against the recorded-format
 * transcripts in fixtures/funkload/) and the argv of fl-run-bench and fl-build-report.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseYaml } from '../../src/config/errors.js';
import { parseMarteauConfig } from '../../src/config/marteau.js';
import { defaultRegistry } from '../../src/proxy/proxy.js';
import { defaultRunners } from '../../src/runners/index.js';
import { flBuildReportArgv, flRunBenchArgv, maskUrlPasswords, secondsArg, workerSpec } from '../../src/runners/funkload/argv.js';
import { BenchConsole, parseConsoleLine, progressAfter, type ConsoleEvent } from '../../src/runners/funkload/console.js';

const transcript = (name: string) => readFileSync(new URL(`../../fixtures/funkload/${name}.recorded-format.txt`, import.meta.url), 'utf8').split('\n');

describe('console lines', () => {
  it('reads a whole local bench transcript into cycles, outcomes and the result path', () => {
    const c = new BenchConsole();
    const events: ConsoleEvent[] = [];
    for (const l of transcript('simple-bench')) {
      const e = c.line(l);
      if (e) events.push(e);
    }
    expect(c.state).toMatchObject({
      test: 'Simple.test_simple',
      cycles: [1, 2],
      durationS: 10,
      cycle: 1,
      users: 2,
      success: 5,
      failure: 1,
      error: 1,
      status: 'ERROR',
      xmlFiles: ['/tmp/funkload-demo/simple/simple-bench.xml'],
      problems: [],
    });
    // The second cycle: 2 successes over 10 s.
    expect(c.state.testsPerSecond).toBeCloseTo(0.2);
    expect(events.filter((e) => e.kind === 'cycle')).toEqual([
      { kind: 'cycle', cycle: 0, users: 1 },
      { kind: 'cycle', cycle: 1, users: 2 },
    ]);
    expect(events.filter((e) => e.kind === 'cycle-result').map((e) => e.kind === 'cycle-result' && e.status)).toEqual(['SUCCESSFUL', 'ERROR']);
  });

  it('counts outcome marks on the recording line live, before the cycle result corrects them', () => {
    const c = new BenchConsole();
    c.line('* Cycle duration: 10s');
    c.line('Cycle #0 with 3 virtual users');
    // Thread-start dots are not test outcomes; an F printed during ramp-up is.
    c.line('* Starting threads: ...F done.');
    expect(c.state).toMatchObject({ cycle: 0, users: 3, success: 0, failure: 1, error: 0 });
    c.line('* Logging for 10s (until 2011-01-26T23:23:01.301664): ..E..F. done.');
    expect(c.state).toMatchObject({ success: 5, failure: 2, error: 1 });
    c.line('* Cycle result: **ERROR**, 5 success, 1 failure, 1 errors.');
    expect(c.state).toMatchObject({ success: 5, failure: 1, error: 1, testsPerSecond: 0.5 });
  });

  it('strips ANSI colours and carriage returns', () => {
    expect(parseConsoleLine('* Logging for 5s (until 2011-01-26T23:23:01): \x1b[32;01m.\x1b[0m\x1b[31;01mF\x1b[0m done.\r')).toEqual({
      kind: 'phase',
      phase: 'recording',
      seconds: 5,
      success: 1,
      failure: 1,
      error: 0,
    });
  });

  it('reads a distributed transcript: workers and the result file each sent back', () => {
    const c = new BenchConsole();
    for (const l of transcript('simple-distributed')) c.line(l);
    expect(c.state).toMatchObject({
      workers: ['node1', 'node2'],
      workersReturned: ['node1', 'node2'],
      distributedDir: '/tmp/funkload-demo/simple/log-distributed',
      xmlFiles: ['/tmp/funkload-demo/simple/log-distributed/node1-simple-bench.xml', '/tmp/funkload-demo/simple/log-distributed/node2-simple-bench.xml'],
    });
  });

  it('tells a viewer about cycles and outcomes, and words for the distributed phases', () => {
    const c = new BenchConsole();
    const seen = transcript('simple-bench').flatMap((l) => {
      const e = c.line(l);
      const p = e && progressAfter(e, c.state);
      return p ? [p] : [];
    });
    expect(seen[0]).toEqual({ cycle: 0, cycles: 2, users: 1, message: '0 tests: 0 failed, 0 errors' });
    expect(seen.at(-1)).toEqual({ cycle: 1, cycles: 2, users: 2, message: '7 tests: 1 failed, 1 error; last cycle 0.20 successful tests/s' });
    const d = new BenchConsole();
    const words = transcript('simple-distributed').flatMap((l) => {
      const e = d.line(l);
      const p = e && progressAfter(e, d.state);
      return p?.message ? [p.message] : [];
    });
    expect(words).toEqual(['preparing 2 FunkLoad workers', '2 workers running', 'worker node1 done (1/2)', 'worker node2 done (2/2)']);
  });

  it('keeps the problems FunkLoad reports and ignores what it does not know', () => {
    const c = new BenchConsole();
    c.line("ERROR: Can not create more than 300 threads, try a smaller stack size using: 'ulimit -s 2048' for example");
    c.line('node3 is not connected, removing from pool.');
    c.line('* Aborting run...');
    expect(c.state.problems).toEqual([
      "ERROR: Can not create more than 300 threads, try a smaller stack size using: 'ulimit -s 2048' for example",
      'worker node3 is not connected, removed from the pool',
    ]);
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

  it('distributes over workers with the packages as one space-separated word', () => {
    expect(
      flRunBenchArgv({ script: 't.py', test: 'A.b', cycles: [5], distribute: { workers: ['load@127.0.0.2:2222', 'box'], logPath: '/tmp/j-funkload/distributed', packages: ['gevent', './vendor/x'] } }),
    ).toEqual([
      'fl-run-bench',
      '--cycles=5',
      '--no-color',
      '--distribute',
      '--distribute-workers=load@127.0.0.2:2222,box',
      '--distributed-log-path=/tmp/j-funkload/distributed',
      '--distributed-packages=gevent ./vendor/x',
      't.py',
      'A.b',
    ]);
    expect(flRunBenchArgv({ script: 't.py', test: 'A.b', distribute: { workers: ['a'], logPath: '/l', packages: [] } })).not.toContainEqual(expect.stringMatching(/packages/));
  });

  it('names workers as FunkLoad reads them', () => {
    expect(workerSpec({ host: '127.0.0.2', port: 2222, user: 'load' })).toBe('load@127.0.0.2:2222');
    expect(workerSpec({ host: 'box', port: 22, user: 'load' })).toBe('load@box');
    expect(workerSpec({ host: 'box' })).toBe('box');
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
  const parse = (text: string) => parseMarteauConfig(parseYaml(file, text), dir, { runners: defaultRunners, behaviors: defaultRegistry });
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
