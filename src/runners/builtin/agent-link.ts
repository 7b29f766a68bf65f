/**
 * The engine's side of one running agent's control channel (agent-protocol.ts): waits for the
 * agent to be loaded, measures the round trip and the clock offset with a few pings once it is,
 * and tells it when to start on its own clock. The offset then places the node's sample times on
 * the engine's timeline, where the proxies' faults are.
 */
import { clockOffset, commandLine, type AgentMessage, type ClockOffset, type PingSample } from './agent-protocol.js';
import { now } from './sample-clock.js';

/** Pings per node: the shortest round trip of these is the estimate. */
const PINGS = 5;

export class AgentLink {
  private write?: (text: string) => void;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private isReady = false;
  private endedWith?: Error;
  private pongs = new Map<number, { sent: number; resolve: (s: PingSample) => void }>();
  private nextPing = 0;
  clock?: ClockOffset;

  /** The agent's stdin, once it runs. */
  attach(write: (text: string) => void): void {
    this.write = write;
  }

  /** A marked line from the agent; true when it was a control message (handled here). */
  message(m: AgentMessage): boolean {
    if (m.type === 'ready') {
      this.isReady = true;
      for (const w of this.readyWaiters.splice(0)) w.resolve();
      return true;
    }
    if (m.type === 'pong') {
      const p = this.pongs.get(m.id);
      this.pongs.delete(m.id);
      p?.resolve({ sent: p.sent, at: m.at, received: now() });
      return true;
    }
    return false;
  }

  /** The agent ended (or its connection did): whoever waits for it is told why. */
  ended(why: Error): void {
    this.endedWith = why;
    for (const w of this.readyWaiters.splice(0)) w.reject(why);
    this.pongs.clear();
  }

  /** Resolves once the agent is loaded and listening; rejects if it ends first or takes too long. */
  ready(timeoutMs: number): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.endedWith) return Promise.reject(this.endedWith);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the builtin agent was not ready after ${timeoutMs / 1000}s`)), timeoutMs);
      this.readyWaiters.push({ resolve: () => (clearTimeout(timer), resolve()), reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  /** Ping the ready agent a few times, one at a time: its clock offset and round trip. */
  async sync(timeoutMs: number): Promise<ClockOffset> {
    const samples: PingSample[] = [];
    for (let i = 0; i < PINGS; i++) {
      const id = this.nextPing++;
      const sample = await new Promise<PingSample | undefined>((resolve) => {
        const timer = setTimeout(() => (this.pongs.delete(id), resolve(undefined)), timeoutMs);
        this.pongs.set(id, { sent: now(), resolve: (s) => (clearTimeout(timer), resolve(s)) });
        this.write?.(commandLine({ type: 'ping', id }));
      });
      if (this.endedWith) throw this.endedWith;
      if (sample) samples.push(sample);
    }
    const clock = clockOffset(samples);
    if (!clock) throw new Error(`the builtin agent answered no ping in ${timeoutMs / 1000}s`);
    return (this.clock = clock);
  }

  /** Start the bench at `at` on the engine's clock (the agent is told the same instant on its own). */
  start(at: number): void {
    this.write?.(commandLine({ type: 'start', at: at + (this.clock?.offsetMs ?? 0) }));
  }

  /** An agent time on the engine's timeline. */
  toEngine(agentMs: number): number {
    return agentMs - (this.clock?.offsetMs ?? 0);
  }
}
