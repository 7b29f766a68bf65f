/**
 * The `command` runner: any program, run on each of the job's nodes at once, output streamed
 * live; the job succeeds when every node's exit status is 0 and, for a job with chaos (whose
 * report judges the command's `xml:` requests), when that report's verdict passes too. On SSH
 * nodes the project directory is copied first and `xml`/`artifacts` are fetched back after.
 */
import path from 'node:path';
import { NodeError, TransferError } from '../exec/executor.js';
import type { RunResult } from '../exec/executor.js';
import { ChaosCapture } from './chaos-capture.js';
import { commandChaosReport } from './command-chaos.js';
import type { Runner, RunnerContext, RunnerNode, RunOutcome } from '../core/runner-contract.js';
import { reportOutcome, runAbort, type JobReport, type ReportWriter } from './job-report.js';
import { cleanupStage, fetchNodeArtifacts, nodeEnv, stageProject } from './staging.js';

interface NodeRun {
  node: RunnerNode;
  result?: RunResult;
  error?: Error;
  /** The program's last line on stderr: why it failed, said in the job's reason. */
  lastError?: string;
}

/** Cells of a stderr line kept for the reason: a message, not a dump. */
const ERROR_LINE_MAX = 200;

/** The runner; `writeReports` (report/'s, handed in from above) writes a chaos job's report. */
export const commandRunner = (writeReports: ReportWriter): Runner => ({
  name: 'command',
  description: 'runs `command:` on each node; output streamed live; exit status 0 on every node is success (with chaos, its xml: requests are judged too)',
  check(config) {
    if (!config.command) return { path: [], message: 'the command runner needs a `command:`', hint: 'e.g. command: [node, load.js, --users, "10"]' };
    if (Object.keys(config.thresholds).length) {
      return {
        path: ['thresholds'],
        message: 'the command runner does not evaluate thresholds: its result is the exit status',
        hint: 'check them in your command and exit non-zero, or use a runner that measures (builtin)',
      };
    }
    return undefined;
  },
  // The project copy and the fetched artifacts (xml: among them) are its only transfers.
  movesFiles: (config) => config.upload || config.artifacts.length > 0,
  run: (ctx) => runCommand(ctx, writeReports),
});

async function runCommand(ctx: RunnerContext, writeReports: ReportWriter): Promise<RunOutcome> {
  const argv = ctx.config.command!;
  // One node failing (connection lost) stops the others: the job is over, leave nothing behind.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const runs: NodeRun[] = ctx.nodes.map((node) => ({ node }));
  let chaos: ChaosCapture | undefined;
  try {
    // Stage everywhere first, so the load starts at the same moment on every node.
    const dirs = await Promise.all(
      runs.map((r) =>
        stageProject(ctx, r.node).catch((e: Error) => {
          r.error = e;
          if (e instanceof NodeError) ctx.nodeFailed(r.node.name, e.message);
          stop.abort();
          return '';
        }),
      ),
    );
    if (runs.some((r) => r.error)) return failure(runs, ctx);
    if (ctx.signal.aborted) return { status: 'failed', reason: 'cancelled before the command started' };
    // With proxies or service faults the job also gets a chaos report (command-chaos.ts).
    chaos = ctx.proxies.size || ctx.config.serviceFaults.length ? new ChaosCapture(ctx.proxies.values(), ctx.timeline()) : undefined;
    chaos?.started();
    ctx.loadStarted();
    ctx.progress({ message: `running on ${runs.map((r) => r.node.name).join(', ')}` });
    await Promise.all(
      runs.map(async (r, i) => {
        try {
          r.result = await r.node.executor.run(argv, {
            cwd: dirs[i],
            env: nodeEnv(ctx, r.node, runs.length),
            signal: stop.signal,
            onLine: (line, stream) => {
              if (stream === 'stderr' && line.trim()) r.lastError = line.trim().slice(0, ERROR_LINE_MAX);
              ctx.log(line, { node: r.node.name, stream });
            },
            onStart: ({ pgid }) => ctx.recordProcess(r.node.name, pgid),
          });
          ctx.log(describeExit(r.result, ctx), { node: r.node.name, stream: 'engine' });
        } catch (e) {
          r.error = e as Error;
          if (e instanceof NodeError) ctx.nodeFailed(r.node.name, e.message);
          stop.abort();
        }
      }),
    );
    const artifacts = ctx.signal.aborted ? [] : await fetchArtifacts(ctx, runs, dirs);
    const outcome = { ...failure(runs, ctx), artifacts };
    if (!chaos || ctx.signal.aborted) return outcome;
    const report = await commandChaosReport(ctx, writeReports, chaos.record(ctx.timeline(), ctx.config.recovery), artifacts);
    return { ...judged(outcome, report, ctx), report: report.files.html, closing: report.closing, artifacts: [...artifacts, ...Object.values(report.files).map((f) => path.relative(ctx.resultDir, f))] };
  } finally {
    chaos?.stop();
    ctx.signal.removeEventListener('abort', onAbort);
    await Promise.all(runs.map((r) => cleanupStage(ctx, r.node, r.error)));
  }
}

async function fetchArtifacts(ctx: RunnerContext, runs: NodeRun[], dirs: string[]): Promise<string[]> {
  const fetched: string[] = [];
  for (const [i, r] of runs.entries()) if (!r.error) fetched.push(...(await fetchNodeArtifacts(ctx, r.node, dirs[i], ctx.config.artifacts)));
  return fetched;
}

function failure(runs: NodeRun[], ctx: RunnerContext): RunOutcome {
  const lost = runs.find((r) => r.error);
  if (lost) {
    const infra = lost.error instanceof NodeError;
    return {
      status: 'failed',
      failure: infra ? 'infrastructure' : lost.error instanceof TransferError ? 'config' : 'infrastructure',
      reason: infra ? lost.error!.message : `node "${lost.node.name}": ${lost.error!.message}`,
    };
  }
  const bad = runs.filter((r) => r.result && r.result.exitCode !== 0);
  // Stopped (cancel, timeout, shutdown): the engine says why; its processes' exit says nothing.
  if (ctx.signal.aborted) return { status: 'failed', summary: `stopped on ${runs.length} node${runs.length > 1 ? 's' : ''}` };
  if (!bad.length) return { status: 'succeeded', summary: `${runs.length} node${runs.length > 1 ? 's' : ''}, exit 0`, exitCode: 0 };
  return {
    status: 'failed',
    // A program the node cannot start (not installed there, no x bit) is the machine's lack, as
    // Locust not installed is for the locust runner: exit 3, not the test's 1.
    failure: bad.some((r) => r.result!.notStarted) ? 'infrastructure' : 'test',
    exitCode: bad[0].result!.exitCode ?? 1,
    // With its last error line, as the funkload runner's: a job that failed at once reads
    // 'exit 3: cannot connect to ...' in the queue and the messages, not a bare 'exit 3'.
    reason: bad.map((r) => `node "${r.node.name}": ${describeExit(r.result!, ctx)}${r.lastError ? `: ${r.lastError}` : ''}`).join('; '),
    summary: `${bad.length} of ${runs.length} node${runs.length > 1 ? 's' : ''} failed`,
  };
}

/**
 * The exit status and the report's verdict together. A command that exits 0 whatever its bench
 * said (a wrapper script, a tool that does not judge) would otherwise leave a succeeded job next
 * to a summary.json, HTML and junit.xml saying FAIL; a failed one also gets the report's reasons.
 */
function judged(outcome: RunOutcome, report: JobReport, ctx: RunnerContext): RunOutcome {
  if (report.passed) return outcome;
  const verdict = reportOutcome(report, ctx.resultDir);
  if (outcome.status === 'succeeded') return { ...outcome, status: 'failed', failure: verdict.failure, reason: verdict.reason };
  return { ...outcome, reason: [outcome.reason, verdict.reason].filter(Boolean).join('; ') };
}

function describeExit(r: RunResult, ctx: RunnerContext): string {
  if (r.cancelled) return `stopped: ${stopReason(ctx)}`;
  if (r.exitCode === null) return `killed by ${r.signal ?? 'a signal'}`;
  return `exit ${r.exitCode}`;
}

/** Why a node's command was stopped: the engine's reason (a cancel, the timeout...), else another node's failure. */
function stopReason(ctx: RunnerContext): string {
  if (!ctx.signal.aborted) return 'another node failed';
  return runAbort(ctx.signal.reason, undefined, ctx.cancelCause()).reason.replace(/^stopped /, '');
}
