/**
 * `marteau-tui report <results.xml|dir|job-id> -o <dir> [--diff A B] [--apdex-t T] [--thresholds FILE]`:
 * builds the HTML, JSON and JUnit reports from a result file (ours or FunkLoad's), or compares
 * two runs cycle by cycle. Exit code 1 when a threshold fails, 2 for a usage or input mistake.
 */
import { readFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, errorAt, parseYaml } from '../config/errors.js';
import { AmbiguousJobId, resolveStateDir, StateDir } from '../core/state-dir.js';
import { FunkloadFormatError } from '../runners/funkload-xml.js';
import { evaluateThresholds, parseThresholds, ThresholdError, type Threshold } from '../runners/thresholds.js';
import { diffRuns, formatDiffText, renderDiffHtml } from '../report/diff.js';
import { writeReports } from '../report/index.js';
import { loadResults, ResultsNotFound } from '../report/load.js';
import { EXIT, UsageError } from './errors.js';

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

export interface ReportCommandDeps {
  /** Maps an argument that is not a path (e.g. a job id) to a results path; the engine provides it. */
  resolveInput?: (arg: string) => Promise<string | undefined>;
  generator?: string;
}

/** Thresholds from a YAML file: its `thresholds:` key (a .marteau.yml) or the whole map. */
export async function loadThresholdsFile(file: string): Promise<Threshold[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`${file}: cannot read the thresholds file`);
  }
  const src = parseYaml(file, text);
  const data = src.doc.toJS() as Record<string, unknown> | null;
  const hasKey = data && typeof data === 'object' && 'thresholds' in data;
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
  const resolve = async (arg: string) => (deps.resolveInput ? ((await deps.resolveInput(arg)) ?? arg) : arg);
  const load = async (arg: string) => {
    try {
      const r = await loadResults(await resolve(arg), { apdexT });
      for (const w of r.warnings) io.err.write(`marteau-tui: warning: ${w}\n`);
      return r;
    } catch (e) {
      if (e instanceof ResultsNotFound || e instanceof FunkloadFormatError) throw new UsageError(e.message);
      throw e;
    }
  };

  if (o.diff) {
    if (o.diff.length !== 2 || inputs.length > 0) throw new UsageError('--diff takes exactly two runs: report --diff A B -o DIR');
    const [a, b] = await Promise.all(o.diff.map(load));
    const d = diffRuns(a.results.summary(), b.results.summary(), [o.diff[0], o.diff[1]]);
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'diff.html'), renderDiffHtml(d));
    await writeFile(join(outDir, 'diff.json'), `${JSON.stringify(d, null, 2)}\n`);
    io.out.write(formatDiffText(d));
    io.out.write(`diff report: ${join(outDir, 'diff.html')}\n`);
    return EXIT.ok;
  }

  if (inputs.length !== 1) throw new UsageError('report takes one results file or directory: report <results.xml|dir> -o DIR');
  let thresholds: Threshold[] = [];
  if (o.thresholds) {
    try {
      thresholds = await loadThresholdsFile(o.thresholds);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  const loaded = await load(inputs[0]);
  const summary = loaded.results.summary();
  summary.measures ??= loaded.measures;
  const verdicts = evaluateThresholds(thresholds, summary);
  const files = await writeReports(outDir, summary, verdicts, { generator: deps.generator, warnings: loaded.warnings });
  const o2 = summary.overall;
  io.out.write(
    `${summary.info.name}: ${summary.cycles.length} cycle(s), ${o2.requests.total} requests, ${(o2.successRate * 100).toFixed(2)}% ok, ` +
      `${o2.requests.rps.toFixed(1)} req/s, p95 ${o2.requests.latency.p95.toFixed(1)}ms\n`,
  );
  for (const v of verdicts) io.out.write(`${v.passed ? 'PASS' : 'FAIL'} ${v.message}\n`);
  io.out.write(`report: ${files.html}\njson: ${files.json}\njunit: ${files.junit}\n`);
  return verdicts.every((v) => v.passed) ? EXIT.ok : EXIT.failed;
}

/** `report` as the CLI runs it: job ids resolve against the state dir. */
export function runReportFromCli(results: string[], o: ReportCommandOptions, io: ReportIo, stateDir: string | undefined, deps: ReportCommandDeps): Promise<number> {
  const state = new StateDir(resolveStateDir(stateDir));
  return runReportCommand(results, o, io, { resolveInput: (arg) => jobResults(state, arg), ...deps });
}

export { registerReportCommand } from './report-register.js';

/** A job id (prefix) names its results directory in the state dir, when no such file exists. */
async function jobResults(state: StateDir, arg: string): Promise<string | undefined> {
  if (await stat(arg).then(() => true, () => false)) return undefined;
  try {
    const dir = await state.findJobDir(arg);
    if (!dir && /^[0-9a-f]{4,64}$/.test(arg)) throw new UsageError(`${arg}: no such file, and no job with that id in ${state.root} (see \`marteau-tui queue --all\`; --state-dir picks another queue)`);
    return dir;
  } catch (e) {
    if (e instanceof AmbiguousJobId) throw new UsageError(e.message);
    throw e;
  }
}
