/**
 * The control center resized in a real terminal (tmux) leaves the user's scrollback as it was:
 * on the alternate screen (what users get) the shell's lines from before it are all still there
 * after it was shortened, and quit; without it (MARTEAU_NO_ALT_SCREEN, tmux's alternate-screen
 * off) a narrowing puts in the scrollback only what tmux's own reflow of the frame puts there,
 * not a frame drawn at the old width (src/ui/ink-terminal.ts).
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { BIN } from './helpers/dist.js';
import { removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

let session: TmuxSession | undefined;
afterEach(async () => {
  await session?.kill();
  session = undefined;
});
afterAll(removeTemp);

const HEADER = /^marteau-tui · /;
/** The frame drawn whole at `cols` columns: its header on the first row, once, and the top border closed at the edge. */
const drawnAt = (cols: number) => (screen: string) => {
  const rows = screen.split('\n');
  return HEADER.test(rows[0]) && rows.filter((r) => HEADER.test(r)).length === 1 && rows[1].length === cols && rows[1].endsWith('╮');
};
const historySize = async (s: TmuxSession) => Number((await s.tmux('display', '-p', '-t', s.name, '#{history_size}')).trim());

it.skipIf(!haveServer('tmux'))('shortened and narrowed on the alternate screen, it keeps the scrollback of the shell it was started from', async () => {
  const dir = await temp('resize');
  session = await TmuxSession.start(`seq 1 100; ${process.execPath} ${BIN} --state-dir ${await stateDir()}; echo "EXITED $?"`, { cols: 120, rows: 36, cwd: dir });
  const s = session;
  await s.waitFor(drawnAt(120), 30_000);
  // The shell's lines above the screen, kept by tmux while the alternate screen is on.
  expect(await historySize(s)).toBe(100 - 36 + 1);
  for (const [cols, rows] of [[120, 30], [90, 24], [120, 36]]) {
    await s.tmux('resize-window', '-t', s.name, '-x', String(cols), '-y', String(rows));
    // capture-pane ends each of the screen's rows with a newline; the footer is the frame's last row, one above the bottom.
    await s.waitFor((x) => drawnAt(cols)(x) && x.split('\n').length === rows + 1 && /q quit\s*$/.test(x.split('\n')[rows - 2]));
  }
  await s.keys('q');
  await s.waitFor(/EXITED 0/);
  const all = (await s.tmux('capture-pane', '-p', '-S', '-', '-t', s.name)).split('\n');
  // Every line of seq's, once, in order (Ink's ESC[3J erased all but those on the screen).
  expect(all.filter((l) => /^\d+$/.test(l))).toEqual(Array.from({ length: 100 }, (_, i) => String(i + 1)));
});

it.skipIf(!haveServer('tmux'))('narrowed off the alternate screen, the scrollback gets only the rows tmux reflows there', async () => {
  const dir = await temp('resize');
  session = await TmuxSession.start(`${process.execPath} ${BIN} --state-dir ${await stateDir()}`, { cols: 120, rows: 36, cwd: dir, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  const s = session;
  await s.waitFor(drawnAt(120), 30_000);
  expect(await historySize(s)).toBe(0);
  await s.tmux('resize-window', '-t', s.name, '-x', '100', '-y', '36');
  await s.waitFor(drawnAt(100));
  // tmux re-wraps the 35 rows of the frame drawn at 120 columns, and keeps on screen what fits: the
  // rest, fewer than a screen, goes to the scrollback. A frame drawn at 120 into 100 columns
  // wrapped as it was written, and scrolled 33 rows more there (66).
  expect(await historySize(s)).toBeLessThan(36);
  const history = (await s.tmux('capture-pane', '-p', '-S', '-', '-E', '-1', '-t', s.name)).split('\n');
  expect(history.filter((l) => HEADER.test(l)).length).toBeLessThanOrEqual(1);
});
