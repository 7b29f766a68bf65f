/**
 * The load-test queue from the command line: `enqueue`, `queue`, `cancel`, `retry`, `replay`,
 * `worker`, `nodes`. Each command is a thin shell around one Engine method; they work from any
 * terminal while another marteau-tui process (TUI, --ci, worker) runs jobs on the same state dir.
 * The engine and what it runs load when a command needs them (dynamic imports), as in
 * engine-commands.ts: `--help` starts without them, and the listings (`queue`, `nodes --no-probe`)
 * read the queue without an engine.
 */
import type { Command } from 'commander';
import type { Engine } from '../core/engine.js';
import type { WaitsForFix } from '../core/scheduler.js';
import { isTerminal, type Job } from '../core/jobs.js';
import type { NodeView } from '../core/node-view.js';
import { short } from '../core/queue.js';
import { stateDirFlag } from '../core/state-dir.js';
import { endedHere, readEndedResult } from '../core/result-file.js';
import { quoted } from '../ci/style.js';
import { EXIT, firstCause, UsageError } from '../core/exit.js';
import type { Io } from './proxy-command.js';
import { look, nodes, stateDirOf, withEngine, type GlobalOptions } from './global-options.js';
import { warnTo } from '../text/warn.js';
import { formatNodes, formatQueue } from './queue-tables.js';
import { takeStopSignals } from './stop-signals.js';
import { reportUserError } from './user-errors.js';
import { loadRunners } from '../report/runners.js';
import { count } from '../text/count.js';

export function registerQueueCommands(program: Command, io: Io, run: (fn: () => Promise<number>) => void): void {
  const globals = () => program.opts<GlobalOptions>();

  program
    .command('enqueue')
    .description('validate a project (directory, .marteau.yml, or git URL[#ref]) and add it to the queue')
    .argument('<targets...>', 'directories, config files or git URLs')
    .option('--json', 'print the queued jobs as JSON')
    .action((targets: string[], o: { json?: boolean }) =>
      run(async () =>
        withEngine(globals(), io, async (engine) => {
          const warn = warnTo(io);
          const { NotQueued, PartlyQueued } = await import('../core/enqueue.js');
          const said = (jobs: readonly Readonly<Job>[]) => {
            if (o.json) io.out.write(`${JSON.stringify(jobs, null, 2)}\n`);
            else for (const j of jobs) io.out.write(`queued ${short(j.id)} ${quoted(j.name)} (${j.id})\n`);
          };
          let jobs: Readonly<Job>[];
          try {
            jobs = await engine.enqueueAll(targets, { origin: 'cli', warn });
          } catch (e) {
            if (e instanceof PartlyQueued) {
              said(e.queued.map((q) => q.job));
              const code = await reportUserError(e.failure.error, io, e.failure.target);
              const left = [e.failure.target, ...e.untried];
              const queued = e.queued.length ? `queued only ${e.queued.map((q) => `${short(q.job.id)} (${q.target})`).join(', ')}; not queued` : 'nothing queued';
              io.err.write(`marteau-tui: ${queued}: ${left.join(', ')}: enqueue ${left.length > 1 ? 'them' : 'it'} again once that is fixed\n`);
              return code;
            }
            if (!(e instanceof NotQueued)) throw e;
            const codes: number[] = [];
            for (const f of e.failures) codes.push(await reportUserError(f.error, io, f.target));
            io.err.write(`marteau-tui: nothing queued: ${whyNotQueued(e.failures.map((f, i) => ({ target: f.target, code: codes[i] })), targets.length)}\n`);
            return firstCause(codes);
          }
          said(jobs);
          if (!o.json) whoRuns(engine, io);
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('queue')
    .description('list queued and running jobs, and recent history with durations and result paths')
    .option('-a, --all', 'the whole history')
    .option('-n, --limit <count>', 'finished jobs to show', '20')
    .option('--json', 'print JSON')
    .option('--purge [age]', 'team mode: remove the jobs that finished more than AGE ago (default 24h; 0: all finished jobs) from the shared history')
    .action((o: { all?: boolean; limit: string; json?: boolean; purge?: string | true }) =>
      run(async () => {
        const age = o.purge === true ? '24h' : o.purge;
        if (age !== undefined) return withEngine(globals(), io, (engine) => purge(engine, age, io));
        const { jobs } = await look(globals(), io);
        const { formatDuration } = await import('../config/duration.js');
        const limit = positiveInt(o.limit, '--limit');
        const finished = jobs.filter((j) => isTerminal(j.status));
        const listed = o.all ? jobs : [...jobs.filter((j) => !isTerminal(j.status)), ...finished.slice(-limit)].sort((a, b) => a.seq - b.seq);
        // How each ended job went is in its result.json (the journal keeps its end only): read for
        // the jobs listed, not the whole history; one missing or torn shows no figures.
        const shown = listed.map((j) => {
          const ended = endedHere(j) ? readEndedResult(j.resultDir, j.startedAt) : undefined;
          return ended ? { ...j, summary: ended.summary } : j;
        });
        if (o.json) {
          io.out.write(`${JSON.stringify(shown, null, 2)}\n`);
          return EXIT.ok;
        }
        io.out.write(formatQueue(shown, io.out, formatDuration));
        const hidden = jobs.length - shown.length;
        if (hidden > 0) io.out.write(`(${hidden} older job${hidden > 1 ? 's' : ''} not shown: --all)\n`);
        return EXIT.ok;
      }),
    );

  program
    .command('cancel')
    .description('cancel queued or running jobs (by id or unique id prefix)')
    .argument('<ids...>')
    .action((ids: string[]) =>
      run(() =>
        withEngine(globals(), io, async (engine) => {
          // One bad id must not spare the others: each valid one is cancelled, each bad one said.
          const codes: number[] = [];
          // A job named twice (`cancel 3f2a 3f2a7c`) is cancelled once, not then said to be over.
          const asked = new Set<string>();
          for (const id of ids) {
            try {
              const full = engine.queue.resolve(id);
              if (asked.has(full)) continue;
              asked.add(full);
              const j = await engine.cancel(full);
              // From what the cancel did, not from the status now: the engine running the job may
              // have stopped it and said so in the journal before this line is written.
              io.out.write(j.cancelRequested ? `asked the engine running ${short(j.id)} ${quoted(j.name)} to stop it\n` : `cancelled ${short(j.id)} ${quoted(j.name)}\n`);
            } catch (e) {
              codes.push(await reportUserError(e, io));
            }
          }
          return firstCause(codes);
        }),
      ),
    );

  program
    .command('retry')
    .description('queue a finished job again (same config as it was enqueued, a new seed unless the config sets one)')
    .argument('<id>')
    .action((id: string) =>
      run(() =>
        withEngine(globals(), io, async (engine) => {
          const j = await engine.retry(id, { origin: 'cli' });
          io.out.write(`queued ${short(j.id)} ${quoted(j.name)} (retry of ${short(j.retryOf!)})\n`);
          whoRuns(engine, io);
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('replay')
    .description('queue a finished job again with its config snapshot and its recorded seed: the same faults for the same traffic')
    .argument('<id>')
    .action((id: string) =>
      run(() =>
        withEngine(globals(), io, async (engine) => {
          const j = await engine.replay(id, { origin: 'cli' });
          io.out.write(`queued ${short(j.id)} ${quoted(j.name)} (replay of ${short(j.retryOf!)}, seed ${j.seed})\n`);
          whoRuns(engine, io);
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('worker')
    .description('run queued jobs from the shared queue until stopped (Ctrl-C), with line output')
    .option('--drain', 'exit once nothing queued can start here (exit code of the jobs it ran; 2, or 3 for a host key, when a job is left waiting for a node to be fixed), or at once with 3 when the state dir has no room to start the rest or its disk fails the journal\'s writes')
    .action((o: { drain?: boolean }) => run(() => runWorker(globals(), io, !!o.drain)));

  program
    .command('nodes')
    .description('list nodes with their health (probing SSH nodes), or enable/disable one')
    .option('--enable <name>', 'let the node take jobs again')
    .option('--disable <name>', 'take no new job on the node')
    .option('--no-probe', 'do not probe (show the last known state)')
    .option('--json', 'print JSON')
    .action((o: { enable?: string; disable?: string; probe: boolean; json?: boolean }) =>
      run(async () => {
        const print = (nodes: readonly NodeView[]) => io.out.write(o.json ? `${JSON.stringify(nodes, null, 2)}\n` : formatNodes(nodes, io.out));
        // Only a list as it stands: no engine.
        if (!o.probe && o.enable === undefined && o.disable === undefined) {
          print((await look(globals(), io)).nodes);
          return EXIT.ok;
        }
        return withEngine(globals(), io, async (engine) => {
          if (o.enable !== undefined && o.enable === o.disable) throw new UsageError(`--enable ${o.enable} and --disable ${o.disable}: one node cannot be both; give one of them`);
          if (o.enable) await engine.setNodeEnabled(o.enable, true);
          if (o.disable) await engine.setNodeEnabled(o.disable, false);
          if (o.probe) await engine.probeNodes();
          const nodes = engine.getSnapshot().nodes;
          print(nodes);
          const down = o.probe ? nodes.filter((n) => n.enabled && n.health === 'down') : [];
          // A node down for its key is the nodes file's (or the environment's) to fix: a config error.
          return down.some((n) => n.mistake) ? EXIT.usage : down.length ? EXIT.infrastructure : EXIT.ok;
        });
      }),
    );
}

/** `queue --purge AGE`: the shared queue's jobs that finished more than AGE ago, removed. */
/** After a job is queued: what runs it, unless a job running says something does already. */
function whoRuns(engine: Engine, io: Io): void {
  if (engine.getSnapshot().jobs.some((j) => j.status === 'running')) return;
  // The journal's worker needs its --state-dir, as the command names it (a bare one reads the default queue).
  const team = !!engine.queue.label;
  io.err.write(`note: queued jobs are run by a \`marteau-tui worker${team ? '' : stateDirFlag(engine.getSnapshot().stateDir)}\`${team ? ' on this queue' : ' (or the TUI) on this state dir'}\n`);
}

async function purge(engine: Engine, age: string, io: Io): Promise<number> {
  const { durationMs, durationSchema } = await import('../config/units.js');
  if (!durationSchema.safeParse(age).success) throw new UsageError(`--purge ${age}: a duration such as 0, 90m, 24h`);
  const before = Date.now() - durationMs(/^\d+(\.\d+)?$/.test(age) ? Number(age) : age);
  if (!engine.queue.purge) throw new UsageError(`--purge is for the shared queue (team mode); the embedded journal ${engine.state.journalFile} keeps its history`);
  const n = await engine.queue.purge(before);
  io.out.write(`purged ${count(n, 'finished job')} from ${engine.queue.label}\n`);
  return EXIT.ok;
}

async function runWorker(g: GlobalOptions, io: Io, drain: boolean): Promise<number> {
  // From the first line (the bin's, for the CLI): a service manager may stop a worker while it
  // starts, and Node's default would kill it (exit 143), maybe with a job just claimed.
  const stops = takeStopSignals();
  try {
    return await work(g, io, drain, stops.signal);
  } finally {
    stops.release();
  }
}

async function work(g: GlobalOptions, io: Io, drain: boolean, signal: AbortSignal): Promise<number> {
  const [{ Engine }, { CiReporter, notStarted }, { surviveClosedOutput }, { exitCodeFor }] = await Promise.all([import('../core/engine.js'), import('../ci/reporter.js'), import('../ci/closed-output.js'), import('../ci/exit-code.js')]);
  surviveClosedOutput(io.out, io.err);
  const engine = new Engine({ runners: loadRunners, stateDir: await stateDirOf(g), nodes: await nodes(g), run: 'all', rereadNodes: true });
  const reporter = new CiReporter(io.out, { mine: (id) => engine.isOwn(id), many: () => true });
  engine.events.on('*', reporter.onEvent);
  // Stopped before the engine starts: no job is claimed, and it ends as a stop once running does.
  if (signal.aborted) {
    io.err.write(`marteau-tui worker: ${String(signal.reason)}: stopped before it started; no job was claimed\n`);
    return EXIT.interrupted;
  }
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  signal.addEventListener('abort', () => stop(), { once: true });
  await engine.start();
  const offOnline = reportQueueState(engine, io);
  io.out.write(`marteau-tui worker: running queued jobs from ${engine.queue.label ?? engine.state.root} on ${engine.pool.list().map((n) => n.name).join(', ')} (Ctrl-C stops)\n`);
  // busy(): between a claim and its start the job is `running` in the queue and not yet own here.
  // A job this worker's nodes cannot fit is left to the others: draining does not wait for it.
  const waiting = () => engine.getSnapshot().jobs.filter((j) => j.status === 'queued' && !engine.leaves(j.id));
  const idle = () => !engine.busy() && !waiting().length;
  // Starts held for want of room (or the journal's disk failing) with nothing running here:
  // nothing this worker does mends it, and a CI job must not wait for ever for someone to.
  const stuck = () => !engine.busy() && engine.startsHeld;
  let interrupted = false;
  let left: number | undefined;
  let failure: string | undefined;
  // A ref'd timer keeps the worker alive; in --drain mode it also checks for the end.
  const tick = setInterval(() => { if (drain && (idle() || stuck())) stop(); }, 250);
  await stopped.then(() => {
    if (!signal.aborted && drain && !idle() && stuck()) {
      left = waiting().length;
      failure = engine.journalFailure;
    } else interrupted = !(drain && idle());
  });
  clearInterval(tick);
  offOnline();
  // Drained but for jobs only a fix of their nodes places: left queued for the run after the fix,
  // and the exit says whose fix it is (2: the nodes file's or the environment's, 3: a machine's).
  const unfixed = drain && !interrupted && left === undefined ? waitingForFix(engine) : [];
  // Jobs no node of this worker fits, on a team queue: the other workers' to run, not in this
  // worker's exit code; said, so that a script reading its 0 knows they are still to run.
  const toTeam = drain && !interrupted && engine.queue.label !== undefined ? leftToTeam(engine) : [];
  await engine.stop();
  const jobs = engine.getSnapshot().jobs.filter((j) => engine.isOwn(j.id)).map((j) => engine.asEnded(j));
  const fixCodes = unfixed.map((u) => (u.failure === 'config' ? EXIT.usage : EXIT.infrastructure));
  const code = interrupted ? EXIT.interrupted : left !== undefined ? firstCause([EXIT.infrastructure, exitCodeFor(jobs)]) : firstCause([...fixCodes, exitCodeFor(jobs)]);
  if (left !== undefined) {
    io.out.write(`marteau-tui worker: ${count(left, 'job')} left queued: ${notStarted(left, failure, engine.state.root, '`marteau-tui worker --drain`')}\n`);
  }
  for (const t of toTeam) io.out.write(`marteau-tui worker: ${count(t.ids.length, 'job')} left queued for the team's other workers (${t.ids.join(', ')}): ${t.reason}; not this worker's to run, not counted in its exit code\n`);
  for (const u of unfixed) io.out.write(`marteau-tui worker: ${count(u.ids.length, 'job')} left queued (${u.ids.join(', ')}): ${u.nodes}; no wait mends that: fix it, then run \`marteau-tui worker --drain\` again\n`);
  // Put back in the queue here, then taken by another worker: its run, not this worker's.
  for (const { job: j, here } of engine.takenFromHere()) io.out.write(`marteau-tui worker: job ${short(j.id)} put back in the queue here (${here}), then ${isTerminal(j.status) ? `run by another worker: ${j.status}${j.reason ? `: ${j.reason}` : ''}` : `taken by another worker, running on ${j.nodesTaken.join(', ')}`}; not counted in this worker's exit code\n`);
  io.out.write(`${reporter.summary(jobs, code, 'marteau-tui worker')}\n`);
  return code;
}

/** The queued jobs only a fix of their nodes places, grouped by what is to fix. */
function waitingForFix(engine: Engine): (WaitsForFix & { ids: string[] })[] {
  const by = new Map<string, WaitsForFix & { ids: string[] }>();
  for (const j of engine.getSnapshot().jobs) {
    const fix = j.status === 'queued' ? engine.waitsForFix(j.id) : undefined;
    if (!fix) continue;
    const group = by.get(fix.nodes) ?? { ...fix, ids: [] };
    group.ids.push(short(j.id));
    by.set(fix.nodes, group);
  }
  return [...by.values()];
}

/** The queued jobs this worker leaves to the team's other workers (see Scheduler.leaves), grouped by why. */
function leftToTeam(engine: Engine): { reason: string; ids: string[] }[] {
  const by = new Map<string, string[]>();
  for (const j of engine.getSnapshot().jobs) {
    if (j.status !== 'queued' || !engine.leaves(j.id) || engine.waitsForFix(j.id)) continue;
    const reason = j.waiting!; // a job left has its reason
    by.set(reason, [...(by.get(reason) ?? []), short(j.id)]);
  }
  return [...by].map(([reason, ids]) => ({ reason, ids }));
}

/** A worker on a shared queue says when it loses it and when it is back. */
function reportQueueState(engine: Engine, io: Io): () => void {
  let online = true;
  return engine.subscribe(() => {
    const now = engine.getSnapshot().queue.online;
    if (now === online) return;
    online = now;
    io.out.write(now ? `queue ${engine.queue.label} is back online\n` : `queue offline: cannot reach ${engine.queue.label}; reconnecting (running jobs go on)\n`);
  });
}

/**
 * What to do about targets that stopped an enqueue: a config to fix (exit 2), or, for a machine's
 * failure (a failing disk, a queue offline: exit 3), nothing in the config, which may be valid.
 */
function whyNotQueued(failures: readonly { target: string; code: number }[], targets: number): string {
  const bad = failures.filter((f) => f.code === EXIT.usage).map((f) => f.target);
  const machine = failures.filter((f) => f.code !== EXIT.usage).map((f) => f.target);
  const fix = bad.length ? `fix ${bad.length > 1 ? 'these' : 'it'} or leave ${bad.join(', ')} out` : '';
  if (!machine.length) return `${fix}${targets > bad.length ? ' (the other targets are valid)' : ''}`;
  const failed = `${machine.join(', ')} failed on this machine's side (above), not for ${machine.length > 1 ? 'their configs' : 'its config'}`;
  return fix ? `${fix}; ${failed}` : `${failed}; enqueue again once that is fixed`;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n <= 0) throw new UsageError(`${flag}: expected a whole number above 0, got "${v}"`);
  return n;
}
