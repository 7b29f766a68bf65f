/**
 * A small seeded PRNG (sfc32). With a seed, a proxy's draw sequence is replayable: the same
 * seed and the same traffic give the same faults on the same exchanges.
 */
export type Random = () => number;

export function seededRandom(seed: number | string): Random {
  let h = 1779033703 ^ String(seed).length;
  const s = String(seed);
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  const next = (): number => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    return (h ^= h >>> 16) >>> 0;
  };
  // The state a, b, c, d in 32-bit slots: kept in closure variables, each of the four values past
  // V8's small integers was a new heap number at every draw (one draw per exchange).
  const st = Int32Array.of(next(), next(), next(), next());
  return () => {
    const a = st[0];
    const b = st[1];
    const c = st[2];
    const d = (st[3] + 1) | 0;
    const t = (((a + b) | 0) + d) | 0;
    st[0] = b ^ (b >>> 9);
    st[1] = (c + (c << 3)) | 0;
    st[2] = (((c << 21) | (c >>> 11)) + t) | 0;
    st[3] = d;
    return (t >>> 0) / 4294967296;
  };
}

export function unseededRandom(): Random {
  return Math.random;
}
