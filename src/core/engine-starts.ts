/**
 * When the engine tells a job's start (job.started). A job is seen to start as the queue shows it
 * running; but a shared queue may show that, read on another connection, before the reply to
 * this engine's own claim comes, when whose run it is cannot be told yet: a view that shows only
 * this engine's jobs (the CI reporter's "job X started on ...") would drop the start of a job it
 * goes on to run. So a job seen running while a claim of this engine for it is in flight is told
 * once that claim settled: started here if it was this claim's, another's run if not.
 */
import type { EngineEvent } from './events.js';

type Started = Extract<EngineEvent, { type: 'job.started' }>;

export class StartTelling {
  private readonly held = new Map<string, Started>();

  constructor(
    /** Whether a claim of this engine for the job is in flight (Scheduler.claiming). */
    private readonly claiming: (id: string) => boolean,
    private readonly emit: (e: Started) => void,
  ) {}

  /** The job seen turn running: told now, or once this engine's claim for it settled. */
  running(e: Started): void {
    if (this.claiming(e.job.id)) this.held.set(e.job.id, e);
    else this.emit(e);
  }

  /** A claim for these jobs settled, the one it took started: their starts held are told. */
  settled(ids: readonly string[]): void {
    for (const id of ids) if (!this.claiming(id)) this.tell(id);
  }

  /** The job changed again (another's run ended) while a claim was in flight: its start first. */
  tell(id: string): void {
    const e = this.held.get(id);
    if (!e) return;
    this.held.delete(id);
    this.emit(e);
  }
}
