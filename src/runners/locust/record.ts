/**
 * What a Locust job leaves in its results directory to be read again: `locust-run.json` (run
 * info, each cycle's users, recording window, per-second histograms and CSV files per node, the
 * proxies' timeline) next to Locust's CSV files. The runner builds its results from it at the
 * end of the job, and `marteau-tui report <job-id>` / `--diff` rebuild them the same way.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { applyChaos, type ChaosRecord } from '../chaos-capture.js';
import { RunResults, type ProxyTimelineEvent, type RunAbort, type RunInfo } from '../results.js';
import { parseExceptionsCsv, parseFailuresCsv, parseStatsCsv, type LocustSample } from './csv.js';
import { addLocustCycle, addNamedCycle, addUnnamedStreamedCycle, StepNumbers } from './results.js';
import type { StreamedCycle } from './stream.js';

export const LOCUST_RECORD = 'locust-run.json';
const FORMAT = 'marteau-tui.locust-run/1';

export interface LocustNodeFiles {
  node: string;
  /** Relative to the results directory. */
  stats: string;
  failures: string;
  exceptions: string;
}

/** A worker node lost mid-cycle: the report keeps what the master had from it and says so. */
export interface LocustNodeLoss {
  node: string;
  at: number;
  reason: string;
}

export interface LocustCycleRecord {
  cycle: number;
  cvus: number;
  /** Recording window, epoch ms (from the first node's start to the last node's end). */
  start?: number;
  end?: number;
  files: LocustNodeFiles[];
  /** Per node and second: [at ms, failures, [[ms, count], ...]]. */
  seconds: [number, number, [number, number][]][];
  /** Every request counted by start, outcome and time: the fine series of fault windows. */
  samples?: LocustSample[];
  /** The width of the samples' start buckets (SAMPLE_MS); records written before it said: 250. */
  sampleMs?: number;
  /**
   * Its CSV files never came back (its node lost mid-cycle, or not back soon after a cancel): the
   * cycle is counted from what Locust streamed, per request name (records written before the
   * stream named them: from `seconds`, as one step).
   */
  streamed?: true;
  named?: StreamedCycle;
}

export interface LocustRunRecord {
  format: typeof FORMAT;
  info: RunInfo;
  aborted: boolean;
  /** Why it was aborted, when known. */
  abort?: RunAbort;
  cycles: LocustCycleRecord[];
  proxyEvents: ProxyTimelineEvent[];
  /** The proxies' faults and the fault windows, when the job had any proxy or service fault. */
  chaos?: ChaosRecord;
  lost?: LocustNodeLoss[];
}

export function newLocustRecord(info: RunInfo): LocustRunRecord {
  return { format: FORMAT, info, aborted: false, cycles: [], proxyEvents: [] };
}

export class LocustRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocustRecordError';
  }
}

/** The results model of a recorded run; `dir` holds the record's CSV files. */
export async function resultsFromRecord(record: LocustRunRecord, dir: string, options: { apdexT?: number } = {}): Promise<RunResults> {
  const info = structuredClone(record.info);
  if (options.apdexT !== undefined) info.apdexT = options.apdexT;
  const results = new RunResults(info);
  const steps = new StepNumbers();
  const text = (rel: string) => readFile(path.join(dir, rel), 'utf8');
  // The faults go in before the requests: attribution joins each request with those known.
  if (record.chaos) applyChaos(results, record.chaos);
  for (const c of record.cycles) {
    const cy = results.cycle(c.cycle, c.cvus);
    cy.start = c.start;
    cy.end = c.end;
    // A lost worker stops the run (runner.ts): its last cycle recorded less than its duration.
    cy.cut = Boolean(record.lost?.length) && c === record.cycles.at(-1);
    // A cycle stopped before its last user started never reset Locust's stats: its files hold the
    // ramp-up, which no runner records, and no window to divide by.
    const files = c.start === undefined && record.aborted ? [] : c.files;
    for (const f of files) {
      const files = {
        stats: parseStatsCsv(await text(f.stats), f.stats),
        failures: parseFailuresCsv(await text(f.failures), f.failures),
        exceptions: parseExceptionsCsv(await text(f.exceptions), f.exceptions),
      };
      addLocustCycle(results, c.cycle, c.cvus, files, steps, c.end ?? info.start);
    }
    if (c.streamed && c.named) addNamedCycle(results, c.cycle, c.cvus, c.named, steps, c.end ?? info.start);
    else if (c.streamed) addUnnamedStreamedCycle(results, c.cycle, c.cvus, c.seconds, steps);
    for (const [at, failures, durations] of c.seconds) results.addSecond(c.cycle, c.cvus, at, failures, durations);
    for (const [at, outcome, ms, ok, count, node] of [...(c.samples ?? [])].sort((a, b) => a[0] - b[0])) {
      results.addCounted(at, ms, ok === 1, outcome, count, c.sampleMs ?? 250);
      // A distributed run's samples name their worker: the report's per-node figures.
      if (node !== undefined) for (let i = 0; i < count; i++) results.nodes.add(node, ms, ok === 1);
    }
    results.endCycle(c.cycle, c.end ?? info.start);
  }
  if (!record.chaos) for (const e of record.proxyEvents) results.addProxyEvent(e);
  for (const l of record.lost ?? []) results.nodeLost(l.node, l.at, l.reason);
  results.finish(info.end ?? Date.now(), record.aborted);
  if (record.abort) results.stoppedBy(record.abort);
  return results;
}

export async function writeLocustRecord(dir: string, record: LocustRunRecord): Promise<string> {
  const file = path.join(dir, LOCUST_RECORD);
  await writeFile(file, `${JSON.stringify(record)}\n`);
  return file;
}

/** Read a job's record and rebuild its results (for `marteau-tui report`). */
export async function loadLocustRun(dir: string, options: { apdexT?: number } = {}): Promise<RunResults> {
  const file = path.join(dir, LOCUST_RECORD);
  let record: LocustRunRecord;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as LocustRunRecord;
  } catch (e) {
    throw new LocustRecordError(`${file}: ${(e as Error).message}`);
  }
  if (record?.format !== FORMAT || !Array.isArray(record.cycles)) throw new LocustRecordError(`${file}: not a ${FORMAT} record`);
  try {
    return await resultsFromRecord(record, dir, options);
  } catch (e) {
    throw new LocustRecordError(`${file}: ${(e as Error).message}`);
  }
}
