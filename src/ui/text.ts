/** Fitting text into cells: pure helpers shared by the panes. */

/** `s` in at most `width` cells, an ellipsis marking a cut. */
export function ellipsis(s: string, width: number): string {
  if (width <= 0) return '';
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * `s` in at most `width` cells, cut after its last whole item (", " or " · " between them) that
 * fits with " …": "5267 requests, 0.00 % errors …" rather than "(526…", which reads as another
 * figure. A first item too long for the width is cut at a word end ('1 threshold(s) …', not
 * '1 threshold(s) faile…'), or as `ellipsis` does when its first word is most of the width.
 */
export function ellipsisItems(s: string, width: number): string {
  if (s.length <= width) return s;
  // Items at even indexes, the separators between them at odd ones.
  const parts = s.split(/(, | · )/);
  let out = parts[0];
  if (out.length + 2 > width) {
    const words = wordCut(s, width - 2);
    return words ? `${words} …` : ellipsis(s, width);
  }
  for (let i = 2; i < parts.length && out.length + parts[i - 1].length + parts[i].length + 2 <= width; i += 2) out += parts[i - 1] + parts[i];
  return `${out} …`;
}

/**
 * Two texts side by side in at most `width` cells, `sep` between them, each cut as ellipsisItems
 * cuts: both whole when they fit; else the first in half the width at most and as many whole
 * items of the second as fit after it ('1 threshold(s) … · 5267 requests, 12.82 % errors …').
 * Where not even the second's first item fits beside the first: that item in `short` ('5267
 * req') beside as much of the first as fits, when that is SHORT_LEAD cells or more; else the
 * first alone, as its one item.
 */
export function ellipsisPair(first: string, second: string, width: number, sep = ' · ', short?: string): string {
  const whole = `${first}${sep}${second}`;
  if (whole.length <= width) return whole;
  const lead = first.length <= width / 2 ? first : ellipsisItems(first, Math.floor(width / 2));
  const room = width - lead.length - sep.length;
  const item = second.split(/, | · /)[0];
  const more = item.length < second.length ? ' …' : '';
  if (room >= item.length + more.length) return `${lead}${sep}${ellipsisItems(second, room)}`;
  const tail = short === undefined ? '' : `${short}${more}`;
  const left = width - sep.length - tail.length;
  if (tail && left >= SHORT_LEAD) return `${ellipsisItems(first, left)}${sep}${tail}`;
  return ellipsisItems(first, width);
}

/** The least of the first text ellipsisPair keeps beside a short second one: less says nothing. */
const SHORT_LEAD = 8;

/**
 * The start of `s` in at most `width` cells, cut at a word end: "(26497 requests, 85.63 %" rather
 * than "(26497 requests, 85.", which reads as another figure. A separator left at the cut goes
 * with it. A long word (a path, a job's name) is cut where the width ends instead: its start says
 * what it is, and dropping it could leave little of the line.
 */
export function cutAtWord(s: string, width: number): string {
  return s.length <= width ? s : (wordCut(s, width) ?? s.slice(0, width));
}

/** A word this long is a name or a path rather than a figure: cut in place, not dropped. */
const LONG_WORD = 16;

/** The words of `s` that fit in `width`, a separator at their end dropped; none when the word cut is long or the words before it few. */
function wordCut(s: string, width: number): string | undefined {
  const space = s.lastIndexOf(' ', width);
  const end = s.indexOf(' ', space + 1);
  const cut = (end < 0 ? s.length : end) - space - 1;
  return space > width / 2 && cut < LONG_WORD ? s.slice(0, space).replace(/[\s,;:·—(-]+$/, '') : undefined;
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
      out.push(space > 0 ? rest.slice(0, at).trimEnd() : rest.slice(0, at));
      // A gap of several spaces (a list two spaces apart) is a break too: the next line starts at its edge.
      rest = rest.slice(at).replace(/^ +/, '');
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
