/**
 * For time series that keep a fixed number of buckets: when a run outgrows them, each pair of
 * neighbours becomes one bucket twice as wide, so memory stays fixed and earlier data is kept.
 */
export function mergePairs<T>(buckets: readonly T[], merge: (into: T, from: T) => void): T[] {
  const merged: T[] = [];
  for (let i = 0; i < buckets.length; i += 2) {
    const a = buckets[i];
    if (i + 1 < buckets.length) merge(a, buckets[i + 1]);
    merged.push(a);
  }
  return merged;
}
