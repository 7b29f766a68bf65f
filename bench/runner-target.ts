/**
 * The loopback app of bench:runner, in its own process so it does not share a core's event loop
 * with the load generator. Prints its port. Over IPC, 'start' opens a measurement and 'stop'
 * closes it, answering with samples [ms since start, requests served since start] taken every
 * 25 ms: the server measures both tools the same way, whatever window each tool would report.
 */
import { startLoadApp } from '../fixtures/load/app.js';

const app = await startLoadApp();
let t0 = performance.now();
let base = 0;
let samples: [number, number][] = [];
const sample = () => samples.push([performance.now() - t0, app.stats().requests - base]);
const sampler = setInterval(sample, 25);
process.stdout.write(`${app.port}\n`);
process.on('message', (m) => {
  if (m === 'start') {
    t0 = performance.now();
    base = app.stats().requests;
    samples = [[0, 0]];
  } else {
    sample();
    process.send?.(samples);
  }
});
process.on('SIGTERM', () => {
  clearInterval(sampler);
  void app.close().then(() => process.exit(0));
});
