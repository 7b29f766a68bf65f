/**
 * The order of a bench's paths in round `round`: a Williams design, every other round reversed.
 * With the paths always in one order (or that order and its reverse) each path has the same
 * neighbours every round, and whatever one path's turn leaves behind (a server's heap, its
 * connections closing) weighs on the same next path each time. Here round 2k takes the sequence
 * 0, 1, n-1, 2, n-2, ... shifted by k, and round 2k+1 the same reversed: over 2n rounds each path
 * follows every other one equally often, and the reversal still spreads a drift of the machine's
 * speed over a round on the first and last paths alike.
 */
export function roundOrder<T>(paths: readonly T[], round: number): T[] {
  const n = paths.length;
  const base: number[] = [];
  for (let i = 0, lo = 1, hi = n - 1; base.length < n; i++) base.push(i === 0 ? 0 : i % 2 ? lo++ : hi--);
  const shift = Math.floor(round / 2);
  const row = base.map((k) => paths[(k + shift) % n]);
  return round % 2 ? row.reverse() : row;
}
