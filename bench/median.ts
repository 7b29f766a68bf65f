/**
 * The median of a bench's rounds. With an even count it is the mean of the two middle values:
 * taking the upper one, as these benches once did, printed the better of two rounds as the median.
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The nearest-rank quantile `q` (0..1) of values already sorted ascending: the value at rank
 * floor(n * q), the last one at most; NaN when there is none.
 */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] : NaN;
}
