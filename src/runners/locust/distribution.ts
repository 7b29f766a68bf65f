/**
 * Locust keeps no samples: it reports a distribution as min, max and percentiles (50 %, 66 %,
 * ..., 99.99 %, 100 %). The results model is fed samples, so we rebuild `n` durations whose
 * percentiles are Locust's: each known value is put at the rank Locust (and FunkLoad) read it
 * from (min at rank 1, percentile q at rank floor(q·n)+1, max at rank n) and the ranks between
 * two known values lie on the straight line joining them. So p50/p90/p95/p99 come out as Locust
 * reported them; the mean is the rebuilt one (close to Locust's average; see the tests).
 *
 * The cost is bounded whatever `n`: between two known values, ranks share at most
 * MAX_VALUES_PER_SEGMENT distinct values, so a million requests cost as much as a thousand.
 */
import type { PercentilePoint } from './csv.js';

const MAX_VALUES_PER_SEGMENT = 32;

export interface DistributionInput {
  count: number;
  minMs: number;
  maxMs: number;
  percentiles: readonly PercentilePoint[];
}

/** [duration ms, how many] pairs summing to `count`, ascending by duration. */
export function rebuildDurations(d: DistributionInput): [number, number][] {
  const n = Math.floor(d.count);
  if (n <= 0) return [];
  const lo = Math.min(d.minMs, d.maxMs);
  const hi = Math.max(d.minMs, d.maxMs);
  if (n === 1) return [[hi, 1]];
  // Anchors: the rank each known value sits at. Locust's percentile q is the sample of rank
  // floor(q·n)+1 (as FunkLoad's), the min rank 1, the max rank n. Locust rounds percentiles to
  // whole ms, so values are clamped into [min, max] and kept non-decreasing.
  const anchors: { rank: number; ms: number }[] = [{ rank: 1, ms: lo }];
  for (const p of [...d.percentiles].sort((a, b) => a.q - b.q)) {
    if (!(p.q > 0 && p.q < 1)) continue;
    const rank = Math.min(n, Math.floor(p.q * n) + 1);
    const last = anchors[anchors.length - 1];
    const ms = Math.min(hi, Math.max(last.ms, p.ms));
    if (rank === last.rank) {
      if (rank > 1) last.ms = ms; // same sample: the later point holds the value
    } else anchors.push({ rank, ms });
  }
  const last = anchors[anchors.length - 1];
  if (last.rank === n) last.ms = hi;
  else anchors.push({ rank: n, ms: hi });

  const out: [number, number][] = [];
  const push = (ms: number, c: number) => {
    const prev = out[out.length - 1];
    if (prev && prev[0] === ms) prev[1] += c;
    else out.push([ms, c]);
  };
  push(lo, 1);
  for (let i = 1; i < anchors.length; i++) {
    const a = anchors[i - 1];
    const b = anchors[i];
    // Ranks strictly between two anchors lie on the line joining them, in bounded chunks.
    const k = b.rank - a.rank - 1;
    const chunks = Math.min(k, MAX_VALUES_PER_SEGMENT);
    for (let c = 0; c < chunks; c++) {
      const from = a.rank + 1 + Math.floor((c * k) / chunks);
      const to = a.rank + Math.floor(((c + 1) * k) / chunks);
      const mid = (from + to) / 2;
      push(a.ms + ((b.ms - a.ms) * (mid - a.rank)) / (b.rank - a.rank), to - from + 1);
    }
    push(b.ms, 1);
  }
  return out;
}
