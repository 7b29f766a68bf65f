/**
 * Locust's own distributed mode, for a job on several nodes: one `locust --master` on the engine's
 * machine, one `locust --worker` per node reaching it. Locust splits the users between its
 * workers, merges their stats on the master and stops them at the end; the master's plugin
 * prints the merged progress and writes the CSV files (plugin.ts).
 *
 * The master binds one address the nodes reach (`master_host`, loopback by default), never all
 * interfaces: its port takes commands from anyone who reaches it.
 */
import { writeFile } from 'node:fs/promises';
import { mkdirp } from '../../fs/mkdirp.js';
import net from 'node:net';
import path from 'node:path';
import { NodeError } from '../../exec/executor.js';
import { LocalExecutor } from '../../exec/local.js';
import type { RunnerContext } from '../../core/runner-contract.js';
import type { LocustSettings } from './config.js';
import type { LocustProgressLine } from './csv.js';
import { PLUGIN_FILE, PLUGIN_SOURCE } from './plugin.js';
import { headlessArgs, hostArgs, nodeLoss, runNode, startupFailure, type NodeRun } from './process.js';
import type { LocustNodeLoss } from './record.js';
import { locustStartupError } from './startup.js';

/** How long a worker may take to quit after its master ended before it is stopped. */
const WORKER_GRACE_MS = 10_000;

/** A port free on `host` now (Locust binds it a moment later; a clash fails the cycle clearly). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface MasterAddress {
  host: string;
  port: number;
}

/** Seconds the master waits for its workers to connect before it gives up (SSH logins can be slow). */
const EXPECT_WORKERS_MAX_WAIT_S = 120;

/** What makes a headless locust the master of `workers` workers. */
export function masterArgs(at: MasterAddress, workers: number): string[] {
  return [
    '--master',
    '--master-bind-host',
    at.host,
    '--master-bind-port',
    String(at.port),
    '--expect-workers',
    String(workers),
    '--expect-workers-max-wait',
    String(EXPECT_WORKERS_MAX_WAIT_S),
  ];
}

/** What makes a locust a worker of the master at `at`; `--reset-stats` must be on both sides. */
export function workerArgs(at: MasterAddress): string[] {
  return ['--worker', '--master-host', at.host, '--master-port', String(at.port), '--reset-stats'];
}

/**
 * One cycle in Locust's distributed mode: the master here, a worker on each node. Locust splits
 * the users, merges the stats and stops the workers (which then exit 0). A worker lost once the
 * load runs (killed, non-zero exit, its SSH connection gone) stops the master, which writes what
 * it gathered until then: the cycle is kept and the worker returned as lost. Returns the
 * master's run, whose CSV files are the cycle's.
 */
export async function runDistributed(
  ctx: RunnerContext,
  s: LocustSettings,
  runs: NodeRun[],
  ci: number,
  stop: AbortController,
  progress: { onProgress: (p: LocustProgressLine) => void; started: () => boolean },
): Promise<{ master: NodeRun; lost: LocustNodeLoss[] }> {
  const local = path.join(ctx.resultDir, 'master');
  const master: NodeRun = { node: { name: 'locust-master', index: -1, executor: new LocalExecutor('locust-master'), kind: 'local' }, dir: ctx.config.workDir, work: local, local };
  await mkdirp(local, 0o777);
  await writeFile(path.join(local, PLUGIN_FILE), PLUGIN_SOURCE);
  const at = { host: s.masterHost, port: await freePort(s.masterHost) };
  const rate = s.spawnRate === 'all' ? s.cycles[ci] : s.spawnRate;
  // Workers outlive the master by Locust's quit message; past this grace they are stopped.
  const workersStop = new AbortController();
  const onStop = () => workersStop.abort();
  stop.signal.addEventListener('abort', onStop, { once: true });
  let failure: Error | undefined;
  const fail = (e: Error) => {
    failure ??= e;
    stop.abort();
  };
  const lost: LocustNodeLoss[] = [];
  const lose = (r: NodeRun, reason: string) => {
    lost.push(nodeLoss(ctx, r, reason));
    stop.abort();
  };
  const masterRun = runNode(ctx, master, ci, [...headlessArgs(s, s.cycles[ci], rate), ...hostArgs(s), ...masterArgs(at, runs.length)], stop.signal, progress.onProgress)
    .then((result) => {
      if (result.cancelled || stop.signal.aborted) return;
      if (!progress.started() || result.exitCode !== 0) fail((master.error = startupFailure(result, master, s, progress.started())));
    }, fail)
    .finally(() => {
      setTimeout(() => workersStop.abort(), WORKER_GRACE_MS).unref();
    });
  const workerRuns = runs.map((r) =>
    runNode(ctx, r, ci, [...hostArgs(s), ...workerArgs(at)], workersStop.signal).then(
      (result) => {
        if (result.cancelled || stop.signal.aborted) return;
        // A worker told to quit by the master ends with 0, a moment before the master does.
        if (result.exitCode === 0) return;
        // Before the load started, it is the locustfile (or no locust) as on a single node.
        if (!progress.started()) return fail((r.error = startupFailure(result, r, s, false)));
        const how = result.exitCode === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with ${result.exitCode}`;
        lose(r, `the Locust worker ${how} during the cycle: ${locustStartupError(result.stderr, s.locustfile)}`);
      },
      (e: Error) => {
        if (!(e instanceof NodeError) || !progress.started() || stop.signal.aborted) return fail(e);
        ctx.nodeFailed(e.node, e.message);
        lose(r, e.detail);
      },
    ),
  );
  // Every process gone before the cycle is over: nothing is left running whatever happened.
  await Promise.all([masterRun, ...workerRuns]);
  stop.signal.removeEventListener('abort', onStop);
  if (failure) throw failure;
  return { master, lost };
}
