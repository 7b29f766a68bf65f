/**
 * The behavior plugin API. Every built-in behavior in `behaviors/` is written against this file
 * only; user plugins (`plugins:` in config) use the same.
 *
 * A behavior is drawn from the proxy's mix for each exchange (request -> reply), or once per
 * connection when the mix is pinned. Its hooks return actions; the engine carries them out.
 */
import { z } from 'zod';
import { MAX_TIMER_MS } from './timer-limit.js';
import { didYouMean } from '../text/closest.js';
import { PROTOCOL_NAMES, type ProtocolInfo } from './protocol.js';
import { hasErrorKind, protocols } from './protocols/index.js';
import type { Random } from './random.js';

export { z, MAX_TIMER_MS };
export type { ProtocolInfo };

/**
 * A duration option, `unitMs` milliseconds per unit (1: ms, 1000: seconds, 0.001: µs), bounded
 * by what a timer can wait so that an over-long value is a clear error, not a busy loop.
 */
export function durationOption(unitMs = 1) {
  const max = Math.floor(MAX_TIMER_MS / unitMs);
  return z.number().min(0).max(max, { error: `at most ${max} (${MAX_TIMER_MS} ms, about 24.8 days: the longest a timer can wait)` });
}

/**
 * An error kind option (`error`'s `kind`): text, or a number as YAML reads `kind: 503`, taken as
 * its text. Whether the proxy's protocol has the kind is for `check` to say (checkErrorKind).
 */
export function errorKindOption() {
  return z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string()).optional();
}

/** Which way the bytes flow: `upstream` client -> server, `downstream` server -> client. */
export type Stream = 'upstream' | 'downstream';

export type Action =
  /** Send the request on and the reply back, untouched. */
  | { type: 'forward' }
  /** Hold the request (upstream) or the reply (downstream) for `ms` before it goes on. */
  | { type: 'delay'; ms: number; stream: Stream }
  /**
   * Answer with the protocol's own error instead of the server's reply. `message` replaces the
   * kind's canned text (HTTP body, Redis/memcache/SMTP error text, MySQL/Postgres message, raw
   * TCP bytes); the framing stays the protocol's, so clients parse it as a real error.
   */
  | { type: 'error'; kind?: string; message?: string }
  /** Close the client connection at once (FIN); the request never reaches the server. */
  | { type: 'close' }
  /** Reset the client connection (RST), after `afterMs`; the request never reaches the server. */
  | { type: 'reset'; afterMs?: number }
  /**
   * Drop every byte of this stream from now on. After `closeAfterMs` (0 = never) the connection
   * is closed. Dropping upstream means the server never sees the request: the client hangs.
   */
  | { type: 'drop'; stream: Stream; closeAfterMs?: number }
  /** Forward the request, then close both sides before the reply arrives. */
  | { type: 'abort' }
  /** Pace this message's bytes at `bytesPerSecond`, on `link` when connections share one. */
  | { type: 'throttle'; bytesPerSecond: number; stream: Stream; link?: SharedLink }
  /** Cut this message into pieces of about `averageSize` (± `sizeVariation`) bytes, `delayMs` apart. */
  | { type: 'slice'; averageSize: number; sizeVariation: number; delayMs: number; stream: Stream }
  /** Splice `bytes` random bytes into the middle of this message. */
  | { type: 'corrupt'; bytes: number; stream: Stream }
  /** From now on, let at most `bytes` more bytes through on this stream, then close the connection. */
  | { type: 'limit'; bytes: number; stream: Stream }
  /** From now on, wait `ms` before passing a close from one side on to the other. */
  | { type: 'slowClose'; ms: number };

/**
 * A link that the connections throttled on it share, as they share a saturated network link:
 * its rate is their total, handed out in turn. Keep one in a behavior's state.
 */
export interface SharedLink {
  /** When the link has sent what it was given so far (ms, on the proxy's clock). */
  busyUntil: number;
}

/** Builders, so plugins read like sentences: `return act.delay(200)`. */
export const act = {
  forward: (): Action => ({ type: 'forward' }),
  delay: (ms: number, stream: Stream = 'upstream'): Action => ({ type: 'delay', ms, stream }),
  error: (kind?: string, message?: string): Action => (message === undefined ? { type: 'error', kind } : { type: 'error', kind, message }),
  close: (): Action => ({ type: 'close' }),
  reset: (afterMs = 0): Action => ({ type: 'reset', afterMs }),
  drop: (stream: Stream, closeAfterMs = 0): Action => ({ type: 'drop', stream, closeAfterMs }),
  hang: (): Action => ({ type: 'drop', stream: 'upstream', closeAfterMs: 0 }),
  abort: (): Action => ({ type: 'abort' }),
  throttle: (bytesPerSecond: number, stream: Stream = 'downstream', link?: SharedLink): Action =>
    (link ? { type: 'throttle', bytesPerSecond, stream, link } : { type: 'throttle', bytesPerSecond, stream }),
  slice: (averageSize: number, sizeVariation: number, delayMs: number, stream: Stream = 'downstream'): Action =>
    ({ type: 'slice', averageSize, sizeVariation, delayMs, stream }),
  corrupt: (bytes: number, stream: Stream = 'downstream'): Action => ({ type: 'corrupt', bytes, stream }),
  limit: (bytes: number, stream: Stream = 'downstream'): Action => ({ type: 'limit', bytes, stream }),
  slowClose: (ms: number): Action => ({ type: 'slowClose', ms }),
};

/** What a hook sees of the proxy it runs in. */
export interface ProxyInfo extends ProtocolInfo {
  name: string;
}

export interface ConnectionContext {
  proxy: ProxyInfo;
  /** Per-proxy connection number, from 1. */
  connectionId: number;
  /** Remote address of the client. */
  client: string;
  /** This proxy's random source (seeded when the proxy has a seed). */
  random: Random;
  /**
   * State that lives as long as this behavior's options on this proxy (e.g. Vaurien's warmup
   * counter: per proxy, not per process). It starts empty again when the mix changes options.
   */
  state: Map<string, unknown>;
}

export interface ExchangeContext extends ConnectionContext {
  /** Per-connection exchange number, from 1. */
  exchangeId: number;
  /** Short name of the request, when the protocol knows it ("GET /", "SET", "Query"). */
  label?: string;
  /** The first bytes of the request (at least its head, when the protocol has one); the hook may keep them. */
  request: Buffer;
  /**
   * Whether a real server in the state the error `kind` stands for (the protocol's default kind
   * when none) refuses this request with it. An error a server would not give (a read to a
   * read-only redis replica) lets the request pass untouched, so a behavior that counts the
   * errors it gives (fail the first N) asks before it counts one.
   */
  refuses(kind?: string): boolean;
}

export type HookResult = Action | Action[] | void | undefined;

export interface Behavior<O extends z.ZodObject = z.ZodObject> {
  name: string;
  /** One line, shown by `--help`, the API and the TUI. */
  description: string;
  /** Options with their defaults; the engine validates user values against it. */
  options: O;
  /** When the connection is accepted (the behavior was drawn or pinned for it). */
  onConnection?(ctx: ConnectionContext, options: z.infer<O>): HookResult | Promise<HookResult>;
  /** For each exchange the behavior is drawn for. */
  onExchange?(ctx: ExchangeContext, options: z.infer<O>): HookResult | Promise<HookResult>;
  /**
   * What onExchange returns, when the options alone decide it (no state, no draw, no look at the
   * request), or nothing when they do not. Asked once per mix: the proxy then makes no context
   * and calls no hook for each exchange (a third of what an injected error cost).
   */
  fixed?(options: z.infer<O>): HookResult;
  /**
   * What is wrong with options the schema accepts but the proxy's protocol cannot honour (an
   * error kind it has no such error for), or nothing. Asked wherever a mix or toxic is checked
   * for a proxy (config files, command line, control APIs), so that the mistake is an error
   * there rather than a silent fallback each time the behavior acts.
   */
  check?(options: z.infer<O>, protocol: ProtocolInfo): OptionProblem | undefined;
}

/** An option that cannot work on the proxy's protocol (Behavior.check): which, and why. */
export interface OptionProblem {
  option: string;
  problem: string;
}

/** Identity function that gives a plugin its types: `export default defineBehavior({...})`. */
export function defineBehavior<O extends z.ZodObject>(behavior: Behavior<O>): Behavior<O> {
  return behavior;
}

/** Toxiproxy's `toxicity`: the chance (0..1) that a drawn behavior acts at all. */
export function toxic(ctx: ConnectionContext, toxicity: number, action: HookResult): HookResult {
  return ctx.random() < toxicity ? action : undefined;
}

/**
 * Behavior.check of an error kind option: the kinds the protocol has, when it has not this one
 * (with the protocol it belongs to, if another: a proxy left at the default tcp, say).
 */
export function checkErrorKind(kind: string | undefined, p: ProtocolInfo, option = 'kind'): OptionProblem | undefined {
  const more = protocols[p.protocol].moreErrorKinds;
  if (kind === undefined || hasErrorKind(protocols[p.protocol], kind)) return undefined;
  const owners = PROTOCOL_NAMES.filter((n) => n !== p.protocol && hasErrorKind(protocols[n], kind));
  const owned = owners.length ? `, ${owners.join(' and ')} ${owners.length > 1 ? 'have' : 'has'}: is the proxy's protocol right?` : '';
  const known = p.protocol === 'tcp'
    ? 'raw tcp has no protocol errors: its one kind, "random", sends 1000 random bytes; leave kind out'
    : `${p.protocol} kinds: ${p.errorKinds.join(', ')}${more ? `, ${more.text}` : ''}`;
  // A number one digit off is another status, not a typo of it (404 is no misspelt 504).
  const near = /^\d+$/.test(kind) ? '' : didYouMean(kind, p.errorKinds);
  return { option, problem: `${p.protocol} has no error kind "${kind}"${owned}${near} (${known})` };
}
