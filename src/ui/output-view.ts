/**
 * The Output pane's window on a job's lines: where it is scrolled (or following the tail),
 * wrapped or cut, and where a search matches. Pure: keys produce a new OutputView, the pane
 * renders `outputWindow`.
 */
import { wrapText } from './text.js';

export interface OutputView {
  /** First line shown; undefined: follow the tail. */
  top?: number;
  wrap: boolean;
  search: string;
  /** The line of the current match. */
  match?: number;
}

export const OUTPUT_START: OutputView = { wrap: false, search: '' };

export interface OutputRow {
  text: string;
  line: number;
  match: boolean;
}

/**
 * How many lines fill `height` rows from line `from` on, the last one's first rows only when it
 * is longer than the rows left: leaving it out left those rows blank under the line before.
 */
function fits(lines: readonly string[], from: number, height: number, width: number, wrap: boolean): number {
  if (!wrap) return Math.min(height, lines.length - from);
  let rows = 0;
  let n = 0;
  for (let i = from; i < lines.length && rows < height; i++) {
    rows += wrapText(lines[i], width).length;
    n++;
  }
  return n;
}

/** The top line that shows the tail. */
export function tailTop(lines: readonly string[], height: number, width: number, wrap: boolean): number {
  if (!wrap) return Math.max(0, lines.length - height);
  let rows = 0;
  let i = lines.length;
  while (i > 0) {
    rows += wrapText(lines[i - 1], width).length;
    if (rows > height) break;
    i--;
  }
  return Math.min(i, Math.max(0, lines.length - 1));
}

export function outputWindow(lines: readonly string[], view: OutputView, height: number, width: number): { rows: OutputRow[]; top: number; following: boolean } {
  const maxTop = tailTop(lines, height, width, view.wrap);
  const top = view.top === undefined ? maxTop : Math.max(0, Math.min(view.top, maxTop));
  if (view.wrap && top >= maxTop && lines.length) {
    // The tail, wrapped: its last rows, even when that starts inside a long line.
    const rows: OutputRow[] = [];
    for (let i = lines.length - 1; i >= 0 && rows.length < height; i--) {
      rows.unshift(...wrapText(lines[i], width).map((text) => ({ text, line: i, match: view.match === i })));
    }
    return { rows: rows.slice(-height), top, following: view.top === undefined };
  }
  const n = fits(lines, top, height, width, view.wrap);
  const rows: OutputRow[] = [];
  for (let i = top; i < top + n; i++) {
    const parts = view.wrap ? wrapText(lines[i], width) : [lines[i]];
    for (const text of parts) rows.push({ text, line: i, match: view.match === i });
  }
  // Scrolled to the tail is not following it: `f` stops there, and new lines must not move it.
  return { rows: rows.slice(0, height), top, following: view.top === undefined };
}

/** Scroll by `delta` lines (a page is height - 1); reaching the tail follows it again. */
export function scroll(lines: readonly string[], view: OutputView, delta: number, height: number, width: number): OutputView {
  const maxTop = tailTop(lines, height, width, view.wrap);
  const from = view.top === undefined ? maxTop : Math.min(view.top, maxTop);
  const top = Math.max(0, Math.min(maxTop, from + delta));
  return { ...view, top: top >= maxTop && delta > 0 ? undefined : top };
}

/** Lines that contain the search text (case-insensitive). */
export function matches(lines: readonly string[], search: string): number[] {
  if (!search) return [];
  const s = search.toLowerCase();
  const out: number[] = [];
  lines.forEach((l, i) => {
    if (l.toLowerCase().includes(s)) out.push(i);
  });
  return out;
}

/**
 * The next (dir 1) or previous (dir -1) match from the current one (or from the top of the
 * window), wrapping around; the window scrolls to show it a few lines from the top.
 */
export function findNext(lines: readonly string[], view: OutputView, dir: 1 | -1, height: number, width: number): OutputView {
  const found = matches(lines, view.search);
  if (!found.length) return { ...view, match: undefined };
  const from = view.match ?? (view.top ?? tailTop(lines, height, width, view.wrap)) - (dir > 0 ? 1 : -1);
  const next = dir > 0 ? (found.find((i) => i > from) ?? found[0]) : ([...found].reverse().find((i) => i < from) ?? found[found.length - 1]);
  // The match a little below the top, so what leads to it shows too.
  const top = Math.max(0, Math.min(tailTop(lines, height, width, view.wrap), next - Math.min(2, Math.floor((height - 1) / 2))));
  return { ...view, match: next, top };
}
