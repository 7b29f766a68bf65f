/**
 * The load-test queue from the command line: `--ci`, `enqueue`, `queue`, `cancel`, `retry`, `replay`,
 * `worker`, `nodes`, `schema`, and the global `--state-dir` / `--nodes`. Each command is a thin
 * shell around one Engine method; they work from any terminal while another marteau-tui process
 * (TUI, --ci, worker) runs jobs on the same state dir.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Argument, Option, type Command } from 'commander';
import type { NodesConfig } from '../config/nodes.js';
import type { Engine } from '../core/engine.js';
import { isTerminal, type Job } from '../core/jobs.js';
import { QueueError, short } from '../core/queue.js';
import { parseQueueUrl, QueueUrlError } from '../core/queue-url.js';
import { resolveStateDir } from '../core/state-dir.js';
import { quoted } from '../ci/style.js';
import { EXIT, firstCause, UsageError } from '../core/exit.js';
import type { Io } from './proxy-command.js';
import { SWEEP_KINDS } from '../config/sweep-kinds.js';
import type { SweepCommandOptions } from './sweep-command.js';
import { formatNodes, formatQueue } from './queue-tables.js';
import { loadRunners } from '../report/runners.js';
import { fsReason } from '../fs/errors.js';

// The engine, the runners, SSH, the TUI (Ink, React) and the config schemas load when a command
// needs them (dynamic imports below): `--version`, `--help` and `schema` start without them.

interface GlobalOptions {
  ci?: string | boolean;
  stateDir?: string;
  nodes?: string;
  nodeWait?: string;
  queue?: string;
}

export function registerEngineCommands(program: Command, io: Io, setResult: (r: Promise<number>) => void): void {
  const globals = () => program.opts<GlobalOptions>();
  const run = (fn: () => Promise<number>) => setResult(fn().catch(async (e) => { throw await translate(e); }));
  /** Each --ci as given (true when bare): commander keeps only the last. */
  const ciGiven: (string | true)[] = [];

  program
    .option('--ci [dir-or-file]', 'run the job(s) of a project (default .) headless to completion; exit 0 ok, 1 test failed, 2 config error, 3 infrastructure error, 130 interrupted')
    .option('--state-dir <dir>', 'queue and results directory (default $XDG_STATE_HOME/marteau-tui)')
    .option('--nodes <file>', 'nodes file (default $MARTEAU_NODES, ./marteau.nodes.yml, then the packaged one)')
    // From the environment too: a password on the command line is visible in the process list.
    .addOption(new Option('--queue <url>', 'team mode: the queue shared on Redis, redis://[user:pass@]host:port/db (default: `queue:` in the nodes file, else the journal in the state dir)').env('MARTEAU_QUEUE'))
    .option('--node-wait <seconds>', 'with --ci: how long a job may wait for free nodes before failing (exit 3)', '30')
    .on('option:ci', (v?: string) => ciGiven.push(v ?? true))
    // Program options are read anywhere on the line: a --ci next to a command would be dropped
    // silently, and a second --ci would drop the first project without a word.
    .hook('preAction', (_, action) => {
      const shown = ciGiven.map((v) => (v === true ? '--ci' : `--ci ${v}`));
      if (ciGiven.length > 1) throw new UsageError(`--ci is given ${ciGiven.length} times (${shown.join(', ')}): it runs one project; give it once (a directory runs each of its *.marteau.yml), or run marteau-tui --ci once per project`);
      if (ciGiven.length && action !== program && action.name() !== 'sweep') {
        throw new UsageError(`${shown[0]} runs a project headless and takes no command: run "marteau-tui ${shown[0]}" alone, or "marteau-tui ${action.name()} ..." without --ci`);
      }
    })
    // Extra words reach the default action, which names an unknown command instead of
    // commander's "too many arguments".
    .allowExcessArguments(true)
    .action(async () => {
      const [word] = program.args;
      if (word !== undefined) {
        const names = program.commands.map((c) => c.name());
        const { closest } = await import('../config/zod-errors.js');
        const near = closest(word, names);
        throw new UsageError(`unknown command "${word}"${near ? `; did you mean "${near}"?` : ''} (commands: ${names.join(', ')})`);
      }
      run(() => defaultAction(globals(), io));
    });

  program
    .command('sweep [project]')
    .description('the resilience matrix in one run: under steady load, each backend (proxies, and services the app uses) down, slow, answering errors and killed for real, with a recovery gap after each')
    .option('--ci', 'exit 1 when a cell of the matrix fails its expectation (default: exit 0, the matrix tells)')
    .option('--seed <seed>', 'the order of the steps and every draw of the proxies (replay with the seed a sweep printed)')
    .option('--only <backends>', 'comma-separated backends to sweep, e.g. redis')
    .option('--faults <kinds>', `comma-separated fault kinds (${SWEEP_KINDS.join(', ')})`)
    .option('--step <duration>', 'how long each fault lasts (default 3s)')
    .option('--gap <duration>', 'steady load after each fault, to recover (default 4s)')
    .option('--lead <duration>', 'steady load before the first fault (default 3s)')
    .option('--slow <duration>', 'the delay of the slow fault (default 2s)')
    .action((project: string | undefined, o: SweepCommandOptions) => run(() => sweepAction(project, o, globals(), io)));

  program
    .command('enqueue')
    .description('validate a project (directory, .marteau.yml, or git URL[#ref]) and add it to the queue')
    .argument('<targets...>', 'directories, config files or git URLs')
    .option('--json', 'print the queued jobs as JSON')
    .action((targets: string[], o: { json?: boolean }) =>
      run(async () =>
        withEngine(globals(), 'none', async (engine) => {
          const warn = (m: string) => io.err.write(`marteau-tui: warning: ${m}\n`);
          const { NotQueued } = await import('../core/enqueue.js');
          let jobs: Readonly<Job>[];
          try {
            jobs = await engine.enqueueAll(targets, { origin: 'cli', warn });
          } catch (e) {
            if (!(e instanceof NotQueued)) throw e;
            const codes = [];
            for (const f of e.failures) codes.push(await reportUserError(f.error, io, f.target));
            const bad = e.failures.map((f) => f.target);
            io.err.write(`marteau-tui: nothing queued: fix ${bad.length > 1 ? 'these' : 'it'} or leave ${bad.join(', ')} out${targets.length > bad.length ? ' (the other targets are valid)' : ''}\n`);
            return firstCause(codes);
          }
          if (o.json) io.out.write(`${JSON.stringify(jobs, null, 2)}\n`);
          else for (const j of jobs) io.out.write(`queued ${short(j.id)} ${quoted(j.name)} (${j.id})\n`);
          const runners = engine.getSnapshot().jobs.filter((j) => j.status === 'running').length;
          if (!o.json && !runners) io.err.write(`note: queued jobs are run by a \`marteau-tui worker\`${engine.queue.label ? ' on this queue' : ' (or the TUI) on this state dir'}\n`);
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
      run(() =>
        withEngine(globals(), 'none', async (engine) => {
          const { formatDuration } = await import('../config/duration.js');
          if (o.purge !== undefined) {
            const { durationMs, durationSchema } = await import('../config/units.js');
            const age = o.purge === true ? '24h' : o.purge;
            if (!durationSchema.safeParse(age).success) throw new UsageError(`--purge ${age}: a duration such as 0, 90m, 24h`);
            const before = Date.now() - durationMs(/^\d+(\.\d+)?$/.test(age) ? Number(age) : age);
            if (!engine.queue.purge) throw new UsageError(`--purge is for the shared queue (team mode); the embedded journal ${engine.state.journalFile} keeps its history`);
            const n = await engine.queue.purge(before);
            io.out.write(`purged ${n} finished job${n === 1 ? '' : 's'} from ${engine.queue.label}\n`);
            return EXIT.ok;
          }
          const jobs = engine.getSnapshot().jobs;
          const limit = positiveInt(o.limit, '--limit');
          const finished = jobs.filter((j) => isTerminal(j.status));
          const shown = o.all ? jobs : [...jobs.filter((j) => !isTerminal(j.status)), ...finished.slice(-limit)].sort((a, b) => a.seq - b.seq);
          if (o.json) {
            io.out.write(`${JSON.stringify(shown, null, 2)}\n`);
            return EXIT.ok;
          }
          io.out.write(formatQueue(shown, io.out, formatDuration));
          const hidden = jobs.length - shown.length;
          if (hidden > 0) io.out.write(`(${hidden} older job${hidden > 1 ? 's' : ''} not shown: --all)\n`);
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('cancel')
    .description('cancel queued or running jobs (by id or unique id prefix)')
    .argument('<ids...>')
    .action((ids: string[]) =>
      run(() =>
        withEngine(globals(), 'none', async (engine) => {
          // One bad id must not spare the others: each valid one is cancelled, each bad one said.
          const codes: number[] = [];
          for (const id of ids) {
            try {
              const j = await engine.cancel(id);
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
        withEngine(globals(), 'none', async (engine) => {
          const j = await engine.retry(id, { origin: 'cli' });
          io.out.write(`queued ${short(j.id)} ${quoted(j.name)} (retry of ${short(j.retryOf!)})\n`);
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
        withEngine(globals(), 'none', async (engine) => {
          const j = await engine.replay(id, { origin: 'cli' });
          io.out.write(`queued ${short(j.id)} ${quoted(j.name)} (replay of ${short(j.retryOf!)}, seed ${j.seed})\n`);
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('worker')
    .description('run queued jobs from the shared queue until stopped (Ctrl-C), with line output')
    .option('--drain', 'exit once nothing is queued (exit code of the jobs it ran)')
    .action((o: { drain?: boolean }) => run(() => runWorker(globals(), io, !!o.drain)));

  program
    .command('nodes')
    .description('list nodes with their health (probing SSH nodes), or enable/disable one')
    .option('--enable <name>', 'let the node take jobs again')
    .option('--disable <name>', 'take no new job on the node')
    .option('--no-probe', 'do not probe (show the last known state)')
    .option('--json', 'print JSON')
    .action((o: { enable?: string; disable?: string; probe: boolean; json?: boolean }) =>
      run(() =>
        withEngine(globals(), 'none', async (engine) => {
          if (o.enable !== undefined && o.enable === o.disable) throw new UsageError(`--enable ${o.enable} and --disable ${o.disable}: one node cannot be both; give one of them`);
          if (o.enable) await engine.setNodeEnabled(o.enable, true);
          if (o.disable) await engine.setNodeEnabled(o.disable, false);
          if (o.probe) await engine.probeNodes();
          const nodes = engine.getSnapshot().nodes;
          if (o.json) io.out.write(`${JSON.stringify(nodes, null, 2)}\n`);
          else io.out.write(formatNodes(nodes, io.out));
          return o.probe && nodes.some((n) => n.enabled && n.health === 'down') ? EXIT.infrastructure : EXIT.ok;
        }),
      ),
    );

  program
    .command('schema')
    .description('print the JSON Schema of .marteau.yml (for editors), or of the nodes file')
    // A word, not a flag: the global `--nodes <file>` would take `--nodes`.
    .addArgument(new Argument('[file]', 'marteau for .marteau.yml, nodes for marteau.nodes.yml').choices(['marteau', 'nodes']).default('marteau'))
    .action(async (file: 'marteau' | 'nodes') => {
      const schema = file === 'nodes' ? (await import('../config/nodes.js')).nodesJsonSchema() : (await import('../config/marteau-schema.js')).marteauJsonSchema();
      io.out.write(`${JSON.stringify(schema, null, 2)}\n`);
    });
}

async function sweepAction(project: string | undefined, o: SweepCommandOptions, g: GlobalOptions, io: Io): Promise<number> {
  const { sweepConfigText, sweepExitCode, sweepFlags } = await import('./sweep-command.js');
  const flags = sweepFlags(o);
  // The program's own --ci takes the flag (and a word after it) when it comes first.
  const ci = o.ci === true || g.ci !== undefined;
  const target = project ?? (typeof g.ci === 'string' ? g.ci : '.');
  const [{ runCi }, { ConfigError }] = await Promise.all([import('../ci/run-ci.js'), import('../config/errors.js')]);
  try {
    const code = await runCi({ target, stateDir: await stateDirOf(g), nodes: await nodes(g), nodeWaitMs: 30_000, edit: (text) => sweepConfigText(text, flags) }, io);
    return sweepExitCode(code, ci);
  } catch (e) {
    // A flag's mistake found by the config check: name the flag, not a line of the edited config.
    const flag = e instanceof ConfigError ? /^chaos\.sweep\.(\w+)(?:\.\d+)?: (.*)$/s.exec(e.problem) : null;
    if (flag && o[flag[1] as keyof SweepCommandOptions] !== undefined) throw new UsageError(`--${flag[1]}: ${flag[2]}${(e as InstanceType<typeof ConfigError>).hint ? ` (${(e as InstanceType<typeof ConfigError>).hint})` : ''}`);
    throw e;
  }
}

async function defaultAction(g: GlobalOptions, io: Io): Promise<number> {
  if (g.ci === undefined) return runControlCenter(g);
  const seconds = Number(g.nodeWait ?? '30');
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) throw new UsageError('--node-wait: seconds from 0 to 86400');
  const { runCi } = await import('../ci/run-ci.js');
  return runCi(
    {
      target: typeof g.ci === 'string' ? g.ci : '.',
      stateDir: await stateDirOf(g),
      nodes: await nodes(g),
      nodeWaitMs: seconds * 1000,
    },
    io,
  );
}

/** The control center on this user's queue and nodes: it runs the queued jobs while open. */
async function runControlCenter(g: GlobalOptions): Promise<number> {
  const { assertTerminal, runTui } = await import('../ui/run.js');
  assertTerminal();
  const [{ Engine }, { engineBackend }] = await Promise.all([import('../core/engine.js'), import('../ui/engine-backend.js')]);
  const config = await nodes(g);
  // On a team queue the workers run the jobs; a terminal that runs them too would take the
  // team's jobs onto whatever machine someone opened a TUI on.
  const engine = new Engine({ runners: loadRunners, stateDir: await stateDirOf(g), nodes: config, run: config.queue?.url ? 'none' : 'all' });
  await engine.start();
  const backend = engineBackend(engine, { cwd: process.cwd(), bell: () => process.stdout.write('\x07') });
  try {
    const { interrupted } = await runTui(backend, path.basename(process.cwd()));
    return interrupted ? EXIT.interrupted : EXIT.ok;
  } finally {
    backend.stop();
    await engine.stop();
  }
}

async function runWorker(g: GlobalOptions, io: Io, drain: boolean): Promise<number> {
  const [{ Engine }, { CiReporter, surviveClosedOutput }, { exitCodeFor }] = await Promise.all([import('../core/engine.js'), import('../ci/reporter.js'), import('../ci/exit-code.js')]);
  surviveClosedOutput(io.out, io.err);
  const engine = new Engine({ runners: loadRunners, stateDir: await stateDirOf(g), nodes: await nodes(g), run: 'all' });
  const reporter = new CiReporter(io.out, { mine: (id) => engine.isOwn(id), many: () => true });
  engine.events.on('*', reporter.onEvent);
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await engine.start();
  const offOnline = reportQueueState(engine, io);
  io.out.write(`marteau-tui worker: running queued jobs from ${engine.queue.label ?? engine.state.root} on ${engine.pool.list().map((n) => n.name).join(', ')} (Ctrl-C stops)\n`);
  // busy(): between a claim and its start the job is `running` in the queue and not yet own here.
  // A job this worker's nodes cannot fit is left to the others: draining does not wait for it.
  const idle = () => !engine.busy() && engine.getSnapshot().jobs.every((j) => j.status !== 'queued' || engine.leaves(j.id));
  let interrupted = false;
  // A ref'd timer keeps the worker alive; in --drain mode it also checks for the end.
  const tick = setInterval(() => { if (drain && idle()) stop(); }, 250);
  await stopped.then(() => { interrupted = !(drain && idle()); });
  clearInterval(tick);
  offOnline();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await engine.stop();
  const jobs = engine.getSnapshot().jobs.filter((j) => engine.isOwn(j.id)).map((j) => engine.asEnded(j));
  const code = interrupted ? EXIT.interrupted : exitCodeFor(jobs);
  io.out.write(`${reporter.summary(jobs, code).replace('--ci', 'worker')}\n`);
  return code;
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
 * --state-dir (or its default) where the queue can live. A regular file there is a mistake in the
 * command line (exit 2), not a broken machine: mkdir under it would fail with ENOTDIR.
 */
async function stateDirOf(g: GlobalOptions): Promise<string> {
  const dir = resolveStateDir(g.stateDir);
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(`${g.stateDir === undefined ? 'the state dir' : '--state-dir'} ${dir} is a file, not a directory: give a directory (it is made when missing)`);
  return dir;
}

/** The nodes file's last validated config, in the state dir (see config/nodes-file.ts). */
const NODES_CACHE = 'nodes-cache.json';

/** The nodes file, with `--queue` (team mode) taking the place of its `queue:` url. */
async function nodes(g: GlobalOptions): Promise<NodesConfig> {
  const { loadNodesConfigCached, resolveNodesFile } = await import('../config/nodes-file.js');
  const config = await loadNodesConfigCached(await resolveNodesFile(g.nodes), path.join(await stateDirOf(g), NODES_CACHE));
  if (g.queue === undefined) return config;
  return { ...config, queue: { lostJobs: config.queue?.lostJobs ?? 'interrupt', url: parseQueueUrl(g.queue) } };
}

async function withEngine(g: GlobalOptions, mode: 'none', fn: (e: Engine) => Promise<number>): Promise<number> {
  const { Engine } = await import('../core/engine.js');
  // No preload: `queue` and `nodes` start without the runners and schemas; enqueue loads them.
  const engine = new Engine({ runners: loadRunners, stateDir: await stateDirOf(g), nodes: await nodes(g), run: mode, probe: false, preload: false });
  await engine.start();
  try {
    return await fn(engine);
  } finally {
    await engine.stop();
  }
}

/**
 * Print a user mistake (or a machine's fault) as one line and return its exit code, for commands
 * that go on past it; anything else is a bug and is thrown. `target` is named unless the message does.
 */
async function reportUserError(e: unknown, io: Io, target?: string): Promise<number> {
  const t = await translate(e);
  if (!(t instanceof UsageError)) throw t;
  const named = target === undefined || t.message.includes(target) || t.message.includes(path.resolve(target));
  io.err.write(`marteau-tui: ${named ? '' : `${target}: `}${t.message}\n`);
  return t.code;
}

/** User mistakes become one message and exit 2 (3 when a machine is at fault). */
async function translate(e: unknown): Promise<unknown> {
  // Loaded already when the command got this far; importing them here keeps them off the start.
  const [{ QueueOfflineError }, { ConfigError }, { SourceError }] = await Promise.all([
    import('../core/redis-queue.js'),
    import('../config/errors.js'),
    import('../core/source.js'),
  ]);
  if (e instanceof QueueOfflineError) return new UsageError(e.message, EXIT.infrastructure);
  if (e instanceof ConfigError || e instanceof QueueError) return new UsageError(e.message, EXIT.usage);
  if (e instanceof QueueUrlError) return new UsageError(`--queue: ${e.message}`, EXIT.usage);
  if (e instanceof SourceError) return new UsageError(e.message, EXIT.infrastructure);
  if (e instanceof Error && /^no node "/.test(e.message)) return new UsageError(e.message, EXIT.usage);
  // The state dir (or a project file) cannot be used: say which path and why, no stack trace.
  const errno = e as NodeJS.ErrnoException;
  const fsCodes = ['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOTDIR', 'EISDIR', ...(errno?.syscall === 'mkdir' ? ['ENOENT'] : [])];
  if (errno?.code && errno.path && fsCodes.includes(errno.code)) {
    return new UsageError(`${errno.syscall === 'mkdir' ? 'cannot create ' : ''}${errno.path}: ${fsReason(errno)} (check --state-dir and its permissions)`, EXIT.infrastructure);
  }
  return e;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag}: a whole number above 0`);
  return n;
}
