/**
 * One Locust process on a node, as the runner starts it: the argv (headless, run time, host),
 * the plugin next to the user's locustfile, the job's environment, its output held back until
 * the load starts, and a failure that says why when it did not start.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunResult } from '../../exec/executor.js';
import { MAX_DATA_LINE_CHARS } from '../../exec/lines.js';
import type { RunnerContext, RunnerNode } from '../../core/runner-contract.js';
import { nodeEnv } from '../staging.js';
import { locustSettings, type LocustSettings } from './config.js';
import { parseProgressLine, type LocustProgressLine } from './csv.js';
import { lostLine } from '../nodes.js';
import { PLUGIN_FILE } from './plugin.js';
import type { LocustNodeLoss } from './record.js';
import { locustStartupError } from './startup.js';

/** Extra seconds Locust's own -t allows past ramp + duration before it stops a stuck run. */
const RUN_TIME_MARGIN_S = 30;
const STDERR_TAIL = 40;
const HELD_LINES = 1000;

export interface NodeRun {
  node: RunnerNode;
  /** The job's directory on the node (cwd of locust). */
  dir: string;
  /** Where the plugin and the CSV files are, on the node. */
  work: string;
  /** resultDir/nodes/<node>: where the node's CSV files end up. */
  local: string;
  error?: Error;
}

/** Why a run failed, as the engine needs it. */
export class RunFailure extends Error {
  constructor(readonly failure: 'config' | 'infrastructure', message: string) {
    super(message);
  }
}

/** A headless run of `users` users started at `rate` per second, stopped by the plugin (or -t). */
export function headlessArgs(s: LocustSettings, users: number, rate: number): string[] {
  return [
    '--headless',
    '--users',
    String(users),
    '--spawn-rate',
    String(rate),
    '--run-time',
    `${Math.ceil(users / rate + s.durationS) + RUN_TIME_MARGIN_S}s`,
    '--reset-stats',
    '--only-summary',
    // Failed requests are results, not a failed run: a non-zero exit is Locust itself failing.
    '--exit-code-on-error',
    '0',
  ];
}

export const hostArgs = (s: LocustSettings) => (s.host ? ['--host', s.host] : []);

/** A node lost once the load runs: said in the job's log, and returned for the record. */
export function nodeLoss(ctx: RunnerContext, r: NodeRun, reason: string): LocustNodeLoss {
  const loss = { node: r.node.name, at: Date.now(), reason };
  ctx.log(lostLine(loss), { node: r.node.name, stream: 'engine', level: 'error' });
  return loss;
}

/** Locust on a node; `onProgress` for the one that prints the plugin's lines (not a worker). */
export async function runNode(
  ctx: RunnerContext,
  r: NodeRun,
  ci: number,
  args: string[],
  signal: AbortSignal,
  onProgress?: (p: LocustProgressLine) => void,
): Promise<RunResult & { stderr: string[] }> {
  const s = locustSettings(ctx.config);
  const join = r.node.kind === 'local' ? path.join : path.posix.join;
  const stderr: string[] = [];
  // Locust's output before the load starts is held back: when the locustfile does not start,
  // the user gets one line (file:line and the error), and the traceback goes to a file.
  let held: { line: string; stream: 'stdout' | 'stderr' }[] | undefined = onProgress ? [] : undefined;
  const release = () => {
    for (const h of held ?? []) ctx.log(h.line, { node: r.node.name, stream: h.stream });
    held = undefined;
  };
  const argv = ['locust', '-f', `${s.locustfile},${join(r.work, PLUGIN_FILE)}`, ...args];
  try {
    const result = await r.node.executor.run(argv, {
      cwd: r.dir,
      env: {
        ...nodeEnv(ctx, r.node, ctx.nodes.length),
        MARTEAU_LOCUST_CSV: join(r.work, `cycle-${ci}`),
        MARTEAU_LOCUST_DURATION: String(s.durationS),
        PYTHONUNBUFFERED: '1',
        // No __pycache__ left in the user's project.
        PYTHONDONTWRITEBYTECODE: '1',
      },
      signal,
      // A tick names the requests it counts: a long one (many names, long failure messages) is whole.
      maxLineChars: MAX_DATA_LINE_CHARS,
      onLine: (line, stream) => {
        const p = stream === 'stdout' && onProgress ? parseProgressLine(line) : undefined;
        if (p) {
          if (p.kind === 'recording') release();
          return onProgress!(p);
        }
        if (stream === 'stderr') {
          stderr.push(line);
          if (stderr.length > STDERR_TAIL) stderr.shift();
        }
        if (held && held.length < HELD_LINES) held.push({ line, stream });
        else if (!held) ctx.log(line, { node: r.node.name, stream });
      },
      // The master is no node of the job: its group is on this machine all the same.
      onStart: ({ pgid }) => ctx.recordProcess(r.node.name, pgid, r.node.kind === 'local'),
    });
    if (held && !result.cancelled) {
      const file = path.join(r.local, `cycle-${ci}_locust.log`);
      await writeFile(file, held.map((h) => `${h.line}\n`).join(''));
      ctx.log(`Locust stopped before the load started; its output is in ${file}`, { node: r.node.name, stream: 'engine', level: 'error' });
    } else release();
    return { ...result, stderr };
  } catch (e) {
    r.error = e as Error;
    throw e;
  }
}

export function startupFailure(result: RunResult & { stderr: string[] }, r: NodeRun, s: LocustSettings, started: boolean): RunFailure {
  const where = `node "${r.node.name}"`;
  if (result.exitCode === 127 && !started) {
    return new RunFailure('infrastructure', `${where}: locust is not installed (install Debian's python3-locust, or pip install locust)`);
  }
  if (!started) return new RunFailure('config', `${where}: Locust could not start ${s.locustfile}: ${locustStartupError(result.stderr, s.locustfile)}`);
  const how = result.exitCode === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with ${result.exitCode}`;
  return new RunFailure('infrastructure', `${where}: locust ${how} during the cycle: ${locustStartupError(result.stderr, s.locustfile)}`);
}
