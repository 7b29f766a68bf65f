/** Fitting text into cells: pure helpers shared by the panes. */

/** `s` in at most `width` cells, an ellipsis marking a cut. */
export function ellipsis(s: string, width: number): string {
  if (width <= 0) return '';
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}

/** `s` cut or padded to exactly `width` cells. */
export function cell(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = ellipsis(s, width);
  return align === 'left' ? t.padEnd(width) : t.padStart(width);
}

/** Lines of at most `width` cells: each line of `s` broken at word ends where it can. */
export function wrapText(s: string, width: number): string[] {
  const w = Math.max(1, width);
  const out: string[] = [];
  for (const line of s.split('\n')) {
    let rest = line;
    while (rest.length > w) {
      const space = rest.lastIndexOf(' ', w);
      // Words stay whole (a path in an error must read as one); only a word wider than the line is cut.
      const at = space > 0 ? space : w;
      out.push(rest.slice(0, at));
      rest = rest.slice(at).replace(/^ /, '');
    }
    out.push(rest);
  }
  return out;
}

/**
 * Items joined by `sep` while they fit in `width`: whole items only, so a hint is never cut in
 * the middle of a word.
 */
export function fitItems(items: readonly string[], width: number, sep = ' · '): string {
  let out = '';
  for (const item of items) {
    const next = out ? `${out}${sep}${item}` : item;
    if (next.length > width) break;
    out = next;
  }
  return out;
}
