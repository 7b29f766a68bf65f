/**
 * `marteau-tui report <results.xml|dir|job-id> -o <dir> [--diff A B] [--apdex-t T] [--thresholds FILE]`:
 * builds the HTML, JSON and JUnit reports from a result file (ours or FunkLoad's), or compares
 * two runs cycle by cycle. The exit code is the run's verdict as `--ci` gave it (1 a threshold
 * failed, 130 the run was cancelled or interrupted, ...; see verdictExit), 2 for a usage or input
 * mistake (an -o that cannot be written included).
 * A job given by its id is judged again by the thresholds of its config snapshot (unless
 * --thresholds names others), so rebuilding its report gives the verdict the job had.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { mkdirp } from '../fs/mkdirp.js';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { ConfigError, errorAt, parseYaml } from '../config/errors.js';
import { AmbiguousJobId, JOB_CONFIG_SNAPSHOT, resolveStateDir, StateDir } from '../core/state-dir.js';
import { FunkloadFormatError } from '../runners/funkload-xml.js';
import { metricKind, parseThresholds, ThresholdError, type Threshold } from '../config/thresholds.js';
import { evaluateThresholds, verdictWord } from '../runners/thresholds.js';
import { diffRuns, formatDiffText, renderDiffHtml } from '../report/diff.js';
import { writeReports } from '../report/index.js';
import { loadResults, ResultsNotFound } from '../report/load.js';
import { EXIT, UsageError } from '../core/exit.js';
import { fsReason } from '../fs/errors.js';
import { warnTo } from '../text/warn.js';
import { look, type GlobalOptions } from './global-options.js';
import { isTerminal } from '../core/jobs.js';
import type { RunSummary } from '../runners/results.js';
import { runVerdict, type RunVerdict } from '../runners/verdict.js';
import { surviveClosedOutput } from '../ci/closed-output.js';

export interface ReportIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export interface ReportCommandOptions {
  output?: string;
  diff?: string[];
  apdexT?: string;
  thresholds?: string;
}

/** A job's results directory, and the config it was enqueued with. */
export interface ResolvedInput {
  path: string;
  configSnapshot?: string;
}

export interface ReportCommandDeps {
  /** Maps an argument that is not a path (e.g. a job id) to a results path; the engine provides it. */
  resolveInput?: (arg: string) => Promise<ResolvedInput | undefined>;
  generator?: string;
}

/**
 * Thresholds from a YAML file: its `thresholds:` key (a .marteau.yml) or the whole map; with
 * `keyOnly`, none when the file has no such key (a job's config without thresholds).
 */
export async function loadThresholdsFile(file: string, keyOnly = false): Promise<Threshold[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read the thresholds file: ${fsReason(e) ?? String(e)} (give --thresholds a YAML file with a thresholds: map, or the map itself)`);
  }
  const src = parseYaml(file, text);
  const data = src.doc.toJS() as Record<string, unknown> | null;
  const hasKey = data && typeof data === 'object' && 'thresholds' in data;
  if (keyOnly && !hasKey) return [];
  // Not one key names a threshold: a config without `thresholds:` (or an empty file), not a map
  // of thresholds with a typo in it, whose first key would be reported as an unknown metric.
  const map = data !== null && typeof data === 'object' && !Array.isArray(data);
  if (!hasKey && (data == null || (map && !Object.keys(data).some(isThresholdKey)))) {
    throw new UsageError(
      `${file}: has no thresholds: key, so there is nothing to judge the run by\n  hint: add one, e.g. thresholds: {success_rate: ">= 99%", p95: "< 300ms"}, or give --thresholds a file holding only such a map`,
    );
  }
  try {
    return parseThresholds(hasKey ? data.thresholds : data, hasKey ? ['thresholds'] : []);
  } catch (e) {
    if (e instanceof ThresholdError) throw errorAt(src, e.path, e.problem, e.hint);
    throw e;
  }
}

/** A top-level key of a bare map of thresholds: a metric, or a scope (per_cycle, during, recovery). */
function isThresholdKey(k: string): boolean {
  return metricKind(k) !== undefined || ['per_cycle', 'during', 'recovery'].includes(k) || k.startsWith('during.');
}

export async function runReportCommand(inputs: string[], o: ReportCommandOptions, io: ReportIo, deps: ReportCommandDeps = {}): Promise<number> {
  // `report ... | head -1`: the reports are still written and the exit code still says the verdict.
  surviveClosedOutput(io.out, io.err);
  const apdexT = o.apdexT === undefined ? undefined : Number(o.apdexT);
  if (apdexT !== undefined && !(apdexT > 0 && apdexT <= 600)) throw new UsageError(`--apdex-t ${o.apdexT}: expected seconds, e.g. 1.5`);
  const outDir = o.output ?? '.';
  const resolve = async (arg: string): Promise<ResolvedInput> => (await deps.resolveInput?.(arg)) ?? { path: arg };
  const load = async (input: ResolvedInput) => {
    try {
      const r = await loadResults(input.path, { apdexT });
      for (const w of r.warnings) warnTo(io)(w);
      return r;
    } catch (e) {
      if (e instanceof ResultsNotFound || e instanceof FunkloadFormatError) throw new UsageError(e.message);
      throw e;
    }
  };

  if (o.diff) {
    if (o.diff.length !== 2 || inputs.length > 0) throw new UsageError('--diff takes exactly two runs: report --diff A B -o DIR');
    const [a, b] = await Promise.all(o.diff.map(async (arg) => load(await resolve(arg))));
    const d = diffRuns(a.results.summary(), b.results.summary(), [o.diff[0], o.diff[1]]);
    await writingTo(outDir, async () => {
      await mkdirp(outDir, 0o777);
      await writeFile(join(outDir, 'diff.html'), renderDiffHtml(d));
      await writeFile(join(outDir, 'diff.json'), `${JSON.stringify(d, null, 2)}\n`);
    });
    io.out.write(formatDiffText(d));
    io.out.write(`diff report: ${join(outDir, 'diff.html')}\n`);
    return EXIT.ok;
  }

  if (inputs.length !== 1) throw new UsageError('report takes one result file, directory or job id: report <results.xml|dir|job-id> -o DIR');
  const input = await resolve(inputs[0]);
  const thresholdsFile = o.thresholds ?? input.configSnapshot;
  let thresholds: Threshold[] = [];
  if (thresholdsFile) {
    try {
      thresholds = await loadThresholdsFile(thresholdsFile, !o.thresholds);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  const loaded = await load(input);
  const summary = loaded.results.summary();
  summary.measures ??= loaded.measures;
  const verdicts = evaluateThresholds(thresholds, summary);
  const files = await writingTo(outDir, () => writeReports(outDir, summary, verdicts, { generator: deps.generator, warnings: loaded.warnings }));
  const o2 = summary.overall;
  io.out.write(
    `${summary.info.name}: ${summary.cycles.length} cycle(s), ${o2.requests.total} requests, ${o2.requests.total ? `${(o2.successRate * 100).toFixed(2)}% ok` : 'none ok'}, ` +
      `${o2.requests.rps.toFixed(1)} req/s, p95 ${o2.requests.latency.count ? `${o2.requests.latency.p95.toFixed(1)}ms` : '–'}\n`,
  );
  if (!o.thresholds && thresholds.length) io.out.write(`thresholds of the job's config snapshot ${input.configSnapshot}\n`);
  for (const v of verdicts) io.out.write(`${verdictWord(v)} ${v.message}\n`);
  const verdict = runVerdict(summary, verdicts);
  if (!verdict.passed) io.out.write(`${verdict.interrupted ? 'INTERRUPTED' : 'FAILED'}: ${verdict.reasons.join('; ')}\n`);
  io.out.write(`report: ${files.html}\njson: ${files.json}\njunit: ${files.junit}\n`);
  return verdictExit(summary, verdict);
}

/**
 * The exit code `--ci` gave the job these results came from (ci/exit-code.ts): a run cancelled,
 * interrupted or whose engine was killed 130; an unsteady sweep, a lost node or a run stopped
 * for want of room for its samples an infrastructure failure; any other failure, a run stopped
 * by its timeout or ended early by its load tool (FunkLoad's `Aborting run`, a bench killed on
 * its node) included, a test failure.
 */
function verdictExit(summary: RunSummary, verdict: RunVerdict): number {
  if (verdict.passed) return EXIT.ok;
  if (verdict.interrupted) return EXIT.interrupted;
  return verdict.infrastructure || summary.abort?.why === 'unsteady' ? EXIT.infrastructure : EXIT.failed;
}

/** Writing into the -o directory: what the filesystem refuses is the user's to fix, said without a stack trace. */
async function writingTo<T>(outDir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    const why = fsReason(e);
    if (why === undefined) throw e;
    throw new UsageError(`cannot write reports to ${outDir}: ${why} (give -o a directory you can write)`);
  }
}

/** `report` as the CLI runs it: job ids resolve against the state dir. */
export function runReportFromCli(results: string[], o: ReportCommandOptions, io: ReportIo, g: GlobalOptions, deps: ReportCommandDeps): Promise<number> {
  const state = new StateDir(resolveStateDir(g.stateDir));
  return runReportCommand(results, o, io, { resolveInput: (arg) => jobResults(state, arg, (id) => jobNotOver(g, io, id)), ...deps });
}

/**
 * A job id (prefix) names its results directory in the state dir, when no such file exists; a
 * job's directory, by its id or its path, must hold a job that ended (`notOver` says why not).
 */
async function jobResults(state: StateDir, arg: string, notOver: (id: string) => Promise<string | undefined>): Promise<ResolvedInput | undefined> {
  const exists = (p: string) => stat(p).then(() => true, () => false);
  if (await exists(arg)) {
    if (dirname(resolvePath(arg)) !== state.jobsDir) return undefined;
    const why = await notOver(basename(arg));
    if (why) throw new UsageError(why);
    return undefined;
  }
  try {
    const dir = await state.findJobDir(arg);
    if (!dir && /^[0-9a-f]{4,64}$/.test(arg)) throw new UsageError(`${arg}: no such file, and no job with that id in ${state.root} (see \`marteau-tui queue --all\`; --state-dir picks another queue)`);
    if (!dir) return undefined;
    const why = await notOver(basename(dir));
    if (why) throw new UsageError(why);
    const snapshot = join(dir, JOB_CONFIG_SNAPSHOT);
    return { path: dir, ...((await exists(snapshot)) ? { configSnapshot: snapshot } : {}) };
  } catch (e) {
    if (e instanceof AmbiguousJobId) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * Why job `id` has no results to report on yet: queued or running, as the queue has it. A running
 * builtin job's sample log is not left over: converting it (what a killed job's gets) took it from
 * under the job, which then failed, and called the run interrupted.
 */
async function jobNotOver(g: GlobalOptions, io: ReportIo, id: string): Promise<string | undefined> {
  const job = (await look(g, io)).jobs.find((j) => j.id === id);
  if (!job || isTerminal(job.status)) return undefined;
  return `job ${id.slice(0, 8)} (${job.name}) is ${job.status}: its results are complete only once it ends; run \`marteau-tui report ${id.slice(0, 8)}\` again then (\`marteau-tui queue\` shows when)`;
}
