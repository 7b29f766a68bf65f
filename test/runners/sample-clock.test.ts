/**
 * The samples' clock is shared by the engine and its agents: processes started on one host while
 * it is busy must agree closely enough that a sub-millisecond request still meets the fault the
 * engine timed for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { now } from '../../src/runners/builtin/sample-clock.js';
import { dist } from '../helpers/dist.js';

/**
 * The epoch ms a process's sample clock gives the host's monotonic zero: equal in agreeing
 * processes. Read between two monotonic reads, the closest pair of a few (this runs on a busy
 * machine too, and a read can be descheduled).
 */
function monotonicZero(now: () => number): number {
  const mono = () => Number(process.hrtime.bigint()) / 1e6;
  let best = { span: Infinity, zero: NaN };
  for (let i = 0; i < 50; i++) {
    const a = mono();
    const t = now();
    const b = mono();
    if (b - a < best.span) best = { span: b - a, zero: t - (a + b) / 2 };
  }
  return best.zero;
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}`))));
  });
}

describe('sample clock', () => {
  it('is the epoch in ms', () => {
    const [before, t, after] = [Date.now(), now(), Date.now()];
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThan(after + 1);
  });

  it('processes started on a busy machine agree to well under a millisecond (performance.timeOrigin did not)', async () => {
    const clock = pathToFileURL(dist('src/runners/builtin/sample-clock.js')).href;
    // Busy loops, one per core of the machine this suite is meant for, each ending by itself.
    const busy: ChildProcess[] = [];
    for (let i = 0; i < 2; i++) busy.push(spawn(process.execPath, ['-e', 'const end = Date.now() + 20000; while (Date.now() < end);'], { stdio: 'ignore' }));
    try {
      const zeros: number[] = [];
      for (let round = 0; round < 10; round++) {
        const outs = await Promise.all(Array.from({ length: 6 }, () => run(['--input-type=module', '-e', `const { now } = await import(${JSON.stringify(clock)}); console.log((${monotonicZero.toString()})(now))`])));
        zeros.push(...outs.map(Number));
      }
      zeros.push(monotonicZero(now));
      expect(zeros.every(Number.isFinite)).toBe(true);
      const spread = Math.max(...zeros) - Math.min(...zeros);
      expect(spread, zeros.map((z) => (z - zeros[0]).toFixed(3)).join(' ')).toBeLessThan(0.2);
    } finally {
      for (const p of busy) p.kill();
    }
  }, 60_000);
});
