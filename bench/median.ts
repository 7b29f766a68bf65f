/**
 * The median of a bench's rounds. With an even count it is the mean of the two middle values:
 * taking the upper one, as these benches once did, printed the better of two rounds as the median.
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
