/**
 * Finds and reads the results a report is built from: a FunkLoad/marteau result XML file, a
 * directory holding one or several (the per-node files of a distributed bench are merged), or a
 * Locust job's results directory (its locust-run.json and CSV files).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readFunkloadHeader, readFunkloadXmlFiles, type ReadOptions } from '../runners/funkload-xml.js';
import { LOCUST_RECORD, LocustRecordError, loadLocustRun } from '../runners/locust/record.js';
import type { Measures } from '../runners/measures/index.js';
import { sampleLogPath } from '../runners/sample-log.js';
import { convertSampleLog, SampleLogError } from '../runners/sample-log-read.js';
import type { RunAbort, RunResults } from '../runners/results.js';
import type { JsonReport } from './json.js';

export class ResultsNotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultsNotFound';
  }
}

export interface LoadedResults {
  results: RunResults;
  files: string[];
  warnings: string[];
  /** Fault windows and attribution the run measured (its summary.json): the XML does not carry them. */
  measures?: Measures;
}

/**
 * What a job wrote next to its results that the XML does not carry (its summary.json): the chaos
 * measures, the load tool's own failing verdict (FunkLoad's bench status, from its console), and
 * how its run stopped early (FunkLoad's file only shows it has no end; the console said why).
 */
async function recorded(dir: string): Promise<{ measures?: Measures; toolVerdict?: string; abort?: RunAbort }> {
  let j: Partial<JsonReport>;
  try {
    j = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Partial<JsonReport>;
  } catch {
    return {}; // none, or not ours: the report simply has no fault windows
  }
  const said = {
    ...(typeof j.tool_verdict === 'string' ? { toolVerdict: j.tool_verdict } : {}),
    ...(typeof j.abort?.why === 'string' && typeof j.abort.reason === 'string' ? { abort: j.abort } : {}),
  };
  if (!j.fault_windows || !j.attribution || !j.recovery_options) return said;
  const windows = j.fault_windows.map(({ start_s: _s, end_s: _e, recovery_text: _t, ...w }) => w);
  return { measures: { windows, attribution: j.attribution, recoveryOptions: j.recovery_options }, ...said };
}

/** How a job ended, as its result.json (beside its results) says; undefined without one. */
async function jobEnd(dir: string): Promise<Partial<Record<'status' | 'failure' | 'reason' | 'summary', string>> | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as Partial<Record<'status' | 'failure' | 'reason' | 'summary', string>>;
  } catch {
    return undefined;
  }
}

/**
 * A builtin job's sample log left unconverted becomes the result file it stands for, up to its
 * last whole record. Says what it did, for the warnings. Its job was killed before its end, or
 * it failed for want of room to write its samples or convert them: then its result.json says so,
 * and the results say the same (exit 3), not that the job was killed (interrupted, 130).
 */
async function convertLeftLog(log: string, xml: string): Promise<string> {
  const job = await jobEnd(dirname(log));
  const cut: RunAbort | undefined = job?.status === 'failed' && job.failure === 'infrastructure' && job.reason ? { why: 'infrastructure', reason: job.reason } : undefined;
  try {
    const r = await convertSampleLog(log, xml, cut);
    return `${log}: ${cut ? 'its job failed before converting it' : 'the job did not finish'}; its sample log (${r.requests} requests${r.complete ? '' : ', cut short'}) was converted to ${basename(xml)}`;
  } catch (e) {
    if (!(e instanceof SampleLogError)) throw e;
    return e.message;
  }
}

/** Every sample log of a directory without its result file beside it. */
async function convertLeftLogs(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const said: string[] = [];
  for (const n of names.filter((n) => n.endsWith('.samples')).sort()) {
    const xml = `${n.slice(0, -'.samples'.length)}.xml`;
    // Both there: the job was killed between writing the XML and removing its log.
    if (!names.includes(xml)) said.push(await convertLeftLog(join(dir, n), join(dir, xml)));
  }
  return said;
}

/** The bench result files of a directory: XML files with a <funkload> root and bench cycles. */
export async function resultFilesIn(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.xml')).sort();
  const out: string[] = [];
  for (const n of names.slice(0, 1000)) {
    const p = join(dir, n);
    try {
      // stats.xml (monitoring) and junit.xml share the extension but are not bench results.
      const info = await readFunkloadHeader(p);
      if (info.bench.cycles.length > 0) out.push(p);
    } catch {
      // unreadable: not ours
    }
  }
  return out;
}

export async function loadResults(input: string, options: ReadOptions = {}): Promise<LoadedResults> {
  // A killed builtin job's results.xml, named directly: its sample log stands for it.
  const named = input.endsWith('.xml') && !existsSync(input) && existsSync(sampleLogPath(input)) ? [await convertLeftLog(sampleLogPath(input), input)] : [];
  let st;
  try {
    st = await stat(input);
  } catch {
    throw new ResultsNotFound(`${input}: no such file or directory (give a result XML file, a directory of them, or a job id: \`marteau-tui queue --all\` lists them)`);
  }
  // A Locust job's results: its record and Locust's CSV files, no XML.
  if (st.isDirectory() && existsSync(join(input, LOCUST_RECORD))) {
    try {
      return { results: await loadLocustRun(input, options), files: [join(input, LOCUST_RECORD)], warnings: [] };
    } catch (e) {
      if (e instanceof LocustRecordError) throw new ResultsNotFound(e.message);
      throw e;
    }
  }
  const converted = st.isDirectory() ? await convertLeftLogs(input) : named;
  const files = st.isDirectory() ? await resultFilesIn(input) : [input];
  if (files.length === 0) throw new ResultsNotFound(`${input}: ${(st.isDirectory() && (await jobWithoutResults(input))) || 'no FunkLoad bench result (*.xml with a <funkload> root) in this directory'}`);
  const { results, warnings } = await readFunkloadXmlFiles(files, options);
  const { measures, toolVerdict, abort } = st.isDirectory() ? await recorded(input) : {};
  if (toolVerdict) results.info.toolVerdict = toolVerdict;
  if (abort && results.aborted) results.abort = abort;
  return { results, files, warnings: [...converted, ...warnings], ...(measures ? { measures } : {}) };
}

/**
 * A job's directory with no load results: say how the job ended (a job cancelled before its load,
 * a command job without `xml:`) rather than that FunkLoad's files are missing.
 */
async function jobWithoutResults(dir: string): Promise<string | undefined> {
  const job = await jobEnd(dir);
  if (!job) return undefined;
  const ended = job.summary ?? `${job.status}${job.reason ? `: ${job.reason}` : ''}`;
  return `this job left no load results to report on (it ended ${ended}); a command job has them only when its config sets xml:`;
}
