/**
 * The engine's typed events. Views (TUI, --ci, the control API) listen; nothing in the engine
 * knows who does. Listener errors are contained so a broken view cannot stop a job.
 */
import type { Job } from './jobs.js';

export interface Progress {
  /** 0-based cycle (FunkLoad numbering) and how many there are. */
  cycle?: number;
  cycles?: number;
  /** Concurrent virtual users right now. */
  users?: number;
  /** Users the cycle asks for (the live count is below it while they ramp up or stop). */
  cycleUsers?: number;
  requestsPerSecond?: number;
  /** Over the last second, like requestsPerSecond. */
  errorsPerSecond?: number;
  /** 95th percentile of the last second's request times, ms. */
  p95Ms?: number;
  requests?: number;
  errors?: number;
  /** Free text for runners without numbers ("uploading", "node box1 done"). */
  message?: string;
}

/** A proxy behavior change around or during a run, kept with the job's results. */
export interface TimelineEvent {
  /** Epoch ms. */
  at: number;
  /** From the start of the load, once it has started. */
  offsetMs?: number;
  /** The proxy; for a `service` event, the service. */
  proxy: string;
  /** mix: a proxy's behavior mix changed; service: a real fault of a service's processes. */
  kind: 'mix' | 'service';
  /** The mix in force; for a `service` event the fault (kill, stop, freeze, restart), empty once it is back. */
  mix: string;
  /** The fixture or chaos entry behind the change; `manual` for a mix set by hand. */
  fixture: string;
  /** apply: a fixture or chaos window starts; restore: one ends; manual: set by hand. */
  action: 'apply' | 'restore' | 'manual';
  source?: 'fixture' | 'chaos' | 'manual';
  /** For people: "step", "ramp 40% delay (3/6)", "flap on (2/5)", "set by hand". */
  label?: string;
  /** The fault window's name when it is not `fixture`. */
  name?: string;
  /** What the load should see while this change is in force, e.g. ["503"] or ["5xx"] (error mapping). */
  expect?: string[];
  /** Who set it by hand, when not the user of the process running the job (team mode: "pid 123 on host"). */
  by?: string;
}

/** Why a mix changed, in a few words for the report: "chaos outage: step", "fixture slow_db", "set by hand". */
export function changeReason(e: Pick<TimelineEvent, 'source' | 'fixture' | 'label' | 'by'>): string {
  if (e.source === 'manual') return `set by hand${e.by ? ` from ${e.by}` : ''}`;
  const label = e.label && e.label !== 'fixture' ? `: ${e.label}` : '';
  return `${e.source ?? 'fixture'} ${e.fixture}${label}`;
}

export type LogStream = 'stdout' | 'stderr' | 'engine';

export type EngineEvent =
  | { type: 'job.enqueued'; at: number; job: Readonly<Job> }
  | { type: 'job.started'; at: number; job: Readonly<Job> }
  | { type: 'job.progress'; at: number; jobId: string; progress: Progress }
  | { type: 'job.fixture'; at: number; jobId: string; event: TimelineEvent }
  | { type: 'job.finished'; at: number; job: Readonly<Job>; summary: string; resultDir: string; bell: boolean; report?: string }
  | { type: 'node.status'; at: number; node: string; status: 'up' | 'down'; latencyMs?: number; error?: string }
  | { type: 'node.enabled'; at: number; node: string; enabled: boolean }
  | { type: 'log.line'; at: number; jobId?: string; node?: string; stream: LogStream; level?: 'info' | 'warn' | 'error'; line: string };

export type EngineEventType = EngineEvent['type'];
export type EventOf<T extends EngineEventType> = Extract<EngineEvent, { type: T }>;

export class EventBus {
  private readonly byType = new Map<string, Set<(e: EngineEvent) => void>>();

  on<T extends EngineEventType>(type: T, fn: (e: EventOf<T>) => void): () => void;
  on(type: '*', fn: (e: EngineEvent) => void): () => void;
  on(type: string, fn: (e: never) => void): () => void {
    let set = this.byType.get(type);
    if (!set) this.byType.set(type, (set = new Set()));
    const f = fn as (e: EngineEvent) => void;
    set.add(f);
    return () => set.delete(f);
  }

  emit(e: EngineEvent): void {
    for (const key of [e.type, '*']) {
      for (const fn of [...(this.byType.get(key) ?? [])]) {
        try {
          fn(e);
        } catch {
          // A view's bug must not break the engine or the other views.
        }
      }
    }
  }
}
