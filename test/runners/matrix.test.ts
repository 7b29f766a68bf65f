/**
 * A sweep's cells when the run stops early: what the stop cut short is not judged (SKIP), even
 * when no request had run in its window yet (a cancel landing as the fault was applied).
 */
import { describe, expect, it } from 'vitest';
import type { SweepCell, SweepPlan } from '../../src/config/sweep.js';
import { buildMatrix, matrixLines } from '../../src/runners/matrix.js';
import type { WindowMeasure } from '../../src/runners/measures/index.js';

const cell: SweepCell = { name: 'redis-errors', backend: 'redis', kind: 'errors', target: { proxy: 'redis' }, fault: "100 % the protocol's error", atMs: 2000, forMs: 4000, expect: ['5xx'], withinMs: 2000 };
const plan = { seed: '7', stepMs: 4000, gapMs: 4000, leadMs: 2000, kinds: ['errors'], backends: [{ name: 'redis', proxy: 'redis' }], cells: [cell] } as unknown as SweepPlan;

/** The window of `cell` with `requests` requests, all 503, its fault still on at the run's end. */
function window(requests: number): WindowMeasure {
  const classes = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': requests, timeout: 0, connection: 0, other: 0 };
  return {
    name: cell.name,
    recovery: { status: 'ongoing' },
    effect: { requests, success: 0, successRate: requests ? 0 : undefined, p95: requests ? 5 : undefined, outcomes: requests ? { '503': requests } : {}, classes, injected: {}, headline: '' },
  } as unknown as WindowMeasure;
}

describe('buildMatrix on a run stopped early', () => {
  it('a cell cut short with no request in it yet is SKIP, not FAIL', () => {
    const m = buildMatrix(plan, [window(0)], undefined, 'cancelled by a user');
    expect(m.cells[0]).toMatchObject({ verdict: 'skip', met: false });
    expect(matrixLines(m)[1]).toMatch(/^SKIP redis errors \(.*\): no request, p95 -; .* — the run stopped before its recovery could be judged \(cancelled by a user\)$/);
  });

  it('a cell cut short with requests is SKIP too; one the run did not stop in still fails without requests', () => {
    expect(buildMatrix(plan, [window(12)], undefined, 'cancelled by a user').cells[0]).toMatchObject({ verdict: 'skip', met: true });
    expect(buildMatrix(plan, [window(0)]).cells[0]).toMatchObject({ verdict: 'fail', why: expect.stringContaining('no request ran during the fault') });
  });
});
