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

/** A bar of `width` cells for a percentage. */
export function bar(percent: number, width: number): string {
  const full = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return '█'.repeat(full) + '·'.repeat(width - full);
}
