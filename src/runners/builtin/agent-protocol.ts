/**
 * What the engine and the builtin agent (agent.ts, one process per node) tell each other: a job
 * file in, marked JSON lines out on stdout (other stdout lines are FunkLoad-style console text
 * for the job log). Pure and dependency-free: the agent's import closure ships to SSH nodes.
 */
import type { BenchProgress } from './bench.js';
import type { BuiltinConfig } from './config.js';

/** The agent entry point, relative to the package (or bundle) root. */
export const AGENT_ENTRY = 'dist/src/runners/builtin/agent.js';
export const AGENT_MARKER = '@@marteau-agent ';
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
  /** FunkLoad XML result file, relative to the agent's working directory. */
  output: string;
  meta?: Record<string, string>;
}

/** The agent's arguments: its job file and the epoch ms at which every node starts its bench. */
export function agentArgs(jobFile: string, startAt: number): string[] {
  return [jobFile, '--start-at', String(Math.round(startAt))];
}

/** Inverse of agentArgs; `--version` alone asks for the version. */
export function parseAgentArgs(args: readonly string[]): { version: true } | { jobFile: string; startAt?: number } {
  if (args.length === 1 && args[0] === '--version') return { version: true };
  const startAt = args[1] === '--start-at' ? Number(args[2]) : undefined;
  if (!(args.length === 1 || (args.length === 3 && Number.isFinite(startAt)))) throw new Error('usage: agent.js <job.json> [--start-at <epoch ms>] | --version');
  return { jobFile: args[0], startAt };
}

export type AgentMessage =
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
    return m && (m.type === 'progress' || m.type === 'done') ? m : undefined;
  } catch {
    return undefined;
  }
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
  if (typeof job.output !== 'string' || typeof job.name !== 'string' || typeof job.node !== 'string') throw new Error('the job file lacks name, node or output');
  return job as AgentJob;
}
