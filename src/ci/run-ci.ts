/**
 * `marteau-tui --ci [dir-or-file]`: enqueue the project's job(s) on the shared queue, run them
 * here to completion with line output, and exit with one code (see exit-code.ts). Other
 * terminals see the jobs in `marteau-tui queue` and may cancel them.
 */
import path from 'node:path';
import { loadMarteauConfig } from '../config/marteau.js';
import { projectConfigFiles } from '../config/project-files.js';
import type { NodesConfig } from '../config/nodes.js';
import { EXIT, firstCause, UsageError } from '../core/exit.js';
import { Engine } from '../core/engine.js';
import type { Job } from '../core/jobs.js';
import { loadRunners } from '../report/runners.js';
import { defaultRegistry } from '../../behaviors/index.js';
import { warnTo } from '../text/warn.js';
import { exitCodeFor } from './exit-code.js';
import { CiReporter, notStarted } from './reporter.js';
import { surviveClosedOutput } from './closed-output.js';
import { count } from '../text/count.js';

export interface CiOptions {
  target: string;
  stateDir: string;
  nodes: NodesConfig;
  /** Seconds a job may wait for free nodes before failing (exit 3). */
  nodeWaitMs: number;
  /** Changes each config's text before it is validated and queued (`sweep` sets its chaos there). */
  edit?: (text: string) => string;
  /** The command as typed, for the first and last lines and what to run again (default `marteau-tui --ci`). */
  command?: string;
  /** The command's exit code from the jobs' (plain `sweep`: a failing cell is a finding, exit 0). */
  exitCode?: (code: number) => number;
}

export interface CiIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Signals to stop on; default SIGINT and SIGTERM of this process. */
  signals?: NodeJS.EventEmitter;
  /**
   * A stop caught since the CLI's first line (cli/stop-signals.ts): a CI system may stop the run
   * while it starts. Handed over to `signals` once they are heard; one that came cancels the run.
   */
  early?: { signal: AbortSignal; release(): void };
}

export async function runCi(o: CiOptions, io: CiIo): Promise<number> {
  const files = await projectConfigFiles(o.target);
  if (o.edit && files.length > 1) throw new UsageError(`${o.target} holds ${files.length} configs: name one of them (${files.map((f) => path.basename(f)).join(', ')})`);
  // Validate everything before queueing anything: a typo in the 3rd file must not leave two jobs behind.
  const runners = await loadRunners();
  for (const f of files) await loadMarteauConfig(f, { runners, behaviors: defaultRegistry }, o.edit);

  const command = o.command ?? 'marteau-tui --ci';
  surviveClosedOutput(io.out, io.err);
  const engine = new Engine({ stateDir: o.stateDir, nodes: o.nodes, run: 'own', nodeWaitMs: o.nodeWaitMs, runners });
  const ids = new Set<string>();
  const reporter = new CiReporter(io.out, { mine: (id) => engine.isOwn(id), many: () => files.length > 1 }, io.env);
  const off = engine.events.on('*', reporter.onEvent);
  let interrupted = false;
  let cause: string | undefined;
  const signals = io.signals ?? process;
  const onSignal = (sig: string) => {
    if (interrupted) {
      io.err.write(`marteau-tui: ${sig} again: exiting now, jobs may be left running\n`);
      process.exit(EXIT.interrupted);
    }
    interrupted = true;
    io.err.write(`marteau-tui: ${sig}: cancelling the run (again to exit at once)\n`);
    // Ctrl-C is a person's; SIGTERM is a CI system's or a supervisor's, and the record says so.
    // interrupt() also stops them here should the queue be offline, and bounds the wait for it.
    cause = sig === 'SIGTERM' ? 'by SIGTERM' : undefined;
    void engine.interrupt([...ids], cause);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  signals.on('SIGINT', onInt);
  signals.on('SIGTERM', onTerm);
  io.early?.release();
  if (io.early?.signal.aborted) onSignal(String(io.early.signal.reason));
  let jobs: Readonly<Job>[] = [];
  /** Why the jobs left queued could not start: the state dir's disk refused their claims. */
  let held: { failure?: string } | undefined;
  try {
    await engine.start();
    io.out.write(`${command}: ${files.length} job${files.length > 1 ? 's' : ''}, state dir ${engine.state.root}\n`);
    for (const f of files) {
      if (interrupted) break;
      const job = await engine.enqueue(f, { origin: 'ci', runHere: true, edit: o.edit, warn: warnTo(io) });
      ids.add(job.id);
      // Queued as the signal came: cancelled too, else a job no worker takes would stay queued.
      if (interrupted) await engine.interrupt([job.id], cause);
    }
    jobs = await engine.waitFor([...ids]);
    if (!interrupted && engine.startsHeld) held = { failure: engine.journalFailure };
  } finally {
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onTerm);
    await engine.stop();
    off();
  }
  const left = held ? jobs.filter((j) => j.status === 'queued').length : 0;
  const verdict = interrupted ? EXIT.interrupted : left ? firstCause([EXIT.infrastructure, exitCodeFor(jobs)]) : exitCodeFor(jobs);
  // The closing line gives the code the command exits with, and the jobs' own when it differs.
  const code = o.exitCode?.(verdict) ?? verdict;
  if (left) io.out.write(`${command}: ${count(left, 'job')} not started: ${notStarted(left, held!.failure, engine.state.root, `\`${command}\``)}\n`);
  io.out.write(`${reporter.summary(jobs, code, command, code === verdict ? undefined : verdict)}\n`);
  // The bell is for a person at a terminal, not for a CI log.
  if (io.out.isTTY && reporter.bell) io.out.write('\x07');
  return code;
}
