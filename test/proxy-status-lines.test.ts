/**
 * `marteau-tui proxy` redraws its count lines in place on a terminal. A line wider than the
 * terminal was cut at the last column, inside a figure: at 100 columns a redis proxy's line ended
 * `faults d…`, its faults and p95 never shown. It now goes on to the next row at a field's edge.
 */
import { describe, expect, it } from 'vitest';
import { fitLine, LiveLines } from '../src/cli/proxy-status.js';

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
    expect(raw.endsWith('\r\x1b[Jshort\n')).toBe(true);
  });
});
