/**
 * A connection's behavior hooks: which toxics act on it, and the behaviors' hooks run under a
 * deadline and isolated (one that throws or never settles fails its own exchange, logged), with
 * the contexts they are given. A layer of the connection's class chain (connection-io.ts), under
 * the fault actions that turn what the hooks return into plans (connection-faults.ts).
 */
import type { MixEntry } from './mix.js';
import type { Action, Behavior, ConnectionContext, ExchangeContext, HookResult } from './plugin.js';
import { ConnectionHookContext, ExchangeHookContext, type Refusals } from './hook-context.js';
import type { Segment } from './protocol.js';
import { ConnectionFraming } from './connection-framing.js';
import { copyOf } from './frames.js';
import type { Exchange, Outcome } from './exchange.js';
import { messageOf } from './proxy-errors.js';

const HOOK_TIMEOUT_MS = 5000;

export abstract class ConnectionHooks extends ConnectionFraming implements Refusals {
  /** Whether each toxic acts on this connection (its toxicity, drawn once per toxic version). */
  private toxicDraws = new WeakMap<MixEntry, boolean>();
  /** "address:port" of the client, read once (each read is a call into the socket). */
  private clientAddress?: string;

  /** Whether the server refuses a request with an error (connection-faults.ts): what a hook's context asks. */
  abstract refused(kind: string | undefined, label: string | undefined, request: Buffer, ordinal?: number): boolean;

  protected exchangeHook(e: MixEntry, ex: Exchange, seg: Segment): Outcome | Promise<Outcome> {
    if (e.fixed !== undefined) return e.fixed;
    try {
      return this.settle(e, e.behavior.onExchange!(this.exchangeContext(e, ex, seg), e.options));
    } catch (err) {
      return this.hookFailed(e, err);
    }
  }

  /** A hook's actions, or 'failed' when it threw: isolated to this exchange, which gets an error. */
  protected callHook(e: MixEntry, call: () => HookResult | Promise<HookResult>): Outcome | Promise<Outcome> {
    try {
      return this.settle(e, call());
    } catch (err) {
      return this.hookFailed(e, err);
    }
  }

  private settle(e: MixEntry, r: HookResult | Promise<HookResult>): Outcome | Promise<Outcome> {
    if (!(r instanceof Promise)) return toActions(r);
    // A hook that never settles would stall its exchange (and the pipeline behind it) forever.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hook did not settle within ${HOOK_TIMEOUT_MS} ms`)), HOOK_TIMEOUT_MS);
    });
    return Promise.race([r, deadline]).then(toActions, (err) => this.hookFailed(e, err)).finally(() => clearTimeout(timer));
  }

  private hookFailed(e: MixEntry, err: unknown): Outcome {
    this.pluginFailed(e.behavior, err);
    return 'failed';
  }

  /** Toxics in force on this connection: toxicity is drawn per connection (as Toxiproxy does) and again when a toxic changes. */
  protected activeToxics(): readonly MixEntry[] {
    const toxics = this.core.toxics;
    if (toxics.length === 0) return toxics;
    return toxics.filter((t) => {
      let d = this.toxicDraws.get(t);
      if (d === undefined) {
        d = this.core.random() * 100 < t.percent;
        this.toxicDraws.set(t, d);
      }
      return d;
    });
  }

  private pluginFailed(b: Behavior, err: unknown): void {
    this.core.log('error', `behavior "${b.name}" failed on connection ${this.id}: ${messageOf(err)}`);
  }

  protected connectionContext(entry: MixEntry): ConnectionContext {
    return new ConnectionHookContext(this.core.info, this.id, this.clientName(), this.core.random, entry.state);
  }

  private clientName(): string {
    return (this.clientAddress ??= `${this.client.remoteAddress}:${this.client.remotePort}`);
  }

  private exchangeContext(entry: MixEntry, ex: Exchange, seg: Segment): ExchangeContext {
    const c = new ExchangeHookContext(this.core.info, this.id, this.clientName(), this.core.random, entry.state);
    c.exchangeId = ex.id;
    c.label = seg.label;
    c.asked = this;
    c.ordinal = ex.ordinal;
    // A chunk read into reused memory is read into again once its handler is done: the hook may
    // keep what it is given, so it gets its own copy of the request (a few bytes, mostly), and
    // the chunk stays reusable (connection-requests.ts).
    c.request = this.clientReads === undefined ? seg.data : copyOf(seg.data, 0, seg.data.length);
    return c;
  }
}

function toActions(r: HookResult): Action[] {
  if (!r) return [];
  return Array.isArray(r) ? r : [r];
}
