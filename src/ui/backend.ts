/**
 * What the TUI needs from the engine: snapshots to read and one method per user action. The TUI
 * holds no logic of its own; `src/ui/engine-backend.ts` adapts the engine to this.
 */
import type { ScheduleView } from '../core/chaos-player.js';
import type { Mix, MixSpec } from '../proxy/mix.js';
import type { MonitorSnapshot } from '../proxy/monitor.js';
import type { MessageLog } from './message-log.js';

export interface JobRow {
  id: string;
  name: string;
  state: string;
  /** e.g. "cycle 2/3 · 20 users", a phase, or how the job ended (its reason · its figures) */
  progress?: string;
  /**
   * How an ended job went, in the parts `progress` joins, which a Queue row fits each in turn:
   * why it did not succeed (first line) and its runner's figures, when it has them.
   */
  outcome?: { reason?: string; figures?: string };
  /** A running load's figures over the last second. */
  rate?: number;
  errorPercent?: number;
  p95Ms?: number;
  resultDir: string;
  /** The HTML report, once the job ended here with one. */
  report?: string;
  seed?: string;
  nodes: readonly string[];
  enqueuedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** Running in another process on this state dir, whose output this one does not see: which. */
  elsewhere?: string;
  /** Running in this process: leaving interrupts it. */
  runsHere?: boolean;
  /** Its config's proxies (absent: not recorded, a job enqueued by an older version). */
  proxies?: readonly string[];
  /** An ended job's output file, when this process kept none of its lines. */
  outputFile?: string;
  /** Lines for the details view (source, commit, runner, result paths, reason). */
  details: readonly string[];
}

export interface NodeRow {
  name: string;
  /** `no sftp`: up, but it takes only the jobs that copy no files. */
  state: 'up' | 'no sftp' | 'busy' | 'down' | 'disabled' | 'unknown';
  latencyMs?: number;
  job?: string;
}

export interface TuiSnapshot {
  jobs: readonly JobRow[];
  nodes: readonly NodeRow[];
  /** Streamed lines of a job (a bounded ring, newest last). */
  output(jobId: string): readonly string[];
  /** The chaos schedule of each proxy of the running jobs. */
  schedules: readonly ScheduleView[];
  /** A shared queue (team mode): its masked URL, and false while it cannot be reached. */
  queue?: { label?: string; online: boolean };
  /** The first frames, drawn while the engine starts (StartingBackend): nothing read yet. */
  starting?: boolean;
}

export interface TuiBackend {
  getSnapshot(): TuiSnapshot;
  subscribe(listener: () => void): () => void;
  /** Every message shown (actions' outcomes, errors, jobs' ends), kept whole. */
  messages: MessageLog;
  proxies: {
    getSnapshot(): MonitorSnapshot;
    subscribe(listener: () => void): () => void;
    mixOf(proxy: string): Mix | undefined;
    behaviorNames(): readonly string[];
    /** Applied at once; recorded with its time for the report's fault timeline; pauses the proxy's chaos schedule. */
    setMix(proxy: string, spec: MixSpec): Promise<void>;
    /** Hold the proxy's chaos schedule (its clock goes on). */
    pauseChaos(proxy: string): Promise<void>;
    /** Follow the schedule again, from where it is now. */
    resumeChaos(proxy: string): Promise<void>;
    /** The name of the running job whose proxy this is, if any (a destructive preset asks first). */
    carrier(proxy: string): string | undefined;
  };
  enqueue(source: string): Promise<void>;
  cancel(jobId: string): Promise<void>;
  /** Queue the job again with a new seed; resolves to the new job's id. */
  retry(jobId: string): Promise<{ id: string }>;
  /** Run the job again with its recorded seed; resolves to the new job's id and the seed. */
  replay(jobId: string): Promise<{ id: string; seed: string }>;
  /** The job's HTML report: its path, or why there is none. */
  reportOf(jobId: string): { path: string } | { none: string };
  /** Open a file in the desktop's browser (xdg-open / open); rejects with what went wrong. */
  openInBrowser(file: string): Promise<void>;
  setNodeEnabled(node: string, enabled: boolean): Promise<void>;
  /** Sources offered by `e`: .marteau.yml files found in the current repo. */
  enqueueSuggestions(): readonly string[];
  /** The user's directory: relative paths typed in the enqueue prompt start there. */
  cwd: string;
}
