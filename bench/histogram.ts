/**
 * npm run bench:histogram — what recording one latency costs in our histogram (3 significant
 * digits for the report tables, 2 for the timeline) against hdr-histogram-js, the library
 * autocannon uses, with the same precision: its JS histogram and its WebAssembly one. Each figure
 * is the median of several passes over the same latency-like values (mostly 0.5-50 ms, a tail to
 * seconds) and is printed as a ratio to a bare typed-array increment measured in this run.
 *
 *   npm run bench:histogram                 # 2M values, 7 passes each
 *   BENCH_VALUES=5000000 npm run bench:histogram
 */
import * as hdr from 'hdr-histogram-js';
import { Histogram } from '../src/stats/histogram.js';

const N = Number(process.env.BENCH_VALUES ?? 2_000_000);
const PASSES = Number(process.env.BENCH_ROUNDS ?? 7);

let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const values = new Float64Array(N);
for (let i = 0; i < N; i++) {
  const u = random();
  values[i] = Math.round(500 * Math.exp(u * u * 10)); // µs
}

/** Median nanoseconds per recorded value over PASSES fresh recorders. */
function measure(make: () => (v: number) => void): number {
  const runs: number[] = [];
  for (let r = 0; r < PASSES; r++) {
    const record = make();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) record(values[i]);
    runs.push(((performance.now() - t0) / N) * 1e6);
  }
  return runs.sort((a, b) => a - b)[Math.floor(PASSES / 2)];
}

const baseline = measure(() => {
  const counts = new Float64Array(4096);
  return (v) => {
    counts[v & 4095]++;
  };
});
hdr.initWebAssemblySync();
const rows: [string, number][] = [
  ['ours, 3 digits (tables)', measure(() => { const h = new Histogram(3); return (v) => h.record(v); })],
  ['ours, 2 digits (timeline)', measure(() => { const h = new Histogram(2); return (v) => h.record(v); })],
  ['hdr-histogram-js JS, 3 digits', measure(() => { const h = hdr.build({ numberOfSignificantValueDigits: 3, bitBucketSize: 64 }); return (v) => h.recordValue(v); })],
  [
    'hdr-histogram-js WASM, 3 digits',
    measure(() => {
      const h = hdr.build({ numberOfSignificantValueDigits: 3, useWebAssembly: true });
      return (v) => h.recordValue(v);
    }),
  ],
];
console.log(`recording ${N.toLocaleString('en')} latencies, median of ${PASSES} passes (machine load affects all rows alike)`);
console.log(`${'typed-array increment (baseline)'.padEnd(34)} ${baseline.toFixed(1).padStart(7)} ns   1.0x`);
for (const [name, ns] of rows) console.log(`${name.padEnd(34)} ${ns.toFixed(1).padStart(7)} ns ${(ns / baseline).toFixed(1).padStart(5)}x`);
