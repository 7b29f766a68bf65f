/**
 * Toxics: Toxiproxy's model of faults that all apply at once (a chain), each with a stream and a
 * toxicity. They stack on top of the proxy's mix. Every behavior can be a toxic; Toxiproxy's
 * attribute names are the behaviors' option names.
 */
import { mixEntry, type BehaviorRegistry, type MixEntry } from './mix.js';
import type { ProtocolInfo, Stream } from './plugin.js';
import { messageOf } from './proxy-errors.js';
import { describeIssue, valueAt } from '../text/zod-words.js';

export interface ToxicSpec {
  name?: string;
  type: string;
  stream?: string;
  toxicity?: number;
  attributes?: Record<string, unknown>;
}

export interface Toxic {
  name: string;
  type: string;
  stream: Stream;
  toxicity: number;
  attributes: Record<string, unknown>;
  /** What the connection runs: the behavior with the attributes as options, toxicity as percent. */
  entry: MixEntry;
}

/** A bad toxic, with the HTTP status Toxiproxy would answer. */
export class ToxicError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'ToxicError';
  }
}

/** `protocol`: the proxy's, which the attributes are checked against (Behavior.check). */
export function compileToxic(spec: ToxicSpec, registry: BehaviorRegistry, protocol?: ProtocolInfo): Toxic {
  const behavior = registry.get(spec.type);
  if (!behavior) throw new ToxicError('invalid toxic type');
  const stream = (spec.stream ?? 'downstream').toLowerCase();
  if (stream !== 'upstream' && stream !== 'downstream') {
    throw new ToxicError('stream was invalid, can be either upstream or downstream');
  }
  const toxicity = spec.toxicity ?? 1;
  if (typeof toxicity !== 'number' || !Number.isFinite(toxicity) || toxicity < 0 || toxicity > 1) {
    throw new ToxicError('toxicity must be a number from 0 to 1');
  }
  const shape = behavior.options.shape as Record<string, unknown>;
  const attributes = spec.attributes ?? {};
  // Toxiproxy ignores attributes it does not know; so do we, for its clients' sake.
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attributes)) if (k in shape) options[k] = v;
  if ('stream' in shape) options.stream = stream;
  if ('toxicity' in shape) options.toxicity = 1;
  const parsed = behavior.options.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ToxicError(`bad request body: attribute ${issue.path.join('.') || '?'}: ${describeIssue(issue, valueAt(options, issue.path))}`);
  }
  const known = Object.fromEntries(Object.entries(parsed.data as Record<string, unknown>).filter(([k]) => k !== 'stream' && k !== 'toxicity'));
  let entry: MixEntry;
  try {
    const wrong = protocol && behavior.check?.(parsed.data, protocol);
    if (wrong) throw new ToxicError(`bad request body: attribute ${wrong.option}: ${wrong.problem}`);
    entry = mixEntry(behavior, toxicity * 100, parsed.data as Record<string, unknown>, new Map());
  } catch (err) {
    if (err instanceof ToxicError) throw err;
    throw new ToxicError(`toxic type ${spec.type}: ${messageOf(err)}`);
  }
  return {
    name: spec.name || `${spec.type}_${stream}`,
    type: spec.type,
    stream,
    toxicity,
    attributes: known,
    entry,
  };
}

/** Toxiproxy's JSON shape of a toxic. */
export function toxicJson(t: Toxic): { name: string; type: string; stream: Stream; toxicity: number; attributes: Record<string, unknown> } {
  return { attributes: t.attributes, name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity };
}

/**
 * A proxy's toxics in chain order. Every change makes a new list rather than changing the old
 * one, so that a connection applies one whole chain to an exchange, never half of a change.
 */
export class ToxicChain {
  private list: readonly Toxic[] = [];

  constructor(private readonly registry: BehaviorRegistry, private readonly protocol?: ProtocolInfo) {}

  get toxics(): readonly Toxic[] {
    return this.list;
  }

  /** What connections apply: each toxic's behavior entry. */
  entries(): readonly MixEntry[] {
    return this.list.map((t) => t.entry);
  }

  add(spec: ToxicSpec): Toxic {
    const toxic = compileToxic(spec, this.registry, this.protocol);
    if (this.list.some((t) => t.name === toxic.name)) throw new ToxicError('toxic already exists', 409);
    this.list = [...this.list, toxic];
    return toxic;
  }

  /** Merge `attributes` into the toxic's and replace `toxicity` when given (Toxiproxy's update). */
  update(name: string, patch: { attributes?: Record<string, unknown>; toxicity?: number }): Toxic {
    const old = this.find(name);
    const toxic = compileToxic({
      name,
      type: old.type,
      stream: old.stream,
      toxicity: patch.toxicity ?? old.toxicity,
      attributes: { ...old.attributes, ...(patch.attributes ?? {}) },
    }, this.registry, this.protocol);
    this.list = this.list.map((t) => (t === old ? toxic : t));
    return toxic;
  }

  /** Take the toxic out of the chain; returns it. */
  remove(name: string): Toxic {
    const gone = this.find(name);
    this.list = this.list.filter((t) => t !== gone);
    return gone;
  }

  /** `type` (with `@toxicity` below 1) of each toxic, for one-line descriptions. */
  describe(): string[] {
    return this.list.map((t) => `${t.type}${t.toxicity < 1 ? `@${t.toxicity}` : ''}`);
  }

  private find(name: string): Toxic {
    const t = this.list.find((x) => x.name === name);
    if (!t) throw new ToxicError('toxic not found', 404);
    return t;
  }
}
