/**
 * Command line entry: `marteau-tui [--ci]`, `marteau-tui proxy`, `marteau-tui behaviors`, `marteau-tui demo`.
 * Every command returns an exit code; user mistakes print one clear message, no stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, UsageError } from './core/exit.js';
import type { ProxyCommandOptions } from './cli/proxy-command.js';
import type { BehaviorOptions } from './cli/proxy-compat.js';
import { apiToken, oneOf } from './cli/choices.js';
import { commandAt } from './cli/early-stop.js';
import { registerEngineCommands } from './cli/engine-commands.js';
import { registerReportCommand } from './cli/report-register.js';
import { PROTOCOL_NAMES } from './proxy/protocol.js';

// Each command loads what it runs when it runs (dynamic imports): the CLI starts at once for
// `--version`, `--help` and the queue commands, whatever the proxy, the TUI or the runners weigh.

/** What --pin takes. */
const PINS = ['exchange', 'connection'];

export async function main(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  let result: Promise<number> = Promise.resolve(EXIT.ok);
  let behaviorOptions: BehaviorOptions = {};
  let mixFlag: string | undefined;
  const program = new Command('marteau-tui')
    .description('Load and chaos testing of web services from one terminal: a chaos proxy between your app and its backends, and a load-test queue.')
    .version(await version())
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('proxy')
    .description('run chaos proxies: one from flags, or many from a config file')
    .option('-c, --config <file>', 'proxies YAML (a `proxies:` map, as in .marteau.yml), a Vaurien INI or a Toxiproxy JSON file')
    .option('-l, --listen <host:port>', 'address to accept connections on (port 0: any free port)')
    .option('-u, --upstream <host:port>', 'the real server')
    .addOption(new Option('-p, --protocol <name>', 'protocol framing').choices([...PROTOCOL_NAMES]).argParser(oneOf(PROTOCOL_NAMES)).default('tcp'))
    .option('-b, --behaviors <mix>', 'behavior mix, e.g. 20:delay,10:error (the rest passes through)')
    .option('-n, --name <name>', 'proxy name (defaults to the protocol)')
    .option('--seed <seed>', 'make the fault sequence replayable')
    .option('--rewrite-host', "http: write the upstream address into each request's Host header (Vaurien's overwrite_host_header)")
    .addOption(new Option('--pin <unit>', 'draw a behavior per exchange or per connection').choices(PINS).argParser(oneOf(PINS)).default('exchange'))
    .option('--tls-cert <file>', 'clients speak TLS to the proxy: the certificate it shows them (PEM; with --tls-key)')
    .option('--tls-key <file>', "that certificate's private key (PEM)")
    .option('--upstream-tls [ca-file]', "the proxy speaks TLS to the server, whose certificate must chain to this CA (PEM; default: Node's CA store)")
    .option('--upstream-insecure', "with --upstream-tls: accept any certificate (a test server's self-signed one)")
    .option('--statsd <host:port>', 'send a statsd counter per fault and a timing per exchange')
    .option('--statsd-prefix <prefix>', 'statsd metric prefix', 'marteau')
    .option('--interval <ms>', 'how often to print counts (default 1000 on a terminal, 5000 otherwise)')
    .option('--grace <ms>', 'on SIGINT/SIGTERM, how long in-flight exchanges may finish', '2000')
    .option('--api [host:port]', 'serve the control APIs (Toxiproxy, Vaurien, /marteau) on this address (default 127.0.0.1:8474)')
    .addOption(new Option('--api-token <token>', 'require this token on every API request (needed off loopback; env MARTEAU_API_TOKEN)').argParser(apiToken))
    .option('--vaurien-proxy <name>', "the proxy that Vaurien's bare /behavior and /backend routes act on")
    .option('-w, --watch', 'with --config: apply edits of the file (and its plugins) live; a bad edit is reported and ignored')
    .action((o: ProxyCommandOptions) => { result = import('./cli/proxy-command.js').then((m) => m.runProxyCommand({ ...o, behaviorOptions, mixFlag }, io)); });

  program
    .command('behaviors')
    .description('list the behaviors with their options and defaults, and the error kinds per protocol')
    .action(async () => {
      const [{ describeBehaviors }, { builtinBehaviors }] = await Promise.all([import('./cli/behaviors-command.js'), import('../behaviors/index.js')]);
      io.out.write(describeBehaviors(builtinBehaviors));
    });

  program
    .command('demo')
    .description('the control center with a demo job queued: a shop app behind the chaos proxy, a bounded load through it')
    .option('--duration <seconds>', 'how long the demo load runs', '45')
    .option('--behaviors <mix>', 'the proxy mix of the demo job, 5:delay unless given (a bare delay waits 0.1 s)')
    .option('--plain', 'run the demo job headless with plain lines, as --ci does (the default when not on a terminal)')
    .option('--sweep', 'the resilience sweep of the demo shop instead: real redis-server and PostgreSQL, the matrix in under a minute')
    .action((o: { duration: string; behaviors?: string; plain?: boolean; sweep?: boolean }) => {
      const g = program.opts<{ stateDir?: string; nodes?: string }>();
      result = o.sweep ? demoSweep(argv.slice(0, 2), g, io) : import('./cli/demo.js').then((m) => m.runDemo({ ...o, stateDir: g.stateDir }, io));
    });

  registerEngineCommands(program, io, (r) => { result = r; });
  registerReportCommand(program, io, (r) => { result = r; });

  // npx (npm 7 and later) hands a `--` after the package's name on to the program, where commander
  // would end the options there and take `--ci` for a command: `npx marteau-tui -- --ci DIR` is
  // the spelling `npm start --` taught, and runs as `--ci DIR` does.
  if (argv[2] === '--') argv = [...argv.slice(0, 2), ...argv.slice(3)];
  try {
    // The command as commander finds it, global options before it or not.
    const at = commandAt(argv.slice(2));
    if (at !== undefined && argv[2 + at] === 'proxy') {
      // Vaurien's and toxiproxy-server's flags, spelled as ours (see proxy-compat.ts).
      const translated = (await import('./cli/proxy-compat.js')).translateArgs(argv.slice(3 + at));
      behaviorOptions = translated.behaviorOptions;
      mixFlag = translated.mixFlag;
      argv = [...argv.slice(0, 3 + at), ...translated.args];
    }
    await program.parseAsync(argv);
    return await result;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof UsageError) {
      io.err.write(`marteau-tui: ${e.message}\n`);
      return e.code;
    }
    if (e instanceof (await import('./config/errors.js')).ConfigError) {
      io.err.write(`marteau-tui: ${e.message}\n`);
      return EXIT.usage;
    }
    io.err.write(`marteau-tui: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT.infrastructure;
  }
}

/** `demo --sweep`: `sweep` on the packaged demo shop (fixtures/sweep), with the same state dir and nodes. */
async function demoSweep(head: string[], g: { stateDir?: string; nodes?: string }, io: NonNullable<Parameters<typeof main>[1]>): Promise<number> {
  const dir = (await import('./cli/demo-sweep-dir.js')).demoSweepDir();
  if (!dir) throw new UsageError('the demo shop (fixtures/sweep) is not in this installation');
  io.out.write(`the resilience sweep of the demo shop (${dir}): redis behind a chaos proxy, PostgreSQL killed for real\n`);
  const globals = [...(g.stateDir ? ['--state-dir', g.stateDir] : []), ...(g.nodes ? ['--nodes', g.nodes] : [])];
  return main([...head, 'sweep', dir, ...globals], io);
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  // src/cli.ts runs from dist/src/ when built and from src/ under the test runner.
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      return (JSON.parse(await readFile(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}
