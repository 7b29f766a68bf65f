/**
 * `marteau-tui proxy` redraws its count lines in place on a terminal. A line wider than the
 * terminal was cut at the last column, inside a figure: at 100 columns a redis proxy's line ended
 * `faults d…`, its faults and p95 never shown. It now goes on to the next row at a field's edge.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fitLine, LiveLines } from '../src/cli/proxy-status.js';
import { BIN } from './helpers/dist.js';
import { haveServer } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

const LINE = 'redis 127.0.0.1:16399 -> 127.0.0.1:47389  mix 20:delay,10:error  conn 0/30  exch 30 (1/s)  faults delay=12 error=6  p95 1004.2ms';

/** What a terminal of this width shows once the writes are played: the rows, escapes taken out. */
function drawn(width: number, frames: string[][]): { rows: string[]; raw: string } {
  let raw = '';
  const out = { columns: width, write: (s: string) => { raw += s; return true; } } as unknown as NodeJS.WriteStream;
  const live = new LiveLines(out, true);
  for (const f of frames) live.show(f);
  const last = raw.slice(raw.lastIndexOf('\r'));
  // eslint-disable-next-line no-control-regex
  return { rows: last.replace(/\r|\x1b\[\d*[A-Za-z]/g, '').split('\n').filter((r) => r !== ''), raw };
}

describe('the live count lines on a narrow terminal', () => {
  it('keep every figure whole, no row wider than the terminal', () => {
    const { rows } = drawn(100, [[LINE]]);
    for (const r of rows) expect(r.length).toBeLessThan(100);
    const text = rows.join(' ');
    for (const field of ['faults delay=12 error=6', 'p95 1004.2ms', 'exch 30 (1/s)']) expect(text).toContain(field);
  });

  it('a line that fits is one row; one too wide breaks between fields, the rest indented', () => {
    expect(fitLine(LINE, 200)).toEqual([LINE]);
    expect(fitLine(LINE, 100)).toEqual([
      'redis 127.0.0.1:16399 -> 127.0.0.1:47389  mix 20:delay,10:error  conn 0/30  exch 30 (1/s)',
      '  faults delay=12 error=6  p95 1004.2ms',
    ]);
    // A field wider than a row alone is cut, with an ellipsis.
    expect(fitLine('a-very-long-field  b', 8)).toEqual(['a-very…', '  b']);
  });

  it('the next frame goes up over every row drawn and clears what the last one left', () => {
    const { raw } = drawn(100, [[LINE, LINE], ['short']]);
    // Two lines of two rows each were drawn: four rows up.
    expect(raw).toContain('\x1b[4A');
    expect(raw.endsWith('\r\x1b[2Kshort\n\x1b[J')).toBe(true);
  });

  it('a terminal narrowed since the last frame re-wrapped its rows: the next goes up over each of them', () => {
    let raw = '';
    const out = { columns: 200, write: (s: string) => { raw += s; return true; } } as unknown as NodeJS.WriteStream;
    const live = new LiveLines(out, true);
    live.show([LINE]);
    out.columns = 60;
    live.show([LINE]);
    // The one row of 128 cells takes three rows of 60 now.
    expect(raw).toContain('\x1b[3A');
  });
});

describe('marteau-tui proxy in a terminal that is resized', () => {
  let session: TmuxSession | undefined;
  afterEach(async () => {
    await session?.kill();
    session = undefined;
  });

  it.skipIf(!haveServer('tmux'))('narrowed, then widened again: the count line is redrawn whole, no fragment of the old one on the screen', async () => {
    // Nothing connects: the upstream is never dialled.
    session = await TmuxSession.start(`${process.execPath} ${BIN} proxy -l 127.0.0.1:0 -u 127.0.0.1:1 -p redis -b 20:delay,10:error --interval 200`, { cols: 120, rows: 10 });
    await session.waitFor(/^redis 127\.0\.0\.1:\d+ -> .*p95 \d/m);
    const rows = (screen: string) => screen.split('\n').filter((r) => r.trim() !== '');
    await session.tmux('resize-window', '-t', session.name, '-x', '70');
    // At 70 columns the line is two rows: the first to conn, the rest indented; nothing else shows.
    const narrow = await session.waitFor((s) => /^ {2}exch /m.test(s));
    await new Promise((r) => setTimeout(r, 500));
    expect(rows(await session.screen())).toEqual([expect.stringMatching(/^redis .* conn 0\/0$/), expect.stringMatching(/^ {2}exch 0 \(0\/s\) {2}faults - {2}p95 0\.0ms$/)]);
    expect(rows(narrow).length).toBeLessThanOrEqual(2);
    await session.tmux('resize-window', '-t', session.name, '-x', '120');
    await session.waitFor((s) => !/^ {2}exch /m.test(s));
    await new Promise((r) => setTimeout(r, 500));
    // The listening line, which tmux took into its history at the narrowing and gives back, is left alone.
    const all = rows(await session.tmux('capture-pane', '-p', '-S', '-', '-t', session.name));
    expect(all).toEqual([expect.stringMatching(/^listening redis /), expect.stringMatching(/^redis .* conn 0\/0 {2}exch .* p95 0\.0ms$/)]);
  }, 30_000);
});
