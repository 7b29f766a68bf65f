/**
 * A Runner turns a job's config into commands on the job's nodes (through Executors), reports
 * progress and log lines as it goes, and returns an outcome. The engine does everything around
 * it: reserving nodes, starting the job's proxies and fixtures, timeouts, cancel, journal,
 * notification. So a runner only knows its tool.
 *
 * Plugging one in (e.g. the builtin load generator): export a `Runner` (a function of report/'s
 * writer returning one, if it writes our reports), add it to `defaultRunners` in runners/index.ts. Its `configSchema` validates its own keys of .marteau.yml
 * (errors get file:line:col for free); `check` does cross-key checks with a path.
 */
import type { RunnerCatalogEntry, MarteauConfig } from '../config/marteau.js';
import type { LogStream, Progress, TimelineEvent } from './events.js';
import type { FailureKind } from './jobs.js';
import type { Executor } from '../exec/executor.js';
import type { Proxy } from '../proxy/proxy.js';

export interface RunnerNode {
  name: string;
  /** 0-based position among the job's nodes. */
  index: number;
  executor: Executor;
  kind: 'local' | 'ssh';
  /** SSH nodes: the base directory where jobs are copied (node `work_dir`). */
  remoteBase?: string;
  /** SSH nodes: Node.js there (`node_bin`) and an installed marteau-tui (`marteau_tui`), for the builtin runner. */
  nodeBin?: string;
  marteauTui?: string;
  /** FunkLoad on the node (`funkload:` in marteau.nodes.yml), for the funkload runner. */
  funkload?: string;
}

export interface RunnerContext {
  /** `seed`: the job's, when it has proxies or service faults (its reports say it, for a replay). */
  job: { id: string; name: string; seed?: string };
  config: MarteauConfig;
  nodes: readonly RunnerNode[];
  /** Local directory for this job's results; a runner writes its files here. */
  resultDir: string;
  /** The job's environment: `env:` of the config plus MARTEAU_JOB_ID, MARTEAU_PROXY_<NAME>, ... */
  env: Readonly<Record<string, string>>;
  /** Aborted on cancel, timeout or engine shutdown: stop promptly and return. */
  signal: AbortSignal;
  /** Who asked for the cancel that aborted `signal`, in words ("by SIGTERM"), when not a user. */
  cancelCause(): string | undefined;
  log(line: string, options?: { node?: string; stream?: LogStream; level?: 'info' | 'warn' | 'error' }): void;
  progress(p: Progress): void;
  /**
   * Call when the load itself starts (after uploads, installs, warm-up): fixtures with `at:`
   * count from here. Calling it more than once has no effect.
   */
  loadStarted(): void;
  /**
   * A sweep's steady-state check before the first fault: `ok` arms the faults (on the clock
   * `loadStarted` began); not ok, none is injected and the job ends as an infrastructure failure
   * (exit 3) saying why. Until it is called, a sweep injects nothing.
   */
  steadyState?(verdict: { ok: boolean; why?: string }): void;
  /** The job's proxies, by name, for runners that record per-exchange faults. */
  proxies: ReadonlyMap<string, Proxy>;
  /** Fixture changes so far (a copy). */
  timeline(): readonly TimelineEvent[];
  /**
   * Remember a process group a run started, so a crashed engine's leftovers can be killed.
   * `local`: it runs on this machine (default: when the node is a local one); say so for a
   * process of the run's own outside the job's nodes, such as Locust's master.
   */
  recordProcess(node: string, pgid: number, local?: boolean): void;
  /** A node failed under the run (connection lost...): it is marked down for scheduling. */
  nodeFailed(node: string, error: string): void;
}

export interface RunOutcome {
  status: 'succeeded' | 'failed';
  reason?: string;
  /** Why it failed: the test (exit 1), the machines (exit 3), the config (exit 2). */
  failure?: FailureKind;
  exitCode?: number;
  /** Files written under resultDir, relative to it. */
  artifacts?: string[];
  /** One line for the job summary, e.g. "1200 requests, 0.3 % errors, p95 120 ms". */
  summary?: string;
  /** An HTML report under resultDir, when the runner made one. */
  report?: string;
  /**
   * Lines to read last (the resilience matrix, each threshold's verdict): logged once the job's
   * services and proxies have stopped, so that its output ends with them, not with their stops.
   */
  closing?: readonly string[];
}

export interface Runner extends RunnerCatalogEntry {
  readonly name: string;
  readonly description: string;
  run(ctx: RunnerContext): Promise<RunOutcome>;
}

export type RunnerRegistry = ReadonlyMap<string, Runner>;

export function runnerRegistry(runners: readonly Runner[]): RunnerRegistry {
  return new Map(runners.map((r) => [r.name, r]));
}
