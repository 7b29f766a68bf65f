/** A sparkline of the last `width` values, scaled to their maximum (or to `scale`, e.g. 100 for percentages). */
const BARS = '▁▂▃▄▅▆▇█';

export function sparkline(values: readonly number[], width: number, scale?: number): string {
  const tail = values.slice(-width);
  const max = scale ?? Math.max(...tail, 0);
  const line = tail.map((v) => (max <= 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1) + 0.5))])).join('');
  return line.padStart(width, ' ');
}

/** A fixed-width, right-aligned number so columns do not jitter as digits change. */
export function fixed(n: number, width: number, digits = 0): string {
  const s = n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n.toFixed(digits);
  return s.padStart(width, ' ');
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A bar of `width` cells for a percentage, in eighths of a cell: on a 5-cell bar 5 % is a sliver,
 * not nothing, and no percentage above 0 looks like 0.
 */
export function bar(percent: number, width: number): string {
  const eighths = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width * 8);
  const shown = percent > 0 ? Math.max(1, eighths) : 0;
  const full = Math.floor(shown / 8);
  const part = EIGHTHS[shown % 8];
  return '█'.repeat(full) + part + '·'.repeat(width - full - (part ? 1 : 0));
}
