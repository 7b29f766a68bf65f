/**
 * The builtin runner's process on a node: `node agent.js <job.json>` runs one node's share of a
 * bench (agent-protocol.ts), streams its FunkLoad XML result on stdout as it is written (marked
 * lines, every second: the engine keeps a copy, so a node whose connection dies has given
 * everything up to its last second), and prints console lines plus marked JSON lines. Once loaded it says `ready` and obeys its
 * stdin: `ping` (answered at once, so the engine measures the round trip and the clocks'
 * offset) and `start` (when, on this node's clock). Its stdin closing means the engine is gone:
 * the bench stops and the agent exits. `node agent.js --version` prints the
 * version (the engine's check that an installed copy matches its own).
 *
 * Its import closure is shipped to SSH nodes as is (bundle.ts): node built-ins, undici, and the
 * bench modules only, never the CLI, the TUI or zod.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { FunkloadXmlWriter } from '../funkload-writer.js';
import { SHARE_META } from '../funkload-xml.js';
import { RunResults } from '../results.js';
import { AGENT_BAD_JOB, agentLine, parseAgentArgs, parseAgentJob, parseCommand, resultText } from './agent-protocol.js';
import { benchRunInfo, runBench, sleep } from './bench.js';
import { now } from './sample-clock.js';
import { xmlRecorder } from './record.js';

/** The engine's start instant is a few seconds ahead at most: never wait longer than this. */
const MAX_START_WAIT_MS = 30_000;

/** Answer pings until the engine says when to start; undefined when stdin closed first. */
function awaitStart(say: (line: string) => void, stop: AbortController): Promise<number | undefined> {
  return new Promise((resolve) => {
    let startAt: number | undefined;
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const c = parseCommand(line);
      if (c?.type === 'ping') say(agentLine({ type: 'pong', id: c.id, at: now() }));
      else if (c?.type === 'start' && startAt === undefined) resolve((startAt = c.at));
    });
    lines.on('close', () => stop.abort());
    stop.signal.addEventListener('abort', () => resolve(startAt), { once: true });
    say(agentLine({ type: 'ready' }));
  });
}

function packageVersion(): string {
  // dist/src/runners/builtin/agent.js, in the package and in a shipped bundle alike.
  return (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(args: string[]): Promise<number> {
  const version = packageVersion();
  let job;
  try {
    const parsed = parseAgentArgs(args);
    if ('version' in parsed) {
      process.stdout.write(`${version}\n`);
      return 0;
    }
    job = parseAgentJob(readFileSync(parsed.jobFile, 'utf8'), version);
  } catch (e) {
    process.stderr.write(`marteau-tui builtin agent: ${(e as Error).message}\n`);
    return AGENT_BAD_JOB;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const stop = new AbortController();
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, () => stop.abort());
  // Nobody reads our stdout any more (the connection died): the engine is gone, stop.
  process.stdout.on('error', () => stop.abort());
  const startAt = await awaitStart(say, stop);
  if (startAt === undefined) {
    process.stderr.write('marteau-tui builtin agent: stopped before the start (the engine went away or cancelled)\n');
    return 1;
  }
  const wait = startAt - now();
  if (wait > 0) await sleep(Math.min(wait, MAX_START_WAIT_MS), stop.signal);
  else if (wait < -100) say(`warning: started ${(-wait / 1000).toFixed(1)}s after the common start (slow node): this node's cycles begin later than the others'`);

  const results = new RunResults(benchRunInfo(job.config, { name: job.name, start: Date.now(), node: job.node, meta: { ...job.meta, [SHARE_META]: `${job.share.index}/${job.share.of}` }, version: `marteau-tui ${version}` }));
  const writer = new FunkloadXmlWriter((text) => process.stdout.write(resultText(text)), results.info);
  try {
    await runBench(job.config, {
      results,
      signal: stop.signal,
      share: job.share,
      onLog: say,
      onProgress: (progress) => {
        // Every second the engine's copy is whole up to now: a lost node loses at most its last second.
        writer.flush();
        say(agentLine({ type: 'progress', progress }));
      },
      ...xmlRecorder(writer, results),
    });
  } finally {
    writer.close();
  }
  const o = results.summary().overall;
  say(agentLine({ type: 'done', requests: o.requests.total, errors: o.requests.total - o.requests.success, tests: o.tests.total, aborted: stop.signal.aborted }));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The engine keeps our stdin open; nothing more is read from it.
    process.stdin.destroy();
  },
  (e: Error) => {
    process.stderr.write(`marteau-tui builtin agent: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
    process.stdin.destroy();
  },
);
