/**
 * `marteau-tui report <results.xml|dir|job-id> -o <dir> [--diff A B] [--apdex-t T] [--thresholds FILE]`:
 * builds the HTML, JSON and JUnit reports from a result file (ours or FunkLoad's), or compares
 * two runs cycle by cycle. Exit code 1 when a threshold fails, 2 for a usage or input mistake.
 * A job given by its id is judged again by the thresholds of its config snapshot (unless
 * --thresholds names others), so rebuilding its report gives the verdict the job had.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { mkdirp } from '../fs/mkdirp.js';
import { join } from 'node:path';
import { ConfigError, errorAt, parseYaml } from '../config/errors.js';
import { AmbiguousJobId, JOB_CONFIG_SNAPSHOT, resolveStateDir, StateDir } from '../core/state-dir.js';
import { FunkloadFormatError } from '../runners/funkload-xml.js';
import { parseThresholds, ThresholdError, type Threshold } from '../config/thresholds.js';
import { evaluateThresholds, verdictWord } from '../runners/thresholds.js';
import { diffRuns, formatDiffText, renderDiffHtml } from '../report/diff.js';
import { writeReports } from '../report/index.js';
import { loadResults, ResultsNotFound } from '../report/load.js';
import { EXIT, UsageError } from '../core/exit.js';

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
  } catch {
    throw new UsageError(`${file}: cannot read the thresholds file`);
  }
  const src = parseYaml(file, text);
  const data = src.doc.toJS() as Record<string, unknown> | null;
  const hasKey = data && typeof data === 'object' && 'thresholds' in data;
  if (keyOnly && !hasKey) return [];
  try {
    return parseThresholds(hasKey ? data.thresholds : data, hasKey ? ['thresholds'] : []);
  } catch (e) {
    if (e instanceof ThresholdError) throw errorAt(src, e.path, e.problem, e.hint);
    throw e;
  }
}

export async function runReportCommand(inputs: string[], o: ReportCommandOptions, io: ReportIo, deps: ReportCommandDeps = {}): Promise<number> {
  const apdexT = o.apdexT === undefined ? undefined : Number(o.apdexT);
  if (apdexT !== undefined && !(apdexT > 0 && apdexT <= 600)) throw new UsageError(`--apdex-t ${o.apdexT}: expected seconds, e.g. 1.5`);
  const outDir = o.output ?? '.';
  const resolve = async (arg: string): Promise<ResolvedInput> => (await deps.resolveInput?.(arg)) ?? { path: arg };
  const load = async (input: ResolvedInput) => {
    try {
      const r = await loadResults(input.path, { apdexT });
      for (const w of r.warnings) io.err.write(`marteau-tui: warning: ${w}\n`);
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
    await mkdirp(outDir, 0o777);
    await writeFile(join(outDir, 'diff.html'), renderDiffHtml(d));
    await writeFile(join(outDir, 'diff.json'), `${JSON.stringify(d, null, 2)}\n`);
    io.out.write(formatDiffText(d));
    io.out.write(`diff report: ${join(outDir, 'diff.html')}\n`);
    return EXIT.ok;
  }

  if (inputs.length !== 1) throw new UsageError('report takes one results file or directory: report <results.xml|dir> -o DIR');
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
  const files = await writeReports(outDir, summary, verdicts, { generator: deps.generator, warnings: loaded.warnings });
  const o2 = summary.overall;
  io.out.write(
    `${summary.info.name}: ${summary.cycles.length} cycle(s), ${o2.requests.total} requests, ${(o2.successRate * 100).toFixed(2)}% ok, ` +
      `${o2.requests.rps.toFixed(1)} req/s, p95 ${o2.requests.latency.p95.toFixed(1)}ms\n`,
  );
  if (!o.thresholds && thresholds.length) io.out.write(`thresholds of the job's config snapshot ${input.configSnapshot}\n`);
  for (const v of verdicts) io.out.write(`${verdictWord(v)} ${v.message}\n`);
  io.out.write(`report: ${files.html}\njson: ${files.json}\njunit: ${files.junit}\n`);
  return verdicts.every((v) => v.passed) ? EXIT.ok : EXIT.failed;
}

/** `report` as the CLI runs it: job ids resolve against the state dir. */
export function runReportFromCli(results: string[], o: ReportCommandOptions, io: ReportIo, stateDir: string | undefined, deps: ReportCommandDeps): Promise<number> {
  const state = new StateDir(resolveStateDir(stateDir));
  return runReportCommand(results, o, io, { resolveInput: (arg) => jobResults(state, arg), ...deps });
}

/** A job id (prefix) names its results directory in the state dir, when no such file exists. */
async function jobResults(state: StateDir, arg: string): Promise<ResolvedInput | undefined> {
  const exists = (p: string) => stat(p).then(() => true, () => false);
  if (await exists(arg)) return undefined;
  try {
    const dir = await state.findJobDir(arg);
    if (!dir && /^[0-9a-f]{4,64}$/.test(arg)) throw new UsageError(`${arg}: no such file, and no job with that id in ${state.root} (see \`marteau-tui queue --all\`; --state-dir picks another queue)`);
    if (!dir) return undefined;
    const snapshot = join(dir, JOB_CONFIG_SNAPSHOT);
    return { path: dir, ...((await exists(snapshot)) ? { configSnapshot: snapshot } : {}) };
  } catch (e) {
    if (e instanceof AmbiguousJobId) throw new UsageError(e.message);
    throw e;
  }
}
