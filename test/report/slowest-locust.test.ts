/**
 * "Slowest requests" for a Locust run: its entries are the steps, timed by the distribution
 * rebuilt from Locust's percentiles. Read from files real Locust 2.12.1 wrote
 * (fixtures/locust/recorded/), judged against Locust's own averages in the same files.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from '../../src/report/index.js';
import { parseStatsCsv } from '../../src/runners/locust/csv.js';
import { newLocustRecord, resultsFromRecord } from '../../src/runners/locust/record.js';
import { defaultBench, newRunInfo } from '../../src/runners/results.js';
import { ourSlowest } from '../helpers/fl-build-report.js';

const REC = path.join(import.meta.dirname, '../../fixtures/locust/recorded');
const START = 1_795_646_570_000;

describe('"Slowest requests" of a Locust run', () => {
  it("lists the best cycle's entries by average time, in the order of Locust's own averages", async () => {
    const r = newLocustRecord(newRunInfo({ name: 'shop', runner: 'locust', start: START, bench: { ...defaultBench(), cycles: [2, 4], duration: 30 } }));
    for (const [i, cvus] of [2, 4].entries()) {
      const files = { node: 'a', stats: `cycle-${i + 1}_stats.csv`, failures: `cycle-${i + 1}_failures.csv`, exceptions: `cycle-${i + 1}_exceptions.csv` };
      r.cycles.push({ cycle: i, cvus, start: START + i * 40_000, end: START + i * 40_000 + 30_000, files: [files], seconds: [] });
    }
    const s = (await resultsFromRecord(r, REC)).summary();
    // Both cycles rate Excellent: the best is the one with more successful pages per second.
    expect(s.cycles.map((c) => c.pages.apdex.rating)).toEqual(['Excellent', 'Excellent']);
    const best = s.cycles.reduce((a, c) => (c.pages.spps > a.pages.spps ? c : a));
    const slowest = ourSlowest(renderHtmlReport(s))!;
    expect(slowest.cvus).toBe(String(best.cvus));
    const locust = parseStatsCsv(readFileSync(path.join(REC, `cycle-${best.cycle + 1}_stats.csv`), 'utf8'))
      .entries.filter((e) => e.requests > 0)
      .sort((a, b) => b.avgMs - a.avgMs);
    expect(slowest.rows.map((row) => row[4])).toEqual(locust.map((e) => e.name));
    // Rebuilt from percentiles, each average is near Locust's (README: near, not equal).
    slowest.rows.forEach((row, i) => expect(Math.abs(Number(row[2].replace('ms', '')) - locust[i].avgMs) / locust[i].avgMs).toBeLessThan(0.25));
  });
});
