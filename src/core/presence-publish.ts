/**
 * This process's presence on the state dir (presence-file.ts) while jobs it runs have proxies:
 * their counters each second, so that a control center beside it shows them, and where their
 * mixes are set. Nothing is written while no proxy runs; the file goes when the last one stops.
 */
import { randomBytes } from 'node:crypto';
import { specOfMix } from '../proxy/mix.js';
import type { ProxyStats } from '../proxy/proxy.js';
import { fsReason } from '../fs/errors.js';
import type { LiveJob } from './engine-types.js';
import { currentOwner } from './owner.js';
import { removePresence, writePresence, type ProxyControl } from './presence-file.js';

const EVERY_MS = 1000;

export class PresencePublisher {
  /** What the jobs' control APIs ask of a caller (see presence-file.ts on who can read it). */
  readonly token = randomBytes(16).toString('hex');
  private timer?: NodeJS.Timeout;
  private written = false;
  /** The write in progress: one at a time, and stop() waits for it. */
  private writing: Promise<void> = Promise.resolve();
  private failed = false;

  constructor(
    private readonly root: string,
    private readonly live: ReadonlyMap<string, LiveJob>,
    private readonly warn: (line: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.publish(), EVERY_MS);
    this.timer.unref();
  }

  /** Now rather than at the next second (a job's proxies started or stopped). */
  publish(): void {
    // A fault of the presence must not end the jobs (a rejection left alone ends the process).
    this.writing = this.writing.then(() => this.write()).catch((e: unknown) => this.warn(`this process's presence: ${String(e)}`));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    if (this.written) await removePresence(this.root, currentOwner().pid).catch(() => {});
    this.written = false;
  }

  private async write(): Promise<void> {
    const proxies: ProxyStats[] = [];
    const control: ProxyControl[] = [];
    for (const [job, l] of this.live) {
      if (!l.sharedApi || !l.proxies) continue;
      const schedules = l.chaos?.view() ?? [];
      for (const p of l.proxies.proxies.values()) {
        proxies.push(p.stats());
        control.push({ job, api: l.sharedApi, mix: specOfMix(p.mix), schedule: schedules.find((s) => s.proxy === p.name) });
      }
    }
    try {
      if (proxies.length) await writePresence(this.root, { owner: currentOwner(), at: Date.now(), token: this.token, proxies, control });
      else if (this.written) await removePresence(this.root, currentOwner().pid);
      this.written = proxies.length > 0;
      this.failed = false;
    } catch (e) {
      // Said once until a write goes through: it costs the jobs nothing, only the views beside.
      if (!this.failed) this.warn(`cannot write this process's presence in ${this.root} (${fsReason(e) ?? String(e)}): other control centers on the state dir do not see its proxies until it can`);
      this.failed = true;
    }
  }
}
