/**
 * The `builtin` runner for the engine: FunkLoad-style cycles over a YAML scenario (no Python).
 * On the local node alone the bench runs in this process; otherwise every node runs an agent on
 * its share of the users (distributed.ts). Reports, thresholds and the proxies' fault timeline
 * come from runBuiltinJob either way; this file maps the engine's context onto it.
 */
import path from 'node:path';
import type { Runner, RunnerContext, RunOutcome } from '../runner.js';
import { parseThresholds } from '../thresholds.js';
import { builtinConfigSchema } from './config.js';
import { distributedBench, nodeFailure } from './distributed.js';
import { runBuiltinJob } from './job.js';

export const builtinRunner: Runner = {
  name: 'builtin',
  description: 'the embedded load generator: cycles of virtual users over a YAML scenario of HTTP steps (FunkLoad semantics)',
  configSchema: builtinConfigSchema,
  check(config) {
    try {
      parseThresholds(config.raw.thresholds);
    } catch (e) {
      const err = e as { path?: (string | number)[]; problem?: string; hint?: string };
      if (err.path) return { path: err.path, message: err.problem ?? String(e), hint: err.hint };
      throw e;
    }
    return undefined;
  },
  run: runBuiltin,
};

async function runBuiltin(ctx: RunnerContext): Promise<RunOutcome> {
  const config = builtinConfigSchema.parse(ctx.config.raw);
  const inProcess = ctx.nodes.length === 1 && ctx.nodes[0].kind === 'local';
  const meta = { job: ctx.job.id };
  const result = await runBuiltinJob({
    name: ctx.job.name,
    config,
    resultDir: ctx.resultDir,
    signal: ctx.signal,
    thresholds: parseThresholds(ctx.config.raw.thresholds),
    proxies: ctx.proxies.values(),
    // Fixtures applied before the load are on the timeline already.
    events: ctx.timeline().map((t) => ({ at: t.at, proxy: t.proxy, kind: 'mix' as const, mix: t.mix })),
    log: (line) => ctx.log(line),
    progress: (p) =>
      ctx.progress({
        cycle: p.cycle,
        cycles: p.cycles,
        users: p.users,
        requestsPerSecond: p.requestsPerSecond,
        requests: p.requests,
        errors: p.errors,
        message: p.phase === 'recording' ? undefined : p.phase,
      }),
    onLoadStarted: () => ctx.loadStarted(),
    meta,
    bench: inProcess ? undefined : distributedBench(ctx, meta),
  }).catch(nodeFailure);
  if (!('verdicts' in result)) return result;
  const failed = result.verdicts.filter((v) => !v.passed);
  return {
    status: result.passed ? 'succeeded' : 'failed',
    failure: result.passed ? undefined : 'test',
    reason: result.aborted ? 'the run was stopped before its end' : failed.length ? `${failed.length} threshold(s) failed: ${failed.map((v) => v.message).join('; ')}` : undefined,
    summary: result.line,
    report: result.files.html,
    artifacts: Object.values(result.files).filter((f): f is string => typeof f === 'string').map((f) => path.relative(ctx.resultDir, f)),
  };
}

