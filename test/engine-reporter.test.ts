/** The --ci view: exit codes from outcomes, plain lines off a terminal, NO_COLOR, safe output. */
import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../src/ci/exit-code.js';
import { CiReporter } from '../src/ci/reporter.js';
import { makeStyle, safeLine } from '../src/ci/style.js';
import type { EngineEvent } from '../src/core/events.js';
import type { Job } from '../src/core/jobs.js';

const job = (o: Partial<Job> = {}): Job => ({
  id: 'abcdef0123456789', name: 'shop', source: { kind: 'dir', dir: '/p', configFile: '/p/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [],
  seq: 0, status: 'succeeded', enqueuedAt: 0, enqueuedBy: { host: 'h', pid: 1 }, nodesTaken: ['local'], cancelRequested: false, procs: [], ...o,
});

function sink(isTTY: boolean) {
  let text = '';
  return { isTTY, write: (s: string) => { text += s; return true; }, text: () => text } as unknown as NodeJS.WritableStream & { isTTY: boolean; text(): string };
}

describe('exit codes', () => {
  it.each([
    [[], 0],
    [[job()], 0],
    [[job(), job({ status: 'failed', failure: 'test' })], 1],
    [[job({ status: 'failed', failure: 'test' }), job({ status: 'failed', failure: 'infrastructure' })], 3],
    [[job({ status: 'failed', failure: 'infrastructure' }), job({ status: 'failed', failure: 'config' })], 2],
    [[job({ status: 'failed', failure: 'config' }), job({ status: 'cancelled' })], 130],
    [[job({ status: 'interrupted' })], 130],
  ] as const)('%# -> %s', (jobs, code) => {
    expect(exitCodeFor(jobs as unknown as Job[])).toBe(code);
  });
});

describe('line output', () => {
  const at = new Date(2030, 0, 1, 12, 34, 56).getTime();
  const events: EngineEvent[] = [
    { type: 'job.enqueued', at, job: job({ status: 'queued', name: 'a "b"\nc' }) },
    { type: 'log.line', at, jobId: 'abcdef0123456789', node: 'local', stream: 'stdout', line: '\x1b[32mgreen\x1b[0m text\x07' },
    { type: 'log.line', at, jobId: 'abcdef0123456789', node: 'local', stream: 'stderr', line: 'oops' },
    { type: 'log.line', at, jobId: 'other0123456789a', node: 'local', stream: 'stdout', line: 'not mine' },
    { type: 'job.finished', at, job: job({ status: 'failed', failure: 'test' }), summary: 'failed: node "local": 1 in 1.0s', resultDir: '/s/jobs/abc', bell: true },
  ];

  it('off a terminal: plain lines, ANSI from tools stripped, control characters shown, other jobs left out', () => {
    const out = sink(false);
    const r = new CiReporter(out, { mine: (id) => id === 'abcdef0123456789', many: () => false }, {});
    for (const e of events) r.onEvent(e);
    expect(out.text()).toBe(
      [
        '12:34:56 job abcdef01 "a \\"b\\"\\nc" queued (runner command, 1 node)',
        '12:34:56 local | green text\\x07',
        '12:34:56 local ! oops',
        '12:34:56 job abcdef01 failed: node "local": 1 in 1.0s  results: /s/jobs/abc',
        '',
      ].join('\n'),
    );
    expect(r.bell).toBe(true);
    expect(r.summary([job(), job({ status: 'failed', durationMs: 1500 })], 1)).toBe('marteau-tui --ci: 2 jobs: 1 succeeded, 1 failed (1.5s) exit 1');
  });

  it('on a terminal: colours, unless NO_COLOR is set', () => {
    expect(makeStyle({ isTTY: true }, {}).color).toBe(true);
    expect(makeStyle({ isTTY: true }, { NO_COLOR: '1' }).color).toBe(false);
    expect(makeStyle({ isTTY: true }, { NO_COLOR: '' }).color).toBe(true); // no-color.org: empty means unset
    expect(makeStyle({ isTTY: false }, {}).color).toBe(false);
    const out = sink(true);
    const r = new CiReporter(out, { mine: () => true, many: () => true }, {});
    r.onEvent(events[4]);
    expect(out.text()).toContain('\x1b[31mfailed: node');
    expect(out.text()).toContain('\x1b[2m12:34:56\x1b[0m');
  });

  it('safeLine keeps a tool\'s colours only when colouring', () => {
    expect(safeLine('\x1b[1mbold\x1b[0m\r', false)).toBe('bold\\x0d');
    expect(safeLine('\x1b[1mbold\x1b[0m', true)).toBe('\x1b[1mbold\x1b[0m');
  });
});
