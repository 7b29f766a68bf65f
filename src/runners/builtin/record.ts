/**
 * Hands a bench's recorded samples and cycle windows to a result writer as they happen, so a
 * crash keeps everything recorded so far: the job's compact sample log, or the FunkLoad XML the
 * agent on a node streams. Both become the same result file.
 */
import type { RunResults } from '../results.js';
import type { RequestSample, TestSample } from '../samples.js';
import type { BenchOptions } from './bench.js';

/** What both writers take (SampleLogWriter, FunkloadXmlWriter). */
export interface SampleWriter {
  request(s: RequestSample): void;
  test(t: TestSample): void;
  cycle(cycle: number, cvus: number, start: number, end: number): void;
}

export function xmlRecorder(writer: SampleWriter, results: RunResults): Pick<BenchOptions, 'onRequest' | 'onTest' | 'onCycle'> {
  return {
    onRequest: (s) => writer.request(s),
    onTest: (t) => writer.test(t),
    onCycle: (e) => {
      if (e.phase !== 'end') return;
      const cy = results.cycles.get(e.cycle);
      if (cy?.start !== undefined && cy.end !== undefined) writer.cycle(e.cycle, e.cvus, cy.start, cy.end);
    },
  };
}
