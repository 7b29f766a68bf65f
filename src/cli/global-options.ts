/**
 * What a command takes from the program's global options (--state-dir, --nodes, --queue): the
 * state dir, the nodes config, and on them an engine for the commands that edit, or the queue
 * as it stands for those that only list it.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { NodesConfig } from '../config/nodes.js';
import type { Engine } from '../core/engine.js';
import type { EngineCore } from '../core/engine-types.js';
import type { QueueLook } from '../core/queue-look.js';
import { parseQueueUrl } from '../core/queue-url.js';
import { resolveStateDir } from '../core/state-dir.js';
import { UsageError } from '../core/exit.js';
import { loadRunners } from '../report/runners.js';
import { warnTo, type ErrOut } from '../text/warn.js';
import type { Io } from './proxy-command.js';

export interface GlobalOptions {
  ci?: string | boolean;
  stateDir?: string;
  nodes?: string;
  nodeWait?: string;
  queue?: string;
}

/**
 * --state-dir (or its default) where the queue can live. A regular file there is a mistake in the
 * command line (exit 2), not a broken machine: mkdir under it would fail with ENOTDIR.
 */
export async function stateDirOf(g: GlobalOptions): Promise<string> {
  const dir = resolveStateDir(g.stateDir);
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(`${g.stateDir === undefined ? 'the state dir' : '--state-dir'} ${dir} is a file, not a directory: give a directory (it is made when missing)`);
  return dir;
}

/** The nodes file's last validated config, in the state dir (see config/nodes-file.ts). */
const NODES_CACHE = 'nodes-cache.json';

/** The nodes file, with `--queue` (team mode) taking the place of its `queue:` url. */
export async function nodes(g: GlobalOptions): Promise<NodesConfig> {
  const { loadNodesConfigCached, resolveNodesFile } = await import('../config/nodes-file.js');
  const config = await loadNodesConfigCached(await resolveNodesFile(g.nodes), path.join(await stateDirOf(g), NODES_CACHE));
  if (g.queue === undefined) return config;
  return { ...config, queue: { lostJobs: config.queue?.lostJobs ?? 'interrupt', url: parseQueueUrl(g.queue), urlFromFlag: true } };
}

/**
 * What opening the queue finds wrong on the way (damaged journal lines, a dead engine's processes
 * it stopped) goes to stderr: these commands are what a user runs first after a crash.
 */
function logTo(io: ErrOut): (jobId: string | undefined, line: string, level?: Parameters<EngineCore['log']>[2]) => void {
  const say = warnTo(io);
  return (_jobId, line, level) => {
    if (level === 'warn' || level === 'error') say(line, level);
  };
}

/** The jobs and nodes as they stand, for a command that only lists them: no engine loads. */
export async function look(g: GlobalOptions, io: ErrOut): Promise<QueueLook> {
  const { lookAtQueue } = await import('../core/queue-look.js');
  return lookAtQueue(await stateDirOf(g), await nodes(g), logTo(io));
}

/** An engine that runs no job, for a command that edits (or probes). */
export async function withEngine(g: GlobalOptions, io: Io, fn: (e: Engine) => Promise<number>): Promise<number> {
  const { Engine } = await import('../core/engine.js');
  // No preload: `nodes` and `cancel` start without the runners and schemas; enqueue loads them.
  const engine = new Engine({ runners: loadRunners, stateDir: await stateDirOf(g), nodes: await nodes(g), run: 'none', probe: false, preload: false });
  const log = logTo(io);
  engine.events.on('log.line', (e) => log(e.jobId, e.line, e.level));
  await engine.start();
  try {
    return await fn(engine);
  } finally {
    await engine.stop();
  }
}
