/**
 * Plays the `{service, fault}` entries of `chaos:` on the job's real processes, on the same load
 * clock as the proxy schedule (chaos-player.ts), and records each on the job's timeline as a
 * `service` event: `apply` when the fault hits, `restore` when the service is back (ready again,
 * or thawed). Fault windows, recovery and the report read these like a proxy's mix changes.
 *
 * One service's steps run one after the other (a restart that takes longer than planned delays
 * what follows on it, never overlaps it). The end of the run cancels what has not happened and
 * thaws what is frozen, so the services can be stopped.
 */
import type { ServiceFaultEntry } from '../config/chaos.js';
import type { TimelineEvent } from './events.js';

/** What the player needs from the job's services (ServiceSet has it). */
export interface FaultableServices {
  fault(name: string, what: 'kill' | 'stop' | 'freeze' | 'thaw' | 'start', signal: AbortSignal): Promise<void>;
}

/** What each fault does to the process group, for people. */
const SIGNALS: Record<ServiceFaultEntry['fault'], string> = {
  kill: 'SIGKILL',
  stop: 'stopped',
  freeze: 'SIGSTOP',
  restart: 'restart',
};

export class ServiceFaultPlayer {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly events: TimelineEvent[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private readonly frozen = new Set<string>();
  private readonly abort = new AbortController();
  private loadStart?: number;
  private ended = false;

  constructor(
    private readonly entries: readonly ServiceFaultEntry[],
    private readonly services: FaultableServices,
    private readonly onEvent: (e: TimelineEvent) => void,
    private readonly log: (message: string, level: 'info' | 'warn') => void,
  ) {}

  get timeline(): readonly TimelineEvent[] {
    return [...this.events];
  }

  /** Arm every fault, counting from now (the start of the load). */
  start(now = Date.now()): void {
    if (this.loadStart !== undefined || this.ended) return;
    this.loadStart = now;
    for (const e of this.entries) {
      this.at(now + e.atMs, e, () => this.hit(e));
      if (e.forMs !== undefined) this.at(now + e.atMs + e.forMs, e, () => this.recover(e));
    }
  }

  /** End of the run: nothing more happens; frozen services are thawed so they can stop. */
  async teardown(): Promise<void> {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // Said as the chaos player says a proxy's: a cancelled run's log tells what never happened.
    for (const e of this.entries) {
      if (!this.events.some((x) => x.fixture === e.name)) this.log(`chaos ${e.name} was not applied: the run ended before ${e.atMs / 1000}s`, 'info');
    }
    this.abort.abort();
    await Promise.all(this.chains.values());
    for (const name of this.frozen) {
      await this.services.fault(name, 'thaw', this.abort.signal).catch(() => undefined);
      const e = this.entries.find((x) => x.service === name && x.fault === 'freeze');
      if (e) this.record(e, 'restore', 'thawed: end of the run');
    }
    this.frozen.clear();
  }

  private at(when: number, e: ServiceFaultEntry, fn: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.ended) return;
      // In order per service, whatever each step takes.
      const next = (this.chains.get(e.service) ?? Promise.resolve())
        .then(() => (this.ended ? undefined : fn()))
        .catch((err: Error) => this.log(`chaos ${e.name}: ${err.message}`, 'warn'));
      this.chains.set(e.service, next);
    }, Math.max(0, when - Date.now()));
    this.timers.add(timer);
  }

  private async hit(e: ServiceFaultEntry): Promise<void> {
    const signal = this.abort.signal;
    this.record(e, 'apply', e.fault === 'restart' ? 'restart: stopping' : SIGNALS[e.fault]);
    if (e.fault === 'freeze') {
      await this.services.fault(e.service, 'freeze', signal);
      this.frozen.add(e.service);
      return;
    }
    await this.services.fault(e.service, e.fault === 'kill' ? 'kill' : 'stop', signal);
    if (e.fault === 'restart') await this.back(e);
  }

  private async recover(e: ServiceFaultEntry): Promise<void> {
    if (e.fault === 'freeze') {
      await this.services.fault(e.service, 'thaw', this.abort.signal);
      this.frozen.delete(e.service);
      this.record(e, 'restore', 'thawed (SIGCONT)');
      return;
    }
    await this.back(e);
  }

  private async back(e: ServiceFaultEntry): Promise<void> {
    const since = Date.now();
    await this.services.fault(e.service, 'start', this.abort.signal);
    this.record(e, 'restore', `started again, ready in ${((Date.now() - since) / 1000).toFixed(2)}s`);
  }

  private record(entry: ServiceFaultEntry, action: 'apply' | 'restore', label: string): void {
    const at = Date.now();
    const e: TimelineEvent = {
      at,
      ...(this.loadStart === undefined ? {} : { offsetMs: at - this.loadStart }),
      proxy: entry.service,
      kind: 'service',
      mix: action === 'apply' ? entry.fault : '',
      fixture: entry.name,
      action,
      source: 'chaos',
      label,
    };
    this.events.push(e);
    this.onEvent(e);
  }
}
