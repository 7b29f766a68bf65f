/**
 * The control center's pure parts: queue rows fitted to a width, the Output window (scroll,
 * follow, wrap, search), Tab completion of paths, `:` commands, message wrapping, and the
 * interval histogram behind the live p95 sparklines.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterAll, describe, expect, it } from 'vitest';
import { Histogram } from '../src/stats/histogram.js';
import type { ProxyView } from '../src/proxy/monitor.js';
import type { JobRow } from '../src/ui/backend.js';
import { parseCommand } from '../src/ui/commands.js';
import { openInBrowser } from '../src/ui/desktop.js';
import { footerHints, HELP_KEYS_WIDTH, helpLines, KEYS, type PaneId } from '../src/ui/keys.js';
import { MessageLog, messageLines } from '../src/ui/message-log.js';
import { behaviorOrder } from '../src/ui/mix-editor.js';
import { findNext, OUTPUT_START, outputWindow, scroll } from '../src/ui/output-view.js';
import { completePath } from '../src/ui/path-complete.js';
import { Footer, Header, MessageLine } from '../src/ui/components/Chrome.js';
import { ConfirmDialog, PromptDialog } from '../src/ui/components/Dialog.js';
import { PresetOverlay } from '../src/ui/components/PresetOverlay.js';
import { BehaviorsPane } from '../src/ui/panes/BehaviorsPane.js';
import { NodesPane } from '../src/ui/panes/NodesPane.js';
import { OutputPane } from '../src/ui/panes/OutputPane.js';
import { ProxiesPane } from '../src/ui/panes/ProxiesPane.js';
import { QueuePane } from '../src/ui/panes/QueuePane.js';
import { queueLayout, queueRow } from '../src/ui/queue-row.js';
import { scheduleLine } from '../src/ui/schedule-line.js';
import type { Modal } from '../src/ui/ui-state.js';
import { bar } from '../src/ui/sparkline.js';
import { ellipsisItems, ellipsisPair, wrapText } from '../src/ui/text.js';

const job = (o: Partial<JobRow> = {}): JobRow => ({
  id: '1eb11b95aaaa',
  name: 'demo-shop',
  state: 'running',
  nodes: ['local'],
  enqueuedAt: 0,
  startedAt: 1000,
  resultDir: '/r',
  details: [],
  progress: 'cycle 2/3 · 8 users',
  rate: 58.4,
  errorPercent: 2.14,
  p95Ms: 143.2,
  ...o,
});
const text = (w: number, j = job()) => queueRow(j, queueLayout(w, j.name.length, j.state.length, j.rate !== undefined, !!j.progress), 20_000).map((s) => s.text).join('');

describe('queue rows', () => {
  it('keep name, state and the live req/s, error % and p95 down to 80 columns, dropping low-value columns first', () => {
    expect(text(100)).toBe('1eb11b95 demo-shop running      19s local      58/s 2.1% p95 143ms cycle 2/3 · 8 users');
    const narrow = text(42);
    expect(narrow).toMatch(/^demo-shop running\s+58\/s 2\.1% p95 143ms$/);
    expect(narrow.length).toBeLessThanOrEqual(42);
    for (const w of [40, 52, 66, 90]) expect(text(w).length).toBeLessThanOrEqual(w);
  });

  it('line up across rows: a finished row gives the figures\' cells to how it went', () => {
    const layout = queueLayout(60, 9, 9, true);
    const running = queueRow(job(), layout, 20_000).map((x) => x.text).join('');
    const done = queueRow(job({ state: 'succeeded', endedAt: 48_000, rate: undefined, progress: '907 requests, 0.00 % errors, 19.3 req/s, p95 12.0ms' }), layout, 20_000).map((x) => x.text).join('');
    expect(running).toMatch(/^demo-shop running      19s   58\/s 2\.1% p95 143ms/);
    // Cut after a whole figure, never inside one.
    expect(done).toMatch(/^demo-shop succeeded    47s 907 requests, 0\.00 % errors …$/);
    expect(running.indexOf('19s')).toBe(done.indexOf('47s'));
  });

  it('with nothing running, a finished row keeps how it went before a longer name, the elapsed time or the id', () => {
    const done = (name: string, id: string) => job({ id, name, state: 'succeeded', endedAt: 40_000, rate: undefined, progress: '4539 requests, 0.44 % errors, 114.9 req/s' });
    const rows = [done('a-job-with-a-rather-long-name', '51f7cf33aaaa'), done('demo-shop', 'ba34cb5faaaa')];
    // The Queue pane at 80x24: 42 cells.
    const layout = queueLayout(42, 29, 9, false, true);
    const [a, b] = rows.map((r) => queueRow(r, layout, 50_000).map((x) => x.text).join(''));
    expect(b).toMatch(/^demo-shop\s+succeeded 4539 requests …$/);
    expect(a).toMatch(/^a-job-with-a-r… succeeded 4539 requests …$/);
    expect(a.indexOf('4539')).toBe(b.indexOf('4539'));
    expect(b.length).toBeLessThanOrEqual(42);
  });

  it('an ended row that did not succeed says why beside its figures, each cut after a whole item', () => {
    // It read 'by a user' or '1 threshold(s) …' alone, where `marteau-tui queue` says both.
    const figures = '5267 requests, 12.82 % errors, 117.0 req/s, p95 8.0ms, Apdex 0.93';
    const ended = (name: string, state: string, reason: string) => job({ id: `${name}aaaaaaaa`, name, state, endedAt: 40_000, rate: undefined, progress: `${reason} · ${figures}`, outcome: { reason, figures } });
    const jobs = [ended('stopped', 'cancelled', 'by a user'), ended('strict', 'failed', '1 threshold(s) failed: success_rate >= 95%: 87.18% (failed)')];
    const rows = (width: number) => {
      const ui = render(createElement(QueuePane, { jobs, selected: 0, focused: true, height: 6, width, filter: '', now: 50_000 }));
      const lines = ui.lastFrame()!.split('\n').slice(2, 4).map((l) => l.slice(4, -1).trimEnd());
      ui.unmount();
      return lines;
    };
    // 100 and 120 columns.
    expect(rows(58)).toEqual(['stopped cancelled by a user · 5267 requests …', 'strict  failed    1 threshold(s) … · 5267 requests …']);
    expect(rows(88)).toEqual(['stoppeda stopped cancelled    39s local    by a user · 5267 requests …', 'strictaa strict  failed       39s local    1 threshold(s) … · 5267 requests …']);
    expect(rows(120)[0]).toBe('stoppeda stopped cancelled    39s local    by a user · 5267 requests, 12.82 % errors, 117.0 req/s, p95 8.0ms …');
    // 80×24 (48 cells): no room for the first figure whole beside the reason: it goes in short,
    // beside what fits of the reason (it read 'by a user' or '1 threshold(s) …' alone).
    expect(rows(48)).toEqual(['stopped cancelled by a user · 5267 req …', 'strict  failed    1 threshol… · 5267 req …']);
    // 120×40 (72 cells).
    expect(rows(72)).toEqual(['stopped cancelled    39s by a user · 5267 requests …', 'strict  failed       39s 1 threshold(s) … · 5267 requests …']);
    // Narrower still, the reason alone, as one item.
    expect(rows(40)).toEqual(['stopped cancelled by a user', 'strict  failed    1 threshold(s) …']);
    for (const w of [40, 44, 48, 52, 58, 72, 88, 120]) for (const r of rows(w)) expect(r.length, `${w}: ${r}`).toBeLessThanOrEqual(w - 5);
    expect(ellipsisPair('by a user', figures, 200)).toBe(`by a user · ${figures}`);
  });

  it('the Queue pane says which jobs show when there are more than rows, before the counts', () => {
    // At 80x24 the Queue pane is 46 cells wide and 6 high: three rows for six jobs.
    const jobs = ['queued', 'running', 'failed', 'failed', 'cancelled', 'succeeded'].map((state, i) => job({ id: `${i}aaaaaaa1111`, name: `job${i}`, state }));
    const pane = (selected: number, filter = '') => {
      const ui = render(createElement(QueuePane, { jobs, selected, focused: true, height: 6, width: 46, filter, now: 20_000 }));
      const title = ui.lastFrame()!.split('\n')[1];
      ui.unmount();
      return title;
    };
    expect(pane(0)).toMatch(/│ \[1\] Queue\s+1-3 of 6 ↓ · 1 queued │$/);
    expect(pane(5)).toMatch(/\[1\] Queue\s+4-6 of 6 ↑ · 1 queued/);
    expect(pane(3, 'e')).toMatch(/\[1\] Queue\s+2-4 of 6 ↑↓ · filter: e │$/);
  });

  it('the header keeps proxies and faults at 80 columns, the history\'s counts cut to whole ones, live ones first', () => {
    const states = ['succeeded', 'failed', 'succeeded', 'cancelled', 'interrupted', 'failed', 'running'];
    const snap = { jobs: states.map((state, i) => job({ id: `${i}aaaaaaa1111`, state })), nodes: [], output: () => [], schedules: [] };
    const header = (width: number) => {
      const ui = render(createElement(Header, { title: 'hd', snap, proxies: [], width }));
      const line = ui.lastFrame()!;
      ui.unmount();
      return line;
    };
    expect(header(79)).toBe('marteau-tui · hd · running · jobs 1 running … · proxies 0 · faults 0');
    expect(header(90)).toBe('marteau-tui · hd · running · jobs 1 running, 2 succeeded … · proxies 0 · faults 0');
  });

  it('cut long names with an ellipsis, never silently', () => {
    const row = text(40, job({ name: 'a-job-with-a-rather-long-name', state: 'queued', startedAt: undefined, rate: undefined, progress: undefined }));
    expect(row).toMatch(/^a-job-with-a-rather-lo… queued\s*$/);
    expect(text(30, job({ name: 'a-job-with-a-rather-long-name', state: 'queued', startedAt: undefined, rate: undefined, progress: undefined }))).toMatch(/^a-job-with-a-rather… queued\s*$/);
  });
});

describe('opening a report', () => {
  it('an opener that fails says what to set, and where the report is', async () => {
    const before = process.env.BROWSER;
    process.env.BROWSER = 'false';
    try {
      await expect(openInBrowser('/r/index.html')).rejects.toThrow("false could not open the report (exit 1): set BROWSER to your browser's command, e.g. BROWSER=firefox; the report is /r/index.html (y copies its path)");
    } finally {
      if (before === undefined) delete process.env.BROWSER;
      else process.env.BROWSER = before;
    }
  });
});

describe('the Output window', () => {
  const lines = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`);

  it('follows the tail, scrolls without losing a page, and follows again at the bottom', () => {
    expect(outputWindow(lines, OUTPUT_START, 5, 40).rows.map((r) => r.text)).toEqual(['line 46', 'line 47', 'line 48', 'line 49', 'line 50']);
    const top = { ...OUTPUT_START, top: 0 };
    expect(outputWindow(lines, top, 5, 40).rows.map((r) => r.text)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    // k from the top of a long output never leaves fewer rows than the pane holds.
    const up = scroll(lines, { ...OUTPUT_START, top: 44 }, 10, 5, 40);
    expect(up.top).toBeUndefined();
    expect(scroll(lines, top, -3, 5, 40).top).toBe(0);
    expect(scroll(lines, OUTPUT_START, -4, 5, 40).top).toBe(41);
  });

  it('wraps long lines, the tail showing the end of the last one', () => {
    const long = ['short', `${'x'.repeat(30)} END`];
    const win = outputWindow(long, { ...OUTPUT_START, wrap: true }, 2, 20);
    expect(win.rows.map((r) => r.text)).toEqual(['xxxxxxxxxxxxxxxxxxxx', 'xxxxxxxxxx END']);
    expect(outputWindow(long, OUTPUT_START, 2, 20).rows[1].text).toBe(long[1]);
  });

  it('fills the pane to its last row: an empty line takes its row, a long wrapped line shows its start at the bottom', () => {
    const pane = (lines: string[], view = OUTPUT_START) => {
      const ui = render(createElement(OutputPane, { job: 'demo-shop', empty: '', lines, view, details: false, focused: false, height: 7, width: 24, rows: 4, inner: 20 }));
      const frame = ui.lastFrame()!.split('\n').slice(2, 6).map((l) => l.slice(2, -1).trimEnd());
      ui.unmount();
      return frame;
    };
    // An empty line of the output (between a cycle's result and the next cycle) took no row.
    expect(pane(['Cycle result: ok', '', 'Cycle #2', 'Starting threads', 'Logging for 15s'])).toEqual(['', 'Cycle #2', 'Starting threads', 'Logging for 15s']);
    expect(pane(['one', '', '', 'four', 'five'], { ...OUTPUT_START, top: 0 })).toEqual(['one', '', '', 'four']);
    // Wrapped and read from the top (as details are): a line too long for the rows left showed none of them.
    const long = ['id 1eb11b95', 'source x', `results /tmp/${'r'.repeat(40)}`, 'report'];
    expect(pane(long, { ...OUTPUT_START, wrap: true, top: 0 })).toEqual(['id 1eb11b95', 'source x', 'results', `/tmp/${'r'.repeat(15)}`]);
  });

  it('finds matches forward and back, wrapping around', () => {
    const v = { ...OUTPUT_START, top: 0, search: 'line 1' };
    const first = findNext(lines, v, 1, 5, 40);
    expect(first.match).toBe(0);
    expect(findNext(lines, first, 1, 5, 40).match).toBe(9);
    expect(findNext(lines, first, -1, 5, 40).match).toBe(18);
    expect(findNext(lines, { ...v, search: 'nope' }, 1, 5, 40).match).toBeUndefined();
  });
});

describe('Tab in the enqueue prompt', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mtui-complete-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'broken'));
  mkdirSync(path.join(root, 'bench'));
  writeFileSync(path.join(root, 'broken', '.marteau.yml'), '');
  writeFileSync(path.join(root, 'broken', 'notes.txt'), '');

  it('extends what was typed: to what candidates share, then a unique one whole', () => {
    expect(completePath('b', root)).toEqual({ value: 'b', candidates: ['bench/', 'broken/'] });
    expect(completePath('br', root)).toEqual({ value: 'broken/', candidates: [] });
    // .marteau.yml is offered though hidden; other hidden files are not.
    expect(completePath('broken/', root).candidates).toEqual(['.marteau.yml', 'notes.txt']);
    expect(completePath('broken/.', root).value).toBe('broken/.marteau.yml');
    expect(completePath('', root, ['fixtures/demo'])).toEqual({ value: 'fixtures/demo', candidates: [] });
    expect(completePath('https://example.com/r.git', root).value).toBe('https://example.com/r.git');
  });
});

describe(': commands', () => {
  it('parse to actions, and say what is wrong otherwise', () => {
    expect(parseCommand('enqueue fixtures/demo')).toEqual({ kind: 'enqueue', target: 'fixtures/demo' });
    expect(parseCommand('replay 1eb11b95')).toEqual({ kind: 'replay', job: '1eb11b95' });
    expect(parseCommand('preset flaky')).toEqual({ kind: 'preset', name: 'flaky' });
    expect(parseCommand('preset nope')).toMatchObject({ error: expect.stringContaining('presets: normal') });
    expect(parseCommand('cancel')).toMatchObject({ error: ':cancel needs a job id (e.g. :cancel 1eb11b95)' });
    expect(parseCommand('frobnicate')).toMatchObject({ error: expect.stringContaining('unknown command ":frobnicate"') });
    // A misspelt word gets 'did you mean' first, where the message line (cut at the width) shows it.
    expect(parseCommand('cancle 1eb1')).toMatchObject({ error: expect.stringMatching(/^unknown command ":cancle"; did you mean ":cancel"\? \(commands: /) });
    expect(parseCommand('preset chaso')).toMatchObject({ error: expect.stringMatching(/^no preset "chaso"; did you mean "chaos"\? \(presets: normal/) });
  });
});

describe('messages and behaviors', () => {
  it('wrap a message whole, words kept, continuation indented', () => {
    const at = new Date(2026, 0, 1, 9, 5, 7).getTime();
    const out = messageLines([{ at, level: 'error', text: 'error: p/.marteau.yml:4:11: duration: expected a duration', count: 1 }], 30);
    expect(out.map((l) => l.text)).toEqual(['09:05:07 error:', '         p/.marteau.yml:4:11:', '         duration: expected a', '         duration']);
    for (const l of out) expect(l.text.length).toBeLessThanOrEqual(30);
  });

  it('cut the newest message at a word end on the message line, never inside a figure or a word', () => {
    const at = new Date(2026, 0, 1, 17, 10, 17).getTime();
    const line = (text: string) => render(createElement(MessageLine, { messages: [{ at, level: 'info', text, count: 1 }], width: 80 })).lastFrame();
    // A job's end at 80 columns read '(26497 requests, 85. … m: whole', the figure cut in two.
    expect(line('0571cd11 shop-sweep succeeded in 51.9s (26497 requests, 85.63 % errors, 576.0 req/s, p95 6.9ms, Apdex 0.14) — report /tmp/s/jobs/0571cd11214802bb/index.html')).toBe(
      '17:10:17 0571cd11 shop-sweep succeeded in 51.9s (26497 requests … m: whole',
    );
    // A config error read 'load: unknown key "l … m: whole'.
    expect(line('error: /tmp/e-broken/.marteau.yml:3:1: load: unknown key "load" (a typo?) — hint: the keys are name, runner, ...')).toBe(
      '17:10:17 error: /tmp/e-broken/.marteau.yml:3:1: load: unknown key … m: whole',
    );
    // A long word (a job's name, a path) is cut where the line ends, not dropped with what it says.
    expect(line('no HTML report for job 1eb11b95 (a-job-with-a-rather-long-name-for-the-queue, succeeded): its runner wrote none')).toBe(
      '17:10:17 no HTML report for job 1eb11b95 (a-job-with-a-rather-long-na … m: whole',
    );
    const path = `/tmp/${'x'.repeat(90)}`;
    expect(line(`report ${path}`)).toBe(`17:10:17 report ${path}`.slice(0, 80 - ' … m: whole'.length) + ' … m: whole');
    expect(line('enqueued /work/main/fixtures/sweep')).toBe('17:10:17 enqueued /work/main/fixtures/sweep');
  });

  it("list Vaurien's classic behaviors first", () => {
    expect(behaviorOrder(['abort', 'bandwidth', 'blackout', 'delay', 'down', 'dummy', 'error', 'hang', 'transient'])).toEqual(['delay', 'error', 'hang', 'blackout', 'abort', 'transient', 'bandwidth', 'down']);
  });
});

describe('figures in few cells', () => {
  it('bars in eighths of a cell: no percentage above 0 draws as 0, 100 fills the bar', () => {
    expect(bar(0, 5)).toBe('·····');
    expect(bar(5, 5)).toBe('▎····');
    expect(bar(1, 5)).toBe('▏····');
    expect(bar(50, 5)).toBe('██▌··');
    expect(bar(100, 5)).toBe('█████');
    for (const p of [0, 1, 5, 33, 95, 100]) expect(bar(p, 7)).toHaveLength(7);
  });

  it('cut text after a whole item, never inside a number', () => {
    const summary = '5267 requests, 0.00 % errors, 117.0 req/s, p95 8.0ms';
    expect(ellipsisItems(summary, 80)).toBe(summary);
    expect(ellipsisItems(summary, 32)).toBe('5267 requests, 0.00 % errors …');
    expect(ellipsisItems(summary, 20)).toBe('5267 requests …');
    expect(ellipsisItems('cycle 2/3 · 8 users · ramping up', 24)).toBe('cycle 2/3 · 8 users …');
    // An item longer than the width is cut at a word end: a failed job's reason at 80×24 read '1 threshold(s) faile…'.
    expect(ellipsisItems('1 threshold(s) failed: success_rate >= 95%: 87.18% (failed)', 21)).toBe('1 threshold(s) …');
    expect(ellipsisItems(summary, 8)).toBe('5267 …');
    expect(ellipsisItems('/a/very/long/path/to/a/file', 10)).toBe('/a/very/l…');
  });

  it('help at 80 columns: keys in a column of their own, long descriptions wrapped under themselves', () => {
    const lines = helpLines('queue', 75);
    for (const l of lines) if (l.keys !== undefined) expect(HELP_KEYS_WIDTH + l.does!.length).toBeLessThanOrEqual(75);
    const command = lines.findIndex((l) => l.keys === ':');
    expect(lines[command + 1]).toEqual({ keys: '', does: expect.stringContaining('preset NAME') });
    // Every command the prompt takes, the message log and quit included.
    expect(lines.slice(command, command + 3).map((l) => l.does).join(' ')).toMatch(/^command: enqueue PATH, cancel ID, retry ID, replay ID, preset NAME, messages, help, quit /);
  });

  it("help names every key of README's Keys table, in the pane the table gives it", () => {
    // It had no ctrl-c (leave at once) and no = (raise, as +).
    const readme = readFileSync('README.md', 'utf8');
    const table = readme.slice(readme.indexOf('### Keys'), readme.indexOf('`marteau-tui` with no command'));
    const panes: Record<string, PaneId | 'global'> = { everywhere: 'global', queue: 'queue', nodes: 'nodes', proxies: 'proxies', behaviors: 'behaviors', output: 'output' };
    const sections = (id: PaneId | 'global') => {
      const lines = helpLines(id === 'global' ? 'queue' : id, 200);
      const head = id === 'global' ? 'Everywhere' : lines[0].head;
      const from = lines.findIndex((l) => l.head === head);
      const to = lines.findIndex((l, i) => i > from && l.head !== undefined);
      return lines.slice(from + 1, to < 0 ? undefined : to).map((l) => `${l.keys} ${l.does}`).join('\n');
    };
    let where: string[] = [];
    const missing: string[] = [];
    for (const row of table.split('\n').filter((l) => /^\| /.test(l) && !/^\| where|^\|---/.test(l))) {
      const [, place, keys] = row.split('|').map((c) => c.trim());
      if (place) where = place.toLowerCase().split(', ');
      for (const key of [...keys.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace('–', '-'))) {
        for (const tok of key.split(/[ –-]+then[ ]+|(?<=\d)-(?=\d)/)) {
          // The key as a word of its own (a lone letter inside another word is not it).
          const named = new RegExp(`(^|[\\s/(-])${tok.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[\\s/),;-])`, 'm');
          for (const pane of where) if (!named.test(sections(panes[pane]))) missing.push(`${pane}: ${tok}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("help says what e takes as the README's Keys table and the enqueue prompt do", () => {
    // It said 'enqueue a .marteau.yml', where the prompt takes a directory or a git URL too.
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toMatch(/\| \| `e` \| enqueue a directory, a `\.marteau\.yml` or a git URL;/);
    expect(KEYS.queue.find((k) => k.keys === 'e')?.does).toMatch(/^enqueue a directory, a \.marteau\.yml or a git URL /);
  });

  it('the help and the message log name the keys that scroll them, as their footers do', () => {
    const global = helpLines('queue', 200).filter((l) => l.keys !== undefined);
    const line = (key: string) => global.find((l) => l.keys === key)!.does!;
    for (const [kind, key] of [['help', '?'], ['messages', 'm']] as const) {
      const modal = kind === 'help' ? { kind, top: 0 } : { kind };
      const foot = render(createElement(Footer, { pane: 'queue', modal, width: 99 })).lastFrame()!;
      // 'j/k PgUp/PgDn scroll · g/G top/bottom · ...': every key before the closing ones.
      const keys = foot.split(' · ').slice(0, -1).join(' ').split(/[ /]/).filter((w) => /^([a-zA-Z]|Pg(Up|Dn))$/.test(w));
      expect(keys).toEqual(['j', 'k', 'PgUp', 'PgDn', 'g', 'G']);
      for (const k of keys) expect(line(key), `${key}: ${k}`).toMatch(new RegExp(`(^|[\\s/(,;])${k}($|[\\s/),;])`));
    }
    // The Output pane's footer says what its help says g / G do.
    expect(KEYS.output.find((k) => k.keys === 'g / G')).toMatchObject({ does: expect.stringMatching(/^top \/ bottom/), foot: 'g/G top/bottom' });
    // ctrl-c leaves from anywhere, without the question: a line of its own, as in the README.
    expect(line('ctrl-c')).toMatch(/^leave at once, without asking/);
  });

  it("the footer of an open dialog names its keys only: ? and q are typed in a prompt, do nothing in a question", () => {
    const foot = (modal?: Modal) => render(createElement(Footer, { pane: 'queue', modal, width: 99 })).lastFrame()!;
    expect(foot()).toMatch(/^j\/k select .* \? help · q quit$/);
    const prompt: Modal = { kind: 'prompt', purpose: 'enqueue', label: 'enqueue:', value: '', onSubmit: () => {} };
    expect(foot(prompt).trim()).toBe('enter enqueue · tab complete the path · esc cancel');
    expect(foot({ kind: 'confirm', question: 'Cancel job 1eb11b95 (demo-shop, running)?', onYes: () => {} }).trim()).toBe('y yes · n / esc no');
    // The quit question takes its second q: said where the keys are.
    expect(foot({ kind: 'confirm', question: 'A job is running. Quit and mark it interrupted?', onYes: () => {}, yesKey: 'q' }).trim()).toBe('y / q yes · n / esc no');
    expect(foot({ kind: 'preset', proxy: 'shop' }).trim()).toBe('0-9 apply a preset · esc cancel');
    expect(foot({ kind: 'help', top: 0 }).trim()).toBe('j/k PgUp/PgDn scroll · g/G top/bottom · esc / ? / q close');
  });

  it('the footer names only the keys that do something for the selected job', () => {
    // It offered 'r retry · R replay · o report' on a running job (each said it could not), 'c cancel' on one that ended, all of them with none.
    const keys = (pane: 'queue' | 'output', state?: string) => footerHints(pane, 200, { job: state }).keys.split(' · ');
    expect(keys('queue', 'running')).toEqual(['j/k select', 'enter details', 'e enqueue', 'c cancel', '/ filter', 'y copy path', '1-5 pane', 'm messages']);
    expect(keys('queue', 'queued')).toContain('c cancel');
    expect(keys('queue', 'failed')).toEqual(['j/k select', 'enter details', 'e enqueue', 'r retry', 'R replay', 'o report', '/ filter', 'y copy path', '1-5 pane', 'm messages']);
    expect(keys('queue')).toEqual(['j/k select', 'e enqueue', '/ filter', '1-5 pane', 'm messages']);
    expect(keys('output', 'running')).not.toContain('o/y/R report');
    expect(keys('output', 'cancelled')).toContain('o/y/R report');
    // Presets, undo and the arrows need a proxy; s one with a chaos scenario ('no chaos scenario runs on it').
    const tune = (pane: 'proxies' | 'behaviors', proxy: boolean, scenario: boolean) => footerHints(pane, 200, { proxy, scenario }).keys;
    expect(tune('proxies', true, true)).toBe('j/k select · p presets · u undo · s pause scenario · 1-5 pane · m messages');
    expect(tune('proxies', true, false)).toBe('j/k select · p presets · u undo · 1-5 pane · m messages');
    // Paused (by s, or by a change by hand), s resumes it, and the footer says so.
    expect(footerHints('behaviors', 200, { proxy: true, scenario: 'paused' }).keys).toContain('u undo · s resume scenario');
    expect(tune('behaviors', false, false)).toBe('j/k select · 1-5 pane · m messages');
  });

  it("the enqueue prompt's path candidates start each row at its edge, not one space in", () => {
    // Tab lists them two spaces apart; a row broken at such a gap began with the second space (` fixtures/locust/.marteau.yml`).
    expect(wrapText('aaa  bbb  ccc', 8)).toEqual(['aaa  bbb', 'ccc']);
    // At 100 columns the first row holds 95 cells and one space of the gap behind them (what tmux showed at 120×32).
    const hint = ['fixtures/demo/.marteau.yml', 'fixtures/demo/strict.marteau.yml', 'fixtures/load/builtin.marteau.yml', 'fixtures/locust/.marteau.yml', 'fixtures/sweep/.marteau.yml'].join('  ');
    const ui = render(createElement(PromptDialog, { label: 'enqueue:', value: 'fixtures/', hint, width: 100 }));
    const frame = ui.lastFrame() ?? '';
    ui.unmount();
    const rows = frame.split('\n').slice(2, -1).map((r) => r.slice(2));
    expect(rows.length).toBeGreaterThan(1);
    for (const r of rows) expect(r).toMatch(/^\S/);
  });

  it("a confirm dialog's question wrapped at 80 columns starts each row at its edge, not one space in", () => {
    // At 80x24 the preset question read '║  running job demo-shop?' on its second row: a word that
    // ended at the row's last cell left the space after it to start the next.
    const question = 'Apply preset down (connections refused (listener closed)) to shop, under running job demo-shop?';
    const ui = render(createElement(ConfirmDialog, { question, width: 76 }));
    const frame = ui.lastFrame() ?? '';
    ui.unmount();
    const rows = frame.split('\n').slice(1, -2).map((r) => r.slice(2));
    expect(rows).toEqual([expect.stringMatching(/^Apply preset down .* under\s*║$/), expect.stringMatching(/^running job demo-shop\?\s*║$/)]);
  });

  it('the preset menu says which presets ask first under a running job, whole at 80 columns', () => {
    // It said every one asked; normal (0) applies at once, as the README says, and so it does.
    const ui = render(createElement(PresetOverlay, { proxy: 'shop', mix: '5:delay', width: 78, height: 16 }));
    const frame = ui.lastFrame() ?? '';
    ui.unmount();
    expect(frame).toContain('a digit applies one (1-9 ask first while a job runs); esc cancels');
    expect(KEYS.proxies.find((k) => k.keys === 'p')?.does).toBe('presets: pick a mix with 0-9 (1-9 ask first while a job runs)');
  });

  it("while the job's details show, the footer's enter goes back to the output", () => {
    // It said 'enter details' over the details themselves, where enter leaves them.
    for (const pane of ['queue', 'output'] as const) {
      expect(footerHints(pane, 200, { job: 'succeeded', details: true }).keys.split(' · ')).toContain('enter output');
      expect(footerHints(pane, 200, { job: 'succeeded', details: true }).keys).not.toContain('enter details');
      expect(footerHints(pane, 200, { job: 'succeeded' }).keys.split(' · ')).toContain('enter details');
    }
  });

  it('count a message that comes again instead of repeating it', () => {
    const log = new MessageLog();
    for (let i = 0; i < 3; i++) log.push('warn', 'redis: reconnecting', 1000 + i);
    log.push('info', 'enqueued x', 2000);
    log.push('warn', 'redis: reconnecting', 3000);
    expect(log.getSnapshot().map((m) => [m.text, m.count, m.at])).toEqual([
      ['redis: reconnecting', 3, 1002],
      ['enqueued x', 1, 2000],
      ['redis: reconnecting', 1, 3000],
    ]);
    expect(messageLines(log.getSnapshot().slice(0, 1), 60)[0].text).toMatch(/redis: reconnecting \(×3\)$/);
  });
});

describe('the Proxies pane', () => {
  const view = (name: string, mix: string, behaviors: Record<string, number>, elsewhere?: string): ProxyView => ({
    stats: { name, protocol: 'http', listen: '127.0.0.1:1', upstream: '127.0.0.1:2', mix, connections: { open: 8, total: 8, refused: 0, upstreamErrors: 0 }, bytes: { upstream: 0, downstream: 0 }, exchanges: 900, behaviors, latency: { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0 }, fallbacks: 0 },
    rate: 104, faultRates: {}, history: [100, 104], faultHistory: [], faultPercentHistory: [10, 13], p95History: [100, 109], faultPercent: 13, p95: 109, elsewhere,
  });
  // At 80×24 the pane is 48 cells wide and 7 high: one proxy of three lines shows.
  const pane = (proxies: ProxyView[], selected = 0) =>
    render(createElement(ProxiesPane, { proxies, schedules: [], empty: '', selected, focused: true, height: 7, width: 48, now: 0 })).lastFrame()!.split('\n');

  it("cut a proxy's fault line after a whole item, never inside a word or a figure", () => {
    // It read 'fault 5:delay,5:error · set by hand · unt…' here, 'run by pid 8054 · fault 5:delay · until changed · del…' at 100×30.
    const faultRow = (p: ProxyView) => pane([p])[4].slice(1, -1).trim();
    expect(faultRow(view('shop', '5:delay,5:error', { dummy: 800, delay: 257, error: 200 }))).toBe('fault 5:delay,5:error · until changed …');
    expect(faultRow(view('shop', '5:delay', { dummy: 800, delay: 31 }, 'pid 8054'))).toBe('run by pid 8054 · fault 5:delay …');
    expect(faultRow(view('shop', '5:delay', { delay: 7 }))).toBe('fault 5:delay · until changed · delay 7');
  });

  it('wrap the reason it is empty at word ends, no space left at the start of a line', () => {
    const lines = render(createElement(ProxiesPane, { proxies: [], schedules: [], empty: "no proxy running: demo-shop's proxies (shop) stopped when it ended (R replays it)", selected: 0, focused: false, height: 7, width: 48, now: 0 }))
      .lastFrame()!
      .split('\n');
    // It read '│  stopped when it ended (R replays it)': the space at the break began the second line.
    expect(lines.slice(2, 4).map((l) => l.slice(2, -1).trimEnd())).toEqual(["no proxy running: demo-shop's proxies (shop)", 'stopped when it ended (R replays it)']);
    // The Output pane's too (76 cells at 80×24): a line that fills them left the space to the next.
    const why = 'no output here: failed: 1 threshold(s) failed: success_rate >= 99.5%: 87.18% (failed) · its output: /tmp/s/console.log';
    const output = render(createElement(OutputPane, { job: 'demo-shop', empty: why, lines: [], view: OUTPUT_START, details: false, focused: false, height: 7, width: 80, rows: 4, inner: 76 })).lastFrame()!.split('\n');
    expect(output.slice(2, 4).map((l) => l.slice(2, -1).trimEnd())).toEqual(['no output here: failed: 1 threshold(s) failed: success_rate >= 99.5%: 87.18%', '(failed) · its output: /tmp/s/console.log']);
  });

  it("keep a space between a proxy's protocol and its connections, whatever the protocol", () => {
    // 'memcache' and 'postgres' fill the 8 cells of the column: the row read 'memcacheconn   1'.
    for (const protocol of ['memcache', 'postgres'] as const) {
      const p = view('sessions', '', {});
      p.stats.protocol = protocol;
      for (const width of [48, 72]) {
        const row = render(createElement(ProxiesPane, { proxies: [p], schedules: [], empty: '', selected: 0, focused: true, height: 7, width, now: 0 })).lastFrame()!.split('\n')[2];
        expect(row).toMatch(width > 48 ? new RegExp(`› sessions +${protocol} conn +8 +104/s`) : /› sessions +(memca|postg)… conn +8 +104\/s/);
        expect(row).toMatch(/ │$/);
      }
    }
  });

  it('say which proxies show when not all fit', () => {
    // A sweep beside the demo at 80×24: its redis proxy was out of sight, the title saying '2 running' only.
    const two = [view('shop', '5:delay', {}), view('redis', '', {})];
    expect(pane(two, 0)[1]).toMatch(/\[3\] Proxies +1-1 of 2 ↓ · 2 running │$/);
    expect(pane(two, 1)[1]).toMatch(/\[3\] Proxies +2-2 of 2 ↑ · 2 running │$/);
    expect(pane(two, 1)[2]).toMatch(/› redis/);
    expect(pane(two.slice(0, 1))[1]).toMatch(/\[3\] Proxies +1 running │$/);
  });
});

describe('the Nodes pane', () => {
  it("keep a space between a node's state and its jobs", () => {
    // Disabled while it ran a job, at 80×24 (no room for the latency between): 'local disabled1/2 jobs'.
    const row = (width: number) => render(createElement(NodesPane, { nodes: [{ name: 'local', state: 'disabled', latencyMs: 0, job: '1/2 jobs' }], selected: 0, focused: false, height: 6, width })).lastFrame()!.split('\n')[2];
    expect(row(32)).toMatch(/› local disabled 1\/2 jobs +│$/);
    expect(row(40)).toMatch(/› local disabled +0ms 1\/2 jobs +│$/);
  });
});

describe('the Behaviors pane', () => {
  it('say why it is empty: no proxy runs (there is none to select)', () => {
    const lines = render(createElement(BehaviorsPane, { rows: [], selected: 0, focused: false, height: 7, width: 32 })).lastFrame()!.split('\n');
    // It read 'select a proxy', with none to select.
    expect(lines.slice(2, 5).map((l) => l.slice(2, -1).trimEnd())).toEqual(['no proxy running: a job\'s', 'proxies show their mix here', 'while it runs']);
  });

  it("keep a scenario's countdown and its entry's name whole at 80×24", () => {
    // The sweep demo's redis proxy: its lines read 'next redis-errors · end of …' (the countdown
    // gone) and, paused, 'paused (s resumes) at red…'.
    const now = 1_000_000;
    const view = { proxy: 'redis', paused: false, manual: false, remaining: 2, current: { entry: 'redis-slow', label: 'step', restore: false }, next: { at: now + 22_500, entry: 'redis-errors', label: 'end of step' } };
    const lines = (paused: boolean) =>
      render(createElement(BehaviorsPane, { proxy: 'redis', rows: [{ name: 'delay', percent: 100, options: {} }], schedule: scheduleLine({ ...view, paused }, now), selected: 0, focused: false, height: 7, width: 32 }))
        .lastFrame()!
        .split('\n')
        .slice(2, 4)
        .map((l) => l.slice(1, -1).trim());
    expect(lines(false)).toEqual(['▶ redis-slow · step', 'next redis-errors in 23s']);
    expect(lines(true)).toEqual(['⏸ paused (s resumes)', 'next redis-errors in 23s']);
    // Wider, the paused line keeps the entry's name.
    const wide = render(createElement(BehaviorsPane, { proxy: 'redis', rows: [], schedule: scheduleLine({ ...view, paused: true }, now), selected: 0, focused: false, height: 7, width: 40 })).lastFrame()!;
    expect(wide.split('\n')[2].slice(1, -1).trim()).toBe('⏸ paused (s resumes) at redis-slow');
    // Before the load starts: 'waits for the load to sta…'.
    const waiting = render(createElement(BehaviorsPane, { proxy: 'redis', rows: [], schedule: scheduleLine({ proxy: 'redis', paused: false, manual: false, remaining: 3 }, now), selected: 0, focused: false, height: 7, width: 32 })).lastFrame()!;
    expect(waiting.split('\n')[3].slice(1, -1).trim()).toBe('waits for the load');
  });
});

describe('interval histograms', () => {
  it('give the percentile of what was recorded between two copies only', () => {
    const h = new Histogram();
    for (let i = 0; i < 1000; i++) h.record(1000);
    const before = h.toJSON();
    for (let i = 0; i < 10; i++) h.record(50_000);
    const since = Histogram.since(before, h.toJSON());
    expect(since.count).toBe(10);
    expect(since.percentile(95)).toBeGreaterThan(49_000);
    expect(h.percentile(95)).toBeLessThan(2000);
  });
});
