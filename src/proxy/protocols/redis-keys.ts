/**
 * The keys a redis request names, as a cluster node reads them (cluster.c getNodeByQuery): how
 * many at most (keysAtMost), and how they lie against the first one (Spread): a request's
 * (keysSpread), or a MULTI block's (BlockKeys), whose EXEC the node reads as one request naming
 * the keys of all its commands. A key named twice is one key; keys of several slots get CROSSSLOT
 * in any state, as the node compares each key with the first before it looks at its state.
 */
import { COMMAND_FLAGS, COMMAND_KEY_RANGE, CONTAINERS } from './redis-commands.js';
import { EVALS } from './redis-scripts.js';
import { keySlot } from './redis-slots.js';
import { EMPTY, STAR, wordSpans } from './redis-resp.js';

/** The commands that run a script or a function, whose keys their numkeys says. */
export const SCRIPTS = new Set([...EVALS, 'FCALL', 'FCALL_RO']);

/** The words an inline request's line is split into, counted up to this many: no command's arity is over 8. */
export const ARGC_COUNTED = 16;

/** How the keys of a request, or of a block's commands, lie; ordered, each one more than the one before. */
export const enum Spread {
  None,
  /** One key, named once or more (MGET k k). */
  One,
  /** Several keys of one slot, or keys the proxy cannot read (taken for several). */
  Slot,
  /** Keys of several slots: CROSSSLOT, whatever the cluster's state. */
  Slots,
}

/**
 * How many keys a request of command `name` (or `CONTAINER|SUB`) of `argc` words names at most, as
 * a cluster node counts them (getNodeByQuery): none for a command without keys; a script's, by
 * `numkeys`, its third word (EVAL 'return 1' 0 names none); one for a command that cannot name
 * several; as many as its key specs place in `argc` words when they say where (COMMAND_KEY_RANGE:
 * MSET k v names one); else all of its arguments, so one of a single argument never names several.
 * Infinity: not known (a container's, unread words). Some may be the same key: keysSpread.
 */
export function keysAtMost(name: string, argc: number, numkeys: string | undefined): number {
  const flags = COMMAND_FLAGS[name];
  if (CONTAINERS.has(name)) return Infinity;
  if (flags === undefined || !flags.includes('k')) return 0;
  if (SCRIPTS.has(name)) return numkeys !== undefined && /^\d{1,9}$/.test(numkeys) ? Number(numkeys) : Infinity;
  if (!flags.includes('m')) return 1;
  if (argc < 0) return Infinity;
  const range = COMMAND_KEY_RANGE[name];
  if (range === undefined) return argc - (name.includes('|') ? 2 : 1);
  const last = range[1] < 0 ? argc + range[1] : range[1];
  return last < range[0] ? 0 : Math.floor((last - range[0]) / range[2]) + 1;
}

/** readKeys' answer, reused: the request's words up to its last key, and its keys' first word, last word and step. */
const WORDS: number[] = [];
const RANGE = [0, 0, 0];

/**
 * Read the words of a request of command `name`, `argc` words and `keys` keys (keysAtMost's, one
 * at least), starting at `from` in `buf`, up to its last key, where its key specs place them
 * (COMMAND_KEY_RANGE, else its first argument; a script's after its numkeys): into WORDS, and
 * RANGE. False when they are not all in `buf`, when its command's keys are found by reading its
 * arguments (ZUNIONSTORE, SORT: not read), or an inline one's words were not all counted.
 */
function readKeys(name: string, buf: Buffer, from: number, argc: number, keys: number): boolean {
  if (keys === Infinity || (buf[from] !== STAR && argc >= ARGC_COUNTED)) return false;
  let first = 1;
  let last = 1;
  let step = 1;
  if (SCRIPTS.has(name)) {
    first = 3;
    last = 2 + keys;
  } else {
    const range = COMMAND_KEY_RANGE[name];
    if (range !== undefined) {
      first = range[0];
      last = range[1] < 0 ? argc + range[1] : range[1];
      step = range[2];
    } else if (COMMAND_FLAGS[name]?.includes('m')) return false;
  }
  if (wordSpans(buf, last + 1, WORDS, from) < 2 * last + 2) return false;
  RANGE[0] = first;
  RANGE[1] = last;
  RANGE[2] = step;
  return true;
}

/** The key a cluster node compares a request's others with, and its slot once needed (-1 until then). */
class FirstKey {
  buf: Buffer = EMPTY;
  start = 0;
  end = 0;
  private slot = -1;

  is(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.slot = -1;
  }

  /** How the keys RANGE places in WORDS of `buf`, from word `i`, lie against it (it taken as named). */
  against(buf: Buffer, i: number): Spread {
    const last = RANGE[1];
    const step = RANGE[2];
    let spread = Spread.One;
    for (; i <= last; i += step) {
      const s = WORDS[2 * i];
      const e = WORDS[2 * i + 1];
      if (buf.compare(this.buf, this.start, this.end, s, e) === 0) continue;
      if (this.slot < 0) this.slot = keySlot(this.buf, this.start, this.end);
      if (keySlot(buf, s, e) !== this.slot) return Spread.Slots;
      spread = Spread.Slot;
    }
    return spread;
  }
}

const REQUEST_FIRST = new FirstKey();

/**
 * How the `keys` keys (keysAtMost's, two at least) that request `request` (its first segment) of
 * command `name` and `argc` words names lie, as a cluster node reads them: One (MGET k k, EVAL of
 * 2 keys k k: no node refuses it TRYAGAIN), several of one Slot, or of several Slots. Read on the
 * path of an injected error only; Slot when they cannot be read (readKeys).
 */
export function keysSpread(name: string, request: Buffer, argc: number, keys: number): Spread {
  if (!readKeys(name, request, 0, argc, keys)) return Spread.Slot;
  const first = RANGE[0];
  REQUEST_FIRST.is(request, WORDS[2 * first], WORDS[2 * first + 1]);
  return REQUEST_FIRST.against(request, first + RANGE[2]);
}

/**
 * The keys of the commands queued in the MULTI block being framed, read as they are framed (the
 * queued requests' bytes are gone when their EXEC comes): each command's are compared with the
 * block's first key, kept (a copy, in a buffer kept for the next blocks). A block's first command
 * whose keys cannot be read makes it Slot, not known; the first key read is then the one the
 * others are compared with (keys of two slots among those read are CROSSSLOT whichever is first).
 */
export class BlockKeys {
  private readonly first = new FirstKey();
  private store: Buffer = EMPTY;
  private stored = false;

  /** A block opens: its first key is to come. */
  opened(): void {
    this.stored = false;
  }

  /**
   * How the keys of a queued request of command `name` (as framed: a container's are not read),
   * `argc` words (-1: not known) and `numkeys` (a script's), starting at `from` in `buf`, lie
   * against the block's first key: None, One (that key, or the first), Slot, Slots.
   */
  note(name: string, buf: Buffer, from: number, argc: number, numkeys: string | undefined): Spread {
    const keys = keysAtMost(name, argc, numkeys);
    if (keys === 0) return Spread.None;
    if (!readKeys(name, buf, from, argc, keys)) return Spread.Slot;
    let i = RANGE[0];
    if (!this.stored) {
      const len = WORDS[2 * i + 1] - WORDS[2 * i];
      if (this.store.length < len) this.store = Buffer.allocUnsafe(Math.max(len, 64));
      buf.copy(this.store, 0, WORDS[2 * i], WORDS[2 * i + 1]);
      this.first.is(this.store, 0, len);
      this.stored = true;
      i += RANGE[2];
    }
    return this.first.against(buf, i);
  }
}
