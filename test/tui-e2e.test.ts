/**
 * The demo in a real terminal (tmux), at 80x24 and 120x36, driven like a daily user would: the
 * header holds figures only and messages go to a line and a log of their own (a config error
 * whole, with file:line); number keys focus panes and presets sit behind `p` (asking while a job
 * runs); the selection follows a job, not a row; rows keep req/s, error % and p95; help scrolls;
 * the footer always shows `?` and `q`; the Output pane pages, searches, wraps and follows; per-proxy
 * sparklines and the fault in force; the report opens ($BROWSER) and its path is copied (OSC 52,
 * read back from tmux's buffer); `R` replays with the recorded seed; the demo keeps its state under
 * $XDG_STATE_HOME and says where on exit. The last screen of each size is saved under artifacts/.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { haveServer } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

const BIN = path.resolve('bin/marteau-tui.js');
const LONG_NAME = 'a-job-with-a-rather-long-name-for-the-queue';
let session: TmuxSession | undefined;
let dir: string | undefined;
afterEach(async () => {
  await session?.kill();
  session = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The user's directory: a broken config (line 4), a job that prints 300 lines and a long one, a fake-free browser. */
function playground(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mtui-'));
  mkdirSync(path.join(root, 'broken'));
  writeFileSync(path.join(root, 'broken', '.marteau.yml'), 'name: broken\ncommand: [node, -e, "1"]\ntimeout: 5m\nduration: ten minutes\n');
  mkdirSync(path.join(root, 'lines'));
  const script = "for (let i = 1; i <= 300; i++) console.log('line ' + String(i).padStart(3, '0')); console.log('x'.repeat(150) + ' VERDICT-END')";
  writeFileSync(path.join(root, 'lines', '.marteau.yml'), `name: ${LONG_NAME}\ncommand: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(script)}]\n`);
  // The browser the user set: a real program that notes what it was asked to open.
  writeFileSync(path.join(root, 'open-report.sh'), `#!/bin/sh\nprintf '%s' "$1" > ${JSON.stringify(path.join(root, 'opened.txt'))}\n`, { mode: 0o755 });
  return root;
}

const lines = (screen: string) => screen.split('\n');
/** The text of the Proxies pane's rows (left column of the middle band). */
const footer = (screen: string) => lines(screen).filter((l) => l.trim()).at(-1) ?? '';
/** Overlay text with its border taken off, lines joined: wrapped messages read whole again. */
const overlayText = (screen: string) => lines(screen).map((l) => l.replace(/^[║│]\s?/, '').replace(/\s*[║│]\s*$/, '').trim()).join(' ');

describe.skipIf(!haveServer('tmux'))('TUI end to end in tmux', () => {
  for (const [cols, rows] of [[80, 24], [120, 36]] as const) {
    it(`drives the control center as a daily user at ${cols}x${rows}`, async () => {
      dir = playground();
      const xdg = path.join(dir, 'xdg');
      session = await TmuxSession.start(`${process.execPath} ${BIN} demo --duration 36; echo "EXITED $?"`, {
        cols,
        rows,
        cwd: dir,
        env: { MARTEAU_NO_ALT_SCREEN: '1', XDG_STATE_HOME: xdg, BROWSER: path.join(dir, 'open-report.sh') },
      });
      const s = session;
      await s.tmux('set-option', '-g', 'set-clipboard', 'on');

      // 4. The running row keeps req/s, error % and p95; 1. the header is figures only.
      const first = await s.waitFor(/demo-shop\s+running\s+(\d+s\s+)?(local\s+)?\d+\/s\s+[\d.]+%\s+p95\s+[\d.]+m?s/, 40_000);
      expect(lines(first)[0]).toMatch(/^marteau-tui · demo · running · jobs 1 running · proxies 1 · faults \d+\s*$/);
      // Live sparklines of fault % and p95 per proxy, and the fault in force with its end.
      await s.waitFor(/fault\s+\d+%\s+[▁▂▃▄▅▆▇█ ]*\s*p95\s+\d+ms/);
      await s.waitFor(/fault 5:delay · until changed/);
      // The Behaviors pane is named after the proxy it edits. Waited for, not read off the first
      // screen: tmux takes a big frame from the pty in pieces, and one capture (a CI run's) had
      // the first frame drawn down to the Queue's border only.
      await s.waitFor((screen) => screen.includes('[4] Behaviors · shop'));

      // 2. Number keys focus panes everywhere and never touch a proxy; 5. the footer shows ? and q.
      const footers: Record<string, RegExp> = { 2: /space enable/, 3: /j\/k select · p presets/, 4: /←\/→ -\/\+5%/, 5: /f follow · \/ search · w wrap/, 1: /e enqueue/ };
      for (const [k, hint] of Object.entries(footers)) {
        await s.keys(k);
        const sc = await s.waitFor((x) => hint.test(footer(x)));
        expect(footer(sc)).toMatch(/\? help · q quit\s*$/);
      }
      expect(await s.screen()).toMatch(/fault 5:delay/);

      // 8. Vaurien's classic set first: one j from delay is error.
      await s.keys('4', 'j');
      await s.waitFor(/› error\s+0%/);
      await s.keys('Right', 'Right');
      await s.waitFor((x) => /› error\s+10%/.test(x) && /fault 5:delay,10:error/.test(x));
      // A preset is p then a digit; a destructive one asks while a job runs.
      await s.keys('p');
      await s.waitFor((x) => /Presets for shop/.test(x) && /9\s+blackout\s+every connection cut at once/.test(x));
      await s.keys('4');
      await s.waitFor(/Apply preset erroring/);
      await s.keys('n');
      await s.waitFor((x) => !x.includes('Apply preset') && /› error\s+10%/.test(x));
      await s.keys('p', '4');
      await s.waitFor(/Apply preset erroring/);
      await s.keys('y');
      await s.waitFor((x) => /› error\s+50%/.test(x) && /fault 50:error · set by hand/.test(x));
      await s.keys('p', '0');
      await s.waitFor((x) => /no fault/.test(x) && /shop: preset normal/.test(x));

      // 7, 9. Enqueue resolves against the user's directory; Tab extends what was typed.
      await s.keys('1', 'e');
      await s.waitFor(/enqueue:/);
      await s.keys('-l', 'b');
      await s.keys('Tab');
      await s.waitFor(/enqueue: broken\//);
      await s.keys('Tab');
      await s.waitFor(/enqueue: broken\/\.marteau\.yml/);
      await s.keys('Enter');
      // 1. The error on the message line (cut, pointing at the log), then whole in the log.
      await s.waitFor(/error: .*broken\/\.marteau\.yml:4:11/);
      await s.keys('m');
      const log = overlayText(await s.waitFor(/Messages \(\d+\)/));
      expect(log).toContain(`${dir}/broken/.marteau.yml:4:11: duration: expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)`);
      await s.keys('Escape');
      await s.waitFor(/\[1\] Queue/);

      // `:` command mode; 3. the selection stays on its job when a new one comes in above it.
      await s.keys(':');
      await s.waitFor(/enqueue PATH · cancel ID/);
      await s.keys('-l', 'enqueue lines');
      await s.keys('Enter');
      // The demo's node takes two jobs (the sweep runs beside the load): the new job may already run or be done.
      const queued = await s.waitFor(/a-job-w\S*…\s+(queued|running|succeeded)/);
      expect(queued).toMatch(/› (\w{8} )?demo-shop\s+running/);

      // 5. Help scrolls to its end at any size.
      await s.keys('?');
      const help = await s.waitFor(/lines 1-\d+ of \d+/);
      expect(help).not.toContain('wrap long lines');
      await s.keys('G');
      await s.waitFor(/wrap long lines on \/ off/);
      await s.keys('Escape');

      // The demo job ends (its thresholds may fail it after 50 % errors); its proxy goes with it.
      await s.waitFor(/demo-shop\s+(succeeded|failed)/, 90_000);
      // A finished row shows its figures (the elapsed column has the time), cut after a whole one;
      // a failed one, why (its thresholds).
      await s.waitFor(/demo-shop\s+(succeeded\s+(\d+s\s+)?\d+ requests(,| …)|failed)/);
      await s.waitFor(/no proxy running: demo-shop's proxies/);
      await s.waitFor(/a-job-w\S*\s+succeeded/, 30_000);

      // 6. Output: top, page, follow, search, wrap.
      await s.keys('k', '5', 'g');
      await s.waitFor((x) => /line 001/.test(x) && /line 1\/\d+/.test(x));
      await s.keys('NPage');
      await s.waitFor((x) => !/line 001/.test(x) && /line [2-9]\d*\/\d+/.test(x));
      await s.keys('G');
      await s.waitFor(/following/);
      expect(await s.screen()).not.toContain('VERDICT-END');
      await s.keys('w');
      await s.waitFor((x) => x.includes('VERDICT-END') && x.includes('wrap'));
      await s.keys('/');
      await s.keys('-l', 'line 150');
      await s.keys('Enter');
      await s.waitFor((x) => /line 150/.test(x) && /\/line 150 1\/1/.test(x));
      await s.keys('f');
      await s.waitFor(/following/);
      // No report for a command job: said plainly.
      await s.keys('o');
      await s.waitFor(/no HTML report for job \w+ \(a-job/);

      // The demo job: open its report, copy its path, see its seed and fault timeline, replay it.
      await s.keys('1', 'j');
      await s.waitFor(/› (\w{8} )?demo-shop\s+(succeeded|failed)/);
      await s.keys('o');
      await s.waitFor(/opened \//, 20_000);
      const opened = readFileSync(path.join(dir, 'opened.txt'), 'utf8');
      expect(opened).toMatch(/\.html$/);
      expect(opened.startsWith(path.join(xdg, 'marteau-tui', 'demo'))).toBe(true);
      expect(existsSync(opened)).toBe(true);
      await s.keys('y');
      await s.waitFor(/copied \//);
      expect(await s.tmux('show-buffer')).toBe(opened);
      // Details (enter) keep the seed and the fault timeline after the job ended.
      const search = async (text: string) => {
        await s.keys('/');
        await s.waitFor(/search:/);
        await s.keys('-l', text);
        await s.keys('Enter');
      };
      await s.keys('Enter', '5');
      await s.waitFor(/\[5\] Details · demo-shop/);
      await search('seed');
      const details = await s.waitFor(/seed\s+\d+ \(R replays/);
      const seed = /seed\s+(\d+) \(R replays/.exec(details)![1];
      await search('50:error');
      await s.waitFor(/\+\s*[\d.]+s\s+shop\s+50:error\s+\(set by hand\)/);
      // 11. No chaos schedule on this proxy: a change by hand pauses nothing.
      await s.keys('Enter');
      await s.waitFor(/\[5\] Output · demo-shop/);
      await search('set by hand');
      const manual = await s.waitFor(/manual: shop mix \S+( \(pass-through\))? set by hand/);
      expect(manual).not.toContain('schedule is paused');
      await s.keys('R');
      await s.waitFor(new RegExp(`replaying demo-shop \\(\\w+\\) with seed ${seed} as job`));
      await s.waitFor(/demo-shop\s+running/, 30_000);
      const screen = await s.screen();
      mkdirSync('artifacts', { recursive: true });
      writeFileSync(path.join('artifacts', `tui-demo-screen-${cols}x${rows}.txt`), screen);

      // Quit while the replay runs: asked, then the demo says where its state and reports are.
      await s.keys('q');
      await s.waitFor(/Quit and mark it interrupted\?/);
      await s.keys('q');
      const end = await s.waitFor(/EXITED \d+/, 20_000);
      expect(end).toMatch(/EXITED 130/);
      const kept = /demo: its queue, results and reports are kept in (\S+)/.exec(end.replace(/\n/g, ''))?.[1];
      expect(kept?.startsWith(path.join(xdg, 'marteau-tui', 'demo'))).toBe(true);
      expect(end.replace(/\n/g, '')).toContain(`report ${opened}`);
    }, 300_000);
  }
});
