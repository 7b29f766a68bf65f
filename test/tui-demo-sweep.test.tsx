/**
 * The TUI demo offers the resilience sweep: its first screen says how (e, Tab, Enter), the
 * enqueue prompt's first suggestion is the sweep demo shop, and the sweep runs beside the demo
 * load (real redis-server behind the chaos proxy, real PostgreSQL killed) to a matrix that the
 * job's output shows and its report holds, reachable from the finished message.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { render } from 'ink-testing-library';
import { afterAll, describe, expect, it } from 'vitest';
import { startTuiDemo } from '../src/cli/tui-demo.js';
import type { JsonReport } from '../src/report/json.js';
import { App } from '../src/ui/App.js';
import { havePostgres } from './helpers/postgres.js';
import { removeTemp, stateDir } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

const KEY = { tab: '\t', enter: '\r', down: '\u001B[B' };
const strip = (s = '') => s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');

afterAll(removeTemp);

describe.skipIf(!haveServer('redis-server') || !havePostgres())('the TUI demo offers the sweep', () => {
  it('e, Tab, Enter queues the sweep of the demo shop; its matrix is in the output and the report', async () => {
    const demo = await startTuiDemo(10, { stateDir: await stateDir() });
    const ui = render(<App backend={demo.backend} title="demo" onQuit={() => {}} />);
    try {
      const frame = () => strip(ui.lastFrame());
      const waitFor = async (test: (f: string) => boolean, what: string, ms = 10_000) => {
        const end = Date.now() + ms;
        while (!test(frame())) {
          if (Date.now() > end) throw new Error(`${what} never showed; last frame:\n${frame()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const press = async (...keys: string[]) => {
        for (const k of keys) {
          ui.stdin.write(k);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      expect(demo.sweep).toBe(path.resolve(import.meta.dirname, '../fixtures/sweep'));
      // The first screen says how.
      await waitFor((f) => /press e, Tab, Enter: the resilience sweep/.test(f), 'the offer');
      await new Promise((r) => setTimeout(r, 100));
      await press('e');
      // The prompt wraps a long path (a clone under /tmp/tmp.XXXXXXXXXX/) onto its next line:
      // read the box's text without its borders and line breaks.
      const unwrapped = (f: string) => f.replace(/[│\s]/g, '');
      await waitFor((f) => unwrapped(f).includes(unwrapped(`tab now: ${demo.sweep}`)), 'the prompt offering the sweep first');
      await press(KEY.tab, KEY.enter);
      // The message line cuts a long one short: the message log holds it whole.
      const messages = () => demo.backend.messages.getSnapshot().map((m) => m.text);
      await waitFor(() => messages().some((m) => m.includes(`enqueued ${demo.sweep}`)), 'the sweep queued');
      // Beside the demo load (two jobs at once on the demo's node), not after it.
      await waitFor((f) => /shop-sweep\s+running/.test(f) && /demo-shop\s+running/.test(f), 'both jobs running', 60_000);
      await waitFor((f) => /shop-sweep\s+(succeeded|failed)/.test(f), 'the sweep finished', 150_000);
      const sweep = demo.engine.getSnapshot().jobs.find((j) => j.name === 'shop-sweep')!;
      const matrixLines = () => demo.backend.getSnapshot().output(sweep.id).filter((l) => /^(PASS|FAIL|SKIP) |resilience matrix/.test(l));
      // The finished message (the message line, whole in the log `m` shows) names the report `o` opens.
      const finishedOf = () => messages().find((m) => m.startsWith(`${sweep.id.slice(0, 8)} shop-sweep ${sweep.status}`));
      // The queue shows the status a moment before the engine's finished event carries the report.
      await waitFor(() => finishedOf() !== undefined, 'the finished message');
      const finished = finishedOf();
      // Whether every cell passes depends on the machine's load during each step (a cell's bound is
      // 1 s); sweep.test.ts judges the verdicts. Here: the job's status follows its matrix.
      const report = JSON.parse(await readFile(path.join(demo.engine.resultDir(sweep.id), 'summary.json'), 'utf8')) as JsonReport;
      expect(report.matrix!.cells.length).toBe(5);
      const allPass = report.matrix!.cells.every((c) => c.verdict === 'pass');
      expect(sweep.status, `${sweep.reason}\n${matrixLines().join('\n')}`).toBe(allPass ? 'succeeded' : 'failed');
      const reportPath = / — report (\S+index\.html)$/.exec(finished ?? '')?.[1];
      expect(reportPath, messages().join('\n')).toBeDefined();
      expect(await readFile(reportPath!, 'utf8')).toMatch(/Resilience matrix/);
      // `o` opens that report; the job's output (the Output pane's lines) prints the matrix.
      expect(demo.backend.reportOf(sweep.id)).toEqual({ path: reportPath });
      const out = demo.backend.getSnapshot().output(sweep.id);
      const passing = report.matrix!.cells.filter((c) => c.verdict === 'pass').length;
      expect(out.some((l) => l.startsWith(`resilience matrix (seed ${report.matrix!.seed}): ${passing}/5 cells pass`)), out.slice(-40).join('\n')).toBe(true);
      expect(out.filter((l) => /^(PASS|FAIL) (redis|db) (down|slow|errors|process) /.test(l)).length).toBe(5);
      // Selecting it shows its output.
      for (let i = 0; i < 4 && !/Output · shop-sweep/.test(frame()); i++) await press('k');
      for (let i = 0; i < 4 && !/Output · shop-sweep/.test(frame()); i++) await press('j');
      await waitFor((f) => /Output · shop-sweep/.test(f), 'the sweep selected');
    } finally {
      ui.unmount();
      await demo.close();
    }
  }, 240_000);
});
