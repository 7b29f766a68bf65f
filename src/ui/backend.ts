/**
 * What the TUI needs from the engine: snapshots to read and one method per user action. The TUI
 * holds no logic of its own; `src/ui/engine-backend.ts` adapts the engine to this.
 */
import type { ScheduleView } from '../core/chaos-player.js';
import type { Mix, MixSpec } from '../proxy/mix.js';
import type { MonitorSnapshot } from '../proxy/monitor.js';

export interface JobRow {
  id: string;
  name: string;
  state: string;
  /** e.g. "cycle 2/3 · 20 users · 412 req/s · 3 err" */
  progress?: string;
  nodes: readonly string[];
  enqueuedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** Lines for the details view (source, commit, runner, result paths, reason). */
  details: readonly string[];
}

export interface NodeRow {
  name: string;
  state: 'up' | 'busy' | 'down' | 'disabled' | 'unknown';
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
  /** The latest engine news for the header (a job's end, with its report), and when. */
  message?: { text: string; at: number };
  /** A shared queue (team mode): its masked URL, and false while it cannot be reached. */
  queue?: { label?: string; online: boolean };
}

export interface TuiBackend {
  getSnapshot(): TuiSnapshot;
  subscribe(listener: () => void): () => void;
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
  };
  enqueue(source: string): Promise<void>;
  cancel(jobId: string): Promise<void>;
  retry(jobId: string): Promise<void>;
  setNodeEnabled(node: string, enabled: boolean): Promise<void>;
  /** Sources offered by `e`: .marteau.yml files found in the current repo. */
  enqueueSuggestions(): readonly string[];
}
