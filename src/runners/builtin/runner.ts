/**
 * The `builtin` runner for the engine: FunkLoad-style cycles over a YAML scenario (no Python).
 * On the local node alone the bench runs in this process; otherwise every node runs an agent on
 * its share of the users (distributed.ts). Reports, thresholds and the proxies' fault timeline
 * come from runBuiltinJob either way; this file maps the engine's context onto it.
 */
import { checkThresholds, finishedProgress, reportOutcome, type ReportWriter } from '../job-report.js';
import { jobMeta } from '../results.js';
import { fixtureEvents } from '../proxy-timeline.js';
import type { Runner, RunnerContext, RunOutcome } from '../../core/runner-contract.js';
import { sweepWithThresholds } from '../steady.js';
import { parseThresholds } from '../../config/thresholds.js';
import { cyclesLength } from '../cycles-length.js';
import { builtinConfigSchema, builtinKnownKeysAt } from './config.js';
import { distributedBench, nodeFailure } from './distributed.js';
import { runBuiltinJob } from './job.js';

/** The runner, writing its reports with `writeReports` (report/'s, handed in from above). */
export const builtinRunner = (writeReports: ReportWriter): Runner => ({
  name: 'builtin',
  description: 'the embedded load generator: cycles of virtual users over a YAML scenario of HTTP steps (FunkLoad semantics)',
  configSchema: builtinConfigSchema,
  knownKeysAt: builtinKnownKeysAt,
  check: checkThresholds,
  runLength(config) {
    // Users start one every startup_delay, then the cycle records for `duration`; cycles are
    // cycle_time apart. Stopping the users comes after: no longer "the run" for chaos times.
    const c = builtinConfigSchema.parse(config.raw);
    return cyclesLength(c.cycles, c.duration, c.cycle_time, { seconds: (users) => (users - 1) * c.startup_delay, words: `users started ${c.startup_delay}s apart` });
  },
  run: (ctx) => runBuiltin(ctx, writeReports),
});

async function runBuiltin(ctx: RunnerContext, writeReports: ReportWriter): Promise<RunOutcome> {
  const config = builtinConfigSchema.parse(ctx.config.raw);
  const inProcess = ctx.nodes.length === 1 && ctx.nodes[0].kind === 'local';
  const meta = jobMeta(ctx.job);
  const thresholds = parseThresholds(ctx.config.raw.thresholds);
  const result = await runBuiltinJob({
    name: ctx.job.name,
    config,
    resultDir: ctx.resultDir,
    writeReports,
    signal: ctx.signal,
    cancelCause: () => ctx.cancelCause(),
    thresholds,
    proxies: ctx.proxies.values(),
    // Fixtures applied before the load are on the timeline already.
    events: fixtureEvents(ctx.timeline()),
    timeline: () => ctx.timeline(),
    recovery: ctx.config.recovery,
    sweep: sweepWithThresholds(ctx.config.sweep, thresholds),
    onSteadyState: (v) => ctx.steadyState?.(v),
    log: (line) => ctx.log(line),
    progress: (p) => {
      // The bench's own last count says 'done' even when cancelled: the report's line below ends it.
      if (p.phase === 'done') return;
      ctx.progress({
        cycle: p.cycle,
        cycles: p.cycles,
        users: p.users,
        cycleUsers: p.cvus,
        requestsPerSecond: p.requestsPerSecond,
        errorsPerSecond: p.errorsPerSecond,
        p95Ms: p.p95Ms,
        requests: p.requests,
        errors: p.errors,
        message: p.phase === 'recording' ? undefined : p.phase,
      });
    },
    onLoadStarted: () => ctx.loadStarted(),
    meta,
    ...(inProcess ? {} : { node: ctx.nodes.map((n) => n.name).join(', ') }),
    bench: inProcess ? undefined : distributedBench(ctx, meta),
  }).catch(nodeFailure);
  if (!('verdicts' in result)) return result;
  ctx.progress(finishedProgress(result.summary));
  return reportOutcome(result, ctx.resultDir, [result.files.xml]);
}

