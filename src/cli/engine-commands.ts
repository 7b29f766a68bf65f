/**
 * The program from the command line: its global options (`--ci`, `--state-dir`, `--nodes`,
 * `--queue`, `--node-wait`), the default action (the control center, or `--ci` headless),
 * `sweep` and `schema`; the queue's own commands come from queue-commands.ts.
 */
import path from 'node:path';
import { Argument, Option, type Command } from 'commander';
import { EXIT, UsageError } from '../core/exit.js';
import type { Engine } from '../core/engine.js';
import type { TuiBackend } from '../ui/backend.js';
import type { Io } from './proxy-command.js';
import { SWEEP_KINDS } from '../config/sweep-kinds.js';
import type { SweepCommandOptions } from './sweep-command.js';
import { nodes, stateDirOf, type GlobalOptions } from './global-options.js';
import { leavingLines } from './leaving.js';
import { oneOf } from './choices.js';
import { registerQueueCommands } from './queue-commands.js';
import { takeStopSignals } from './stop-signals.js';
import { translate } from './user-errors.js';
import { loadRunners } from '../report/runners.js';

// The engine, the runners, SSH, the TUI (Ink, React) and the config schemas load when a command
// needs them (dynamic imports below): `--version`, `--help` and `schema` start without them.

/** The files `schema` writes the JSON schema of. */
const SCHEMA_FILES = ['marteau', 'nodes'];

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
    .option('--node-wait <seconds>', 'with --ci or sweep: how long a job may wait for free nodes before failing (exit 3)', '30')
    .on('option:ci', (v?: string) => ciGiven.push(v ?? true))
    // Program options are read anywhere on the line: a --ci next to a command would be dropped
    // silently, and a second --ci would drop the first project without a word.
    .hook('preAction', (_, action) => {
      const shown = ciGiven.map((v) => (v === true ? '--ci' : `--ci ${v}`));
      if (ciGiven.length > 1) throw new UsageError(`--ci is given ${ciGiven.length} times (${shown.join(', ')}): it runs one project; give it once (a directory runs each of its *.marteau.yml), or run marteau-tui --ci once per project`);
      if (ciGiven.length && action !== program && action.name() !== 'sweep') {
        throw new UsageError(`${shown[0]} runs a project headless and takes no command: run "marteau-tui ${shown[0]}" alone, or "marteau-tui ${action.name()} ..." without --ci`);
      }
      // Only a run that ends waits for nodes a bounded time: elsewhere the flag did nothing, without a word.
      const runs = action === program ? ciGiven.length > 0 : action.name() === 'sweep';
      if (program.getOptionValueSource('nodeWait') === 'cli' && !runs) {
        const what = action === program ? 'the control center' : `marteau-tui ${action.name()}`;
        throw new UsageError(`--node-wait goes with --ci or sweep (how long their jobs may wait for free nodes); ${what} takes none: a job queued waits until its nodes are free`);
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

  registerQueueCommands(program, io, run);

  program
    .command('schema')
    .description('print the JSON Schema of .marteau.yml (for editors), or of the nodes file')
    // A word, not a flag: the global `--nodes <file>` would take `--nodes`.
    .addArgument(new Argument('[file]', 'marteau for .marteau.yml, nodes for marteau.nodes.yml').choices(SCHEMA_FILES).argParser(oneOf(SCHEMA_FILES)).default('marteau'))
    .action(async (file: 'marteau' | 'nodes') => {
      const schema = file === 'nodes' ? (await import('../config/nodes.js')).nodesJsonSchema() : (await import('../config/marteau-schema.js')).marteauJsonSchema();
      io.out.write(`${JSON.stringify(schema, null, 2)}\n`);
    });
}

async function sweepAction(project: string | undefined, o: SweepCommandOptions, g: GlobalOptions, io: Io): Promise<number> {
  const { sweepConfigText, sweepExitCode, sweepFlags } = await import('./sweep-command.js');
  const flags = sweepFlags(o);
  const waitMs = nodeWaitMs(g);
  // The program's own --ci takes the flag (and a word after it) when it comes first.
  const ci = o.ci === true || g.ci !== undefined;
  const target = project ?? (typeof g.ci === 'string' ? g.ci : '.');
  // Armed by the bin when --ci is given, as for the program's own --ci.
  const early = takeStopSignals();
  const [{ runCi }, { ConfigError }] = await Promise.all([import('../ci/run-ci.js'), import('../config/errors.js')]);
  try {
    return await runCi({
      target,
      stateDir: await stateDirOf(g),
      nodes: await nodes(g),
      nodeWaitMs: waitMs,
      edit: (text) => sweepConfigText(text, flags),
      command: ci ? 'marteau-tui sweep --ci' : 'marteau-tui sweep',
      exitCode: (code) => sweepExitCode(code, ci),
    }, { ...io, early });
  } catch (e) {
    // A flag's mistake found by the config check: name the flag, not a line of the edited config.
    const flag = e instanceof ConfigError ? /^chaos\.sweep\.(\w+)(?:\.\d+)?: (.*)$/s.exec(e.problem) : null;
    if (flag && o[flag[1] as keyof SweepCommandOptions] !== undefined) throw new UsageError(`--${flag[1]}: ${flag[2]}${(e as InstanceType<typeof ConfigError>).hint ? ` (${(e as InstanceType<typeof ConfigError>).hint})` : ''}`);
    throw e;
  } finally {
    early.release();
  }
}

/** `--node-wait` of a --ci run or a sweep, in ms. */
function nodeWaitMs(g: GlobalOptions): number {
  const seconds = Number(g.nodeWait ?? '30');
  if (g.nodeWait?.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) throw new UsageError(`--node-wait: expected seconds from 0 to 86400, got "${g.nodeWait}"`);
  return seconds * 1000;
}

async function defaultAction(g: GlobalOptions, io: Io): Promise<number> {
  if (g.ci === undefined) return runControlCenter(g);
  const waitMs = nodeWaitMs(g);
  // From the first line (the bin's): a CI system may stop the run while it starts; Node's
  // default would kill it (exit 143) where a stop once running cancels the run (130).
  const early = takeStopSignals();
  try {
    const { runCi } = await import('../ci/run-ci.js');
    return await runCi(
      {
        target: typeof g.ci === 'string' ? g.ci : '.',
        stateDir: await stateDirOf(g),
        nodes: await nodes(g),
        nodeWaitMs: waitMs,
      },
      { ...io, early },
    );
  } finally {
    early.release();
  }
}

/**
 * Closed (q, ctrl-c, a signal) while its engine still starts: the process ends now, the start
 * left behind. Awaited, a team queue whose server takes the connection and never answers (or a
 * host dropping packets) held the process, the user's shell with it, for as long as it hung.
 * The start had claimed no job (jobs start only once it has ended), so none is lost: the queued
 * ones stay in the queue, which the next process reads as it was.
 */
function leaveStarting(where: string, code: number): never {
  process.stdout.write(`marteau-tui: closed while its engine was still starting (reading the queue at ${where}): no job was claimed here; the queued jobs stay in the queue\n`);
  process.exit(code);
}

/**
 * The control center on this user's queue and nodes: it runs the queued jobs while open. A
 * SIGTERM or SIGINT (a session closing, a `kill`) leaves as `q q` does: Node's default killed it
 * (exit 143), the terminal left on its last frame and nothing said of the jobs it ran.
 */
async function runControlCenter(g: GlobalOptions): Promise<number> {
  const stops = takeStopSignals();
  try {
    return await controlCenter(g, stops.signal);
  } finally {
    stops.release();
  }
}

async function controlCenter(g: GlobalOptions, stop: AbortSignal): Promise<number> {
  const [{ assertTerminal, begunNow, inkOutOfCi, runTui }, { StartingBackend }] = await Promise.all([import('../ui/run.js'), import('../ui/starting-backend.js')]);
  assertTerminal();
  await inkOutOfCi();
  // Read before the first frame: a mistake in them is said as any command's, on the plain terminal.
  const config = await nodes(g);
  // On a team queue the workers run the jobs; a terminal that runs them too would take the
  // team's jobs onto whatever machine someone opened a TUI on.
  const runsJobs = !config.queue?.url;
  const stateDir = await stateDirOf(g);
  // Stopped before its engine starts: no job is claimed to be interrupted at once.
  if (stop.aborted) return EXIT.interrupted;
  const starting = new StartingBackend(process.cwd());
  let open: { engine: Engine; backend: TuiBackend & { stop(): void } } | undefined;
  let stopped = new Set<string>();
  // The engine starts beside the first frame, which waits for none of it: on a busy machine its
  // modules and its start kept the screen blank for seconds.
  const early = begunNow(async () => {
    const [{ Engine }, { engineBackend }] = await Promise.all([import('../core/engine.js'), import('../ui/engine-backend.js')]);
    // Stopped (a signal) before its engine starts: no job is claimed to be interrupted at once.
    if (stop.aborted) return;
    const engine = new Engine({ runners: loadRunners, stateDir, nodes: config, run: runsJobs ? 'all' : 'none', rereadNodes: true });
    await engine.start();
    open = { engine, backend: engineBackend(engine, { cwd: process.cwd(), bell: () => process.stdout.write('\x07'), messages: starting.messages }) };
  });
  try {
    const { interrupted } = await runTui(starting, path.basename(process.cwd()), undefined, stop, async (closed) => {
      await early.afterFirstFrame(closed);
      if (open) starting.attach(open.backend);
    });
    const code = interrupted ? EXIT.interrupted : EXIT.ok;
    if (!early.done()) leaveStarting(config.queue?.url?.masked ?? stateDir, code);
    stopped = new Set(open?.backend.getSnapshot().jobs.filter((j) => j.runsHere).map((j) => j.id));
    return code;
  } finally {
    await early.settled;
    if (open) {
      open.backend.stop();
      await open.engine.stop();
      for (const line of leavingLines(open.engine.getSnapshot().jobs, stopped, { stateDir, flag: g.stateDir, runsJobs })) process.stdout.write(`${line}\n`);
    }
  }
}
