/**
 * How many "bad" draws out of n are still consistent with a rate p: the upper one-sided quantile
 * of Binomial(n, p). Pure; used to judge a short span of requests against a baseline rate
 * without reading a single unlucky request as a change.
 */

/** z of the one-sided normal quantile for the alphas used here. */
const Z: Record<number, number> = { 0.2: 0.8416, 0.05: 1.6449, 0.01: 2.3263 };

/**
 * The smallest k with P(X > k) <= alpha for X ~ Binomial(n, p): more than k bad draws out of n
 * would happen by chance with probability alpha at most.
 */
export function binomialUpper(n: number, p: number, alpha: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const variance = n * p * (1 - p);
  const z = Z[alpha];
  // Far from the edges the normal approximation is within one draw, and O(1).
  if (variance > 50 && z !== undefined) return Math.min(n, Math.ceil(n * p + z * Math.sqrt(variance) - 0.5));
  // Exact: log pmf by recurrence (no underflow), then the upper tail summed from k = n down.
  const logs = new Float64Array(n + 1);
  logs[0] = n * Math.log1p(-p);
  const ratio = Math.log(p) - Math.log1p(-p);
  let max = logs[0];
  for (let k = 0; k < n; k++) {
    logs[k + 1] = logs[k] + Math.log(n - k) - Math.log(k + 1) + ratio;
    if (logs[k + 1] > max) max = logs[k + 1];
  }
  let total = 0;
  for (let k = 0; k <= n; k++) total += Math.exp(logs[k] - max);
  let tail = 0; // P(X > k), unnormalised
  for (let k = n; k >= 1; k--) {
    tail += Math.exp(logs[k] - max);
    if (tail / total > alpha) return k;
  }
  return 0;
}
