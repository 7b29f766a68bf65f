/**
 * What the engine and the builtin agent (agent.ts, one process per node) tell each other: a job
 * file in; out on stdout, marked JSON lines (messages), marked FunkLoad XML lines (its result
 * file, streamed as it is written) and other lines (FunkLoad-style console text for the job
 * log). Pure and dependency-free: the agent's import closure ships to SSH nodes.
 */
import type { BenchProgress } from './bench.js';
import type { BuiltinConfig } from './config.js';

/** The agent entry point, relative to the package (or bundle) root. */
export const AGENT_ENTRY = 'dist/src/runners/builtin/agent.js';
export const AGENT_MARKER = '@@marteau-agent ';
/** Before each line of the agent's FunkLoad XML result, which it sends on stdout rather than keeping on the node. */
export const RESULT_MARKER = '@@marteau-xml ';
/** The agent's exit status when its job file is not one it understands. */
export const AGENT_BAD_JOB = 2;

export interface AgentJob {
  /** marteau-tui version that wrote the job; the agent refuses another one. */
  version: string;
  name: string;
  node: string;
  /** Already validated by the engine (builtinConfigSchema output). */
  config: BuiltinConfig;
  share: { index: number; of: number };
  meta?: Record<string, string>;
}

/** The agent's arguments: its job file; when to start comes later, on its stdin (AgentCommand). */
export function agentArgs(jobFile: string): string[] {
  return [jobFile];
}

/** Inverse of agentArgs; `--version` alone asks for the version. */
export function parseAgentArgs(args: readonly string[]): { version: true } | { jobFile: string } {
  if (args.length === 1 && args[0] === '--version') return { version: true };
  if (args.length !== 1 || args[0].startsWith('-')) throw new Error('usage: agent.js <job.json> | --version');
  return { jobFile: args[0] };
}

/**
 * The engine's lines on the agent's stdin: `ping` (answered at once by a `pong` with the agent's
 * clock, to measure the round trip and the clocks' offset) and `start` (the epoch ms, on the
 * agent's own clock, at which its bench starts).
 */
export type AgentCommand = { type: 'ping'; id: number } | { type: 'start'; at: number };

export function commandLine(c: AgentCommand): string {
  return `${c.type} ${c.type === 'ping' ? c.id : Math.round(c.at)}\n`;
}

export function parseCommand(line: string): AgentCommand | undefined {
  const [word, arg, ...rest] = line.trim().split(' ');
  const n = Number(arg);
  if (rest.length || arg === undefined || !Number.isFinite(n)) return undefined;
  return word === 'ping' ? { type: 'ping', id: n } : word === 'start' ? { type: 'start', at: n } : undefined;
}

export type AgentMessage =
  /** Loaded and listening for commands. */
  | { type: 'ready' }
  | { type: 'pong'; id: number; at: number }
  | { type: 'progress'; progress: BenchProgress }
  | { type: 'done'; requests: number; errors: number; tests: number; aborted: boolean };

export function agentLine(m: AgentMessage): string {
  return AGENT_MARKER + JSON.stringify(m);
}

/** The message a stdout line carries, or undefined for a plain console line. */
export function parseAgentLine(line: string): AgentMessage | undefined {
  if (!line.startsWith(AGENT_MARKER)) return undefined;
  try {
    const m = JSON.parse(line.slice(AGENT_MARKER.length)) as AgentMessage;
    return m && ['ready', 'pong', 'progress', 'done'].includes(m.type) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** A slice of whole result lines (LineBatch's), marked for stdout. */
export function resultText(text: string): string {
  return RESULT_MARKER + text.slice(0, -1).split('\n').join(`\n${RESULT_MARKER}`) + '\n';
}

/** The result line a stdout line carries, or undefined when it is something else. */
export function parseResultLine(line: string): string | undefined {
  return line.startsWith(RESULT_MARKER) ? line.slice(RESULT_MARKER.length) : undefined;
}

/** One ping's times: sent and received on the engine's clock, `at` on the agent's. */
export interface PingSample {
  sent: number;
  at: number;
  received: number;
}

/** The agent's clock minus the engine's, in ms, and the round trip it was measured over. */
export interface ClockOffset {
  offsetMs: number;
  roundTripMs: number;
}

/**
 * From the ping with the shortest round trip (the least queueing): the agent read its clock
 * somewhere between sending and receiving, so its offset lies within half that round trip of
 * Cristian's midpoint estimate. The offset kept is the smallest one in that interval: clocks that
 * agree within the measurement (one machine, NTP-synced nodes) are left alone, since a shift by
 * the midpoint's error would move short requests off the faults they met; a clock that is
 * really off is brought to within half a round trip.
 */
export function clockOffset(samples: readonly PingSample[]): ClockOffset | undefined {
  let best: PingSample | undefined;
  for (const s of samples) if (!best || s.received - s.sent < best.received - best.sent) best = s;
  if (!best) return undefined;
  const roundTripMs = best.received - best.sent;
  const mid = best.at - (best.sent + best.received) / 2;
  const shift = Math.max(0, Math.abs(mid) - roundTripMs / 2);
  return { offsetMs: shift === 0 ? 0 : Math.sign(mid) * shift, roundTripMs };
}

/** Check a job file's shape (the engine wrote it, but maybe another version did). */
export function parseAgentJob(text: string, version: string): AgentJob {
  let job: Partial<AgentJob>;
  try {
    job = JSON.parse(text) as Partial<AgentJob>;
  } catch (e) {
    throw new Error(`the job file is not JSON: ${(e as Error).message}`);
  }
  if (job.version !== version) throw new Error(`the job file was written by marteau-tui ${job.version ?? '(unknown)'}, this agent is ${version}`);
  const share = job.share;
  if (!share || !Number.isInteger(share.of) || share.of < 1 || !Number.isInteger(share.index) || share.index < 0 || share.index >= share.of) {
    throw new Error('the job file has no valid share {index, of}');
  }
  if (!job.config || !Array.isArray(job.config.cycles) || !Array.isArray(job.config.scenario)) throw new Error('the job file has no bench config');
  if (typeof job.name !== 'string' || typeof job.node !== 'string') throw new Error('the job file lacks name or node');
  return job as AgentJob;
}
