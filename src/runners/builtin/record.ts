/**
 * Streams a bench's recorded samples and cycle windows into a FunkLoad XML file as they happen,
 * so a crash keeps everything recorded so far. Used by the in-process job and by the agent that
 * runs on a node; both must write the same file.
 */
import type { FunkloadXmlWriter } from '../funkload-writer.js';
import type { RunResults } from '../results.js';
import type { BenchOptions } from './bench.js';

export function xmlRecorder(writer: FunkloadXmlWriter, results: RunResults): Pick<BenchOptions, 'onRequest' | 'onTest' | 'onCycle'> {
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
