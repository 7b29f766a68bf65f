/**
 * The console of a real fl-run-bench stopped with Ctrl-C (fixtures/funkload/real/
 * interrupted-bench.console.txt, see CAPTURED.md): FunkLoad prints `Aborting run...Aborted` right
 * after the test marks of the line it was on, and a thread ending after it adds its own mark.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BenchConsole, type ConsoleEvent } from '../src/runners/funkload/console.js';

const lines = readFileSync(new URL('../fixtures/funkload/real/interrupted-bench.console.txt', import.meta.url), 'utf8').split('\n');

describe('fl-run-bench stopped by Ctrl-C', () => {
  it("counts only FunkLoad's marks before its abort, and says it aborted", () => {
    const c = new BenchConsole();
    const recorded: ConsoleEvent[] = [];
    for (const l of lines) {
      const e = c.line(l);
      if (e?.kind === 'recording') recorded.push(e);
    }
    // The last line ends "FFFF..F..FFF.FF.Aborting run...AbortedF": not the dots of "run...", nor the F after it.
    expect(lines.at(-1)).toMatch(/Aborting run\.\.\.Aborted\x1b\[31;01mF\x1b\[0m$/);
    expect(recorded).toEqual([
      { kind: 'recording', seconds: 2, success: 3, failure: 8, error: 0 }, // FunkLoad's "Cycle result" of cycle #0
      { kind: 'recording', seconds: 2, success: 6, failure: 10, error: 0 },
    ]);
    expect(c.state).toMatchObject({ aborted: true, cycle: 1, users: 2, success: 9, failure: 18, problems: ['Aborting run...Aborted'] });
    expect(c.state.status).toBeUndefined();
  });
});
