/**
 * The `builtin` runner for the engine: FunkLoad-style cycles over a YAML scenario, run by this
 * process (no Python, no install). Reports, thresholds and the proxies' fault timeline come
 * from runBuiltinJob; this file only maps the engine's context onto it.
 */
import path from 'node:path';
import type { MarteauConfig } from '../../config/marteau.js';
import type { Runner, RunnerContext, RunOutcome } from '../runner.js';
import { parseThresholds } from '../thresholds.js';
import { builtinConfigSchema } from './config.js';
import { runBuiltinJob } from './job.js';

export const builtinRunner: Runner = {
  name: 'builtin',
  description: 'the embedded load generator: cycles of virtual users over a YAML scenario of HTTP steps (FunkLoad semantics)',
  configSchema: builtinConfigSchema,
  check(config) {
    let thresholds;
    try {
      thresholds = parseThresholds(config.raw.thresholds);
    } catch (e) {
      const err = e as { path?: (string | number)[]; problem?: string; hint?: string };
      if (err.path) return { path: err.path, message: err.problem ?? String(e), hint: err.hint };
      throw e;
    }
    // A misspelt window name would only fail at the end of the run: say it now.
    const windows = faultWindowNames(config);
    const unknown = thresholds.find((t) => t.window !== undefined && !windows.includes(t.window));
    if (unknown) {
      return {
        path: unknown.path,
        message: `no fault window named "${unknown.window}"`,
        hint: windows.length ? `fault windows of this job: ${windows.join(', ')}` : 'a fault window is a fixture with `at:` (and `for:`), e.g. fixtures: {redis_blackout: {proxy: redis, behaviors: "100:blackout", at: 10s, for: 10s}}',
      };
    }
    return undefined;
  },
  run: runBuiltin,
};

/** Names a `during.<name>` threshold may use: the changes made during the load. */
export function faultWindowNames(config: MarteauConfig): string[] {
  return config.fixtures.filter((f) => f.atMs !== undefined).map((f) => f.name);
}

async function runBuiltin(ctx: RunnerContext): Promise<RunOutcome> {
  const remote = ctx.nodes.filter((n) => n.kind !== 'local').map((n) => n.name);
  if (remote.length) {
    return {
      status: 'failed',
      failure: 'config',
      reason: `the builtin runner runs on this machine only for now; node(s) ${remote.join(', ')} are SSH nodes (use node local, or runner: command)`,
    };
  }
  const config = builtinConfigSchema.parse(ctx.config.raw);
  const result = await runBuiltinJob({
    name: ctx.job.name,
    config,
    resultDir: ctx.resultDir,
    signal: ctx.signal,
    thresholds: parseThresholds(ctx.config.raw.thresholds),
    proxies: ctx.proxies.values(),
    // Fixtures applied before the load are on the timeline already.
    events: ctx.timeline().map((t) => ({ at: t.at, proxy: t.proxy, kind: 'mix' as const, mix: t.mix })),
    timeline: () => ctx.timeline(),
    recovery: ctx.config.recovery,
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
    meta: { job: ctx.job.id },
  });
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
