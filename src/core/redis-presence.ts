/**
 * Team mode: what each process runs (its nodes, its proxies and their mixes), one entry per
 * process in a Redis hash, read by every other process to show the team's nodes and proxies.
 * An entry is as current as its writer's heartbeat key (redis-queue.ts).
 */
import type { Redis } from 'ioredis';
import type { Presence } from './queue.js';
import { parseOwnerKey, type Keys } from './redis-client.js';

/** An unchanged presence is written again this often (see publish). */
const PRESENCE_REFRESH_MS = 15_000;

export class TeamPresence {
  /** The other processes' presence, as last read. */
  remote: Presence = { nodes: [], proxies: [] };
  /** The presence last written. */
  private published?: string;
  private publishedAt = 0;

  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly me: string,
  ) {}

  /**
   * Written only when it changed: with `appendfsync always` every write is an fsync that
   * everyone's enqueue and claims wait behind, and 30 workers rewriting the same presence every
   * second cost more than the jobs. Whether it is still current is its writer's heartbeat key.
   */
  publish(p: Presence): void {
    const text = JSON.stringify(p);
    // Now and then anyway: a reader that judged us gone (we were starved past the TTL) dropped it.
    if (text === this.published && Date.now() - this.publishedAt < PRESENCE_REFRESH_MS) return;
    this.published = text;
    this.publishedAt = Date.now();
    void this.cmd.hset(this.keys.presence, this.me, text).catch(() => {
      this.published = undefined;
    });
  }

  /** Redis may have restarted without our entry: the next publish writes it whatever it holds. */
  forget(): void {
    this.published = undefined;
  }

  /**
   * Read the other processes' presence; a stale entry (its process died: no heartbeat) is
   * dropped. Returns whether it changed.
   */
  async fetch(): Promise<boolean> {
    const all = Object.entries(await this.cmd.hgetall(this.keys.presence))
      .filter(([who]) => who !== this.me)
      .sort(([a], [b]) => a.localeCompare(b));
    const beats = all.length ? await this.cmd.mget(all.map(([who]) => this.keys.alive(who))) : [];
    const fresh: Required<Presence> = { nodes: [], proxies: [], control: [] };
    for (const [i, [who, value]] of all.entries()) {
      try {
        const p = JSON.parse(value) as Presence;
        if (beats[i] === null) throw new Error('stale');
        // A node shared by name between workers is listed once.
        fresh.nodes.push(...p.nodes.filter((n) => !fresh.nodes.some((m) => m.name === n.name)));
        fresh.proxies.push(...p.proxies);
        fresh.control.push(...p.proxies.map((_, j) => ({ ...p.control?.[j], owner: parseOwnerKey(who) })));
      } catch {
        void this.cmd.hdel(this.keys.presence, who).catch(() => {});
      }
    }
    // The same object while nothing changed: views parse its mixes once.
    if (JSON.stringify(fresh) === JSON.stringify(this.remote)) return false;
    this.remote = fresh;
    return true;
  }
}
