/**
 * `marteau-tui --ci [dir-or-file]`: enqueue the project's job(s) on the shared queue, run them
 * here to completion with line output, and exit with one code (see exit-code.ts). Other
 * terminals see the jobs in `marteau-tui queue` and may cancel them.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/errors.js';
import { CONFIG_FILE_NAMES, loadMarteauConfig } from '../config/marteau.js';
import type { NodesConfig } from '../config/nodes.js';
import { EXIT, UsageError } from '../core/exit.js';
import { Engine } from '../core/engine.js';
import type { Job } from '../core/jobs.js';
import { loadRunners } from '../report/runners.js';
import { defaultRegistry } from '../../behaviors/index.js';
import { exitCodeFor } from './exit-code.js';
import { CiReporter } from './reporter.js';

export interface CiOptions {
  target: string;
  stateDir: string;
  nodes: NodesConfig;
  /** Seconds a job may wait for free nodes before failing (exit 3). */
  nodeWaitMs: number;
  /** Changes each config's text before it is validated and queued (`sweep` sets its chaos there). */
  edit?: (text: string) => string;
}

export interface CiIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Signals to stop on; default SIGINT and SIGTERM of this process. */
  signals?: NodeJS.EventEmitter;
}

/** The config files a --ci target means: a file, a dir's .marteau.yml, or a dir's *.marteau.yml. */
export async function ciTargets(target: string): Promise<string[]> {
  const st = await stat(target).catch(() => undefined);
  if (!st) throw new ConfigError(target, undefined, undefined, 'no such file or directory', 'give a project directory holding a .marteau.yml, or a config file');
  if (st.isFile()) return [target];
  const names = await readdir(target);
  const main = CONFIG_FILE_NAMES.find((n) => names.includes(n));
  if (main) return [path.join(target, main)];
  const many = names.filter((n) => /\.marteau\.ya?ml$/.test(n)).sort();
  if (!many.length) throw new ConfigError(target, undefined, undefined, 'no .marteau.yml (nor *.marteau.yml) in this directory', 'create one (see `marteau-tui schema`), or give the path of a config file');
  return many.map((n) => path.join(target, n));
}

export async function runCi(o: CiOptions, io: CiIo): Promise<number> {
  const files = await ciTargets(o.target);
  if (o.edit && files.length > 1) throw new UsageError(`${o.target} holds ${files.length} configs: name one of them (${files.map((f) => path.basename(f)).join(', ')})`);
  // Validate everything before queueing anything: a typo in the 3rd file must not leave two jobs behind.
  const runners = await loadRunners();
  for (const f of files) await loadMarteauConfig(f, { runners, behaviors: defaultRegistry });

  const engine = new Engine({ stateDir: o.stateDir, nodes: o.nodes, run: 'own', nodeWaitMs: o.nodeWaitMs, runners });
  const ids = new Set<string>();
  const reporter = new CiReporter(io.out, { mine: (id) => engine.isOwn(id), many: () => files.length > 1 }, io.env);
  const off = engine.events.on('*', reporter.onEvent);
  let interrupted = false;
  const signals = io.signals ?? process;
  const onSignal = (sig: string) => {
    if (interrupted) {
      io.err.write(`marteau-tui: ${sig} again: exiting now, jobs may be left running\n`);
      process.exit(EXIT.interrupted);
    }
    interrupted = true;
    io.err.write(`marteau-tui: ${sig}: cancelling the run (again to exit at once)\n`);
    for (const id of ids) void engine.cancel(id).catch(() => {});
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  signals.on('SIGINT', onInt);
  signals.on('SIGTERM', onTerm);
  let jobs: Readonly<Job>[] = [];
  try {
    await engine.start();
    io.out.write(`marteau-tui --ci: ${files.length} job${files.length > 1 ? 's' : ''}, state dir ${engine.state.root}\n`);
    for (const f of files) {
      if (interrupted) break;
      const job = await engine.enqueue(f, { origin: 'ci', runHere: true, edit: o.edit, warn: (m) => io.err.write(`marteau-tui: warning: ${m}\n`) });
      ids.add(job.id);
    }
    jobs = await engine.waitFor([...ids]);
  } finally {
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onTerm);
    await engine.stop();
    off();
  }
  const code = interrupted ? EXIT.interrupted : exitCodeFor(jobs);
  io.out.write(`${reporter.summary(jobs, code)}\n`);
  // The bell is for a person at a terminal, not for a CI log.
  if (io.out.isTTY && reporter.bell) io.out.write('\x07');
  return code;
}
