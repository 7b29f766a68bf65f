/**
 * A redis connection's MULTI blocks, for an injected error on a command queued inside one. The
 * proxy answers the error and withholds the command, as a real redis refuses a command while
 * queueing; but a real redis then answers the block's EXEC with EXECABORT and runs none of it,
 * where the server behind the proxy, which never saw the refused command, would run the others,
 * and the client (ioredis) map their results onto the wrong commands. Such an EXEC is sent to
 * the server as DISCARD, whose +OK is replaced by EXECABORT (FramerSession.insteadOf). An error
 * on the MULTI itself (which still reaches the server: redis.ts) aborts its block the same way:
 * the client was told the transaction did not start, none of it may run.
 *
 * An error drawn for the EXEC of a block goes the same way (Protocol.standIn): a real redis that
 * refuses EXEC itself (OOM, READONLY, LOADING ... found as EXEC comes) discards the block and
 * says so, '-EXECABORT Transaction discarded because of: OOM ...' (redis-errors.ts); forwarded,
 * the block would run while the client is told it failed, and run twice if it tries again.
 * processCommand refuses EXEC before EXEC looks at its block: the EXEC of a block that had an
 * injected error says 'because of: <error>' when the drawn kind refuses the EXEC itself (BUSY,
 * NOAUTH: redis-refusals.ts' refusesExec) or by the commands the server's block holds (a
 * read-only replica, a block with a write), and 'because of previous errors' otherwise, as redis
 * 7.0 in each state (an EXEC outside any block too: 'because of: NOAUTH ...'). The block holds
 * the commands queued before the first one refused as it was queued (an injected error, or one
 * redis refuses itself: unknown, the wrong arity): after it, redis answers QUEUED and keeps none.
 *
 * Blocks are noted as their requests are framed, which runs ahead of the requests' turns (a
 * pipelined chunk is framed whole); injected errors and EXEC's turn come in request order.
 */
import type { ErrorReply } from '../protocol.js';
import { BlockKeys, Spread } from './redis-keys.js';

const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n', 'latin1');

/** What goes in place of the EXEC of a block that had an injected error. */
const ABORTED_EXEC = Object.freeze({
  standIn: DISCARD,
  reply: Object.freeze({ bytes: Buffer.from('-EXECABORT Transaction discarded because of previous errors.\r\n', 'latin1'), close: false }),
});

/** How many different commands a block's labels keep (queue). */
const MAX_QUEUED_LABELS = 64;

/** The commands that open or end a block: the others need no look. */
export const TRANSACTION_COMMANDS = new Set(['MULTI', 'EXEC', 'DISCARD', 'RESET']);

interface Block {
  /** The ordinals of its MULTI and of the request that ends it (Infinity while none is framed). */
  multi: number;
  end: number;
  /** Ended by EXEC (not DISCARD or RESET). */
  exec: boolean;
  /**
   * The ordinal of its MULTI or command that an injected error answered first (Infinity: none).
   * A real redis queues nothing after a command it refused (it answers QUEUED and keeps none).
   */
  failedAt: number;
  /** The ordinal of its first command a redis 7.0 refuses itself as it queues it (unknown, the wrong arity): likewise. */
  refusedAt: number;
  /** The labels of the commands queued in it, each once, which decide whether a real redis refuses its EXEC. */
  queued: string[];
  /** The ordinal each of those labels was first queued at: it is in the server's block if that was before failedAt. */
  firstAt: number[];
  /**
   * The ordinals of its first command naming a key, of its first naming another key of the first
   * one's slot (or keys not read), and of its first naming one of another slot (BlockKeys).
   */
  keyedAt: number;
  severalKeysAt: number;
  crossSlotAt: number;
}

export class MultiBlocks {
  /** Blocks whose end has not had its turn, oldest first: a pipeline of transactions holds a few. */
  private readonly blocks: Block[] = [];
  /** The ordinal of the last EXEC that ended a block, once it had its turn, and that block's commands. */
  private lastExec = -1;
  private lastExecQueued: readonly string[] = [];
  /** How those commands' keys lie, read as one request's. */
  private lastExecKeys = Spread.None;
  /** A block is being framed: the commands framed now are queued in it. */
  collecting = false;
  /** The keys of the block being framed (queue's `keys`). */
  readonly keys = new BlockKeys();

  /** Request `ordinal`, framed, is the transaction command `label`. */
  framed(ordinal: number, label: string): void {
    const open = this.blocks.length > 0 && this.blocks[this.blocks.length - 1].end === Infinity ? this.blocks[this.blocks.length - 1] : undefined;
    // A nested MULTI is refused by the server and leaves the block as it was.
    if (label === 'MULTI') {
      if (!open) {
        this.blocks.push({ multi: ordinal, end: Infinity, exec: false, failedAt: Infinity, refusedAt: Infinity, queued: [], firstAt: [], keyedAt: Infinity, severalKeysAt: Infinity, crossSlotAt: Infinity });
        this.keys.opened();
      }
      this.collecting = true;
    } else if (open) {
      open.end = ordinal;
      open.exec = label === 'EXEC';
      this.collecting = false;
    }
  }

  /**
   * Request `ordinal`, a command `label`, is framed while a block is (collecting). A block mostly
   * repeats a few commands: past MAX_QUEUED_LABELS different ones (a client that never sends
   * EXEC), an empty label stands for the rest, a command redis does not know, refusing the EXEC as
   * before. `refused`: one a redis 7.0 refuses as it queues it, which the server's block holds nothing after.
   * `keys`: how its keys lie against the block's first key (this.keys.note).
   */
  queue(ordinal: number, label: string, refused: boolean, keys: Spread): void {
    const b = this.blocks[this.blocks.length - 1];
    if (refused) {
      b.refusedAt = Math.min(b.refusedAt, ordinal);
      return;
    }
    if (b.queued.length < MAX_QUEUED_LABELS && !b.queued.includes(label)) {
      b.queued.push(b.queued.length === MAX_QUEUED_LABELS - 1 ? '' : label);
      b.firstAt.push(ordinal);
    }
    if (keys >= Spread.One && b.keyedAt === Infinity) b.keyedAt = ordinal;
    if (keys >= Spread.Slot && b.severalKeysAt === Infinity) b.severalKeysAt = ordinal;
    if (keys === Spread.Slots && b.crossSlotAt === Infinity) b.crossSlotAt = ordinal;
  }

  /** Request `ordinal` is answered by an injected error (FramerSession.errored). */
  errored(ordinal: number): void {
    this.over(ordinal);
    const b = this.blocks[0];
    // Turns come in request order: the first one noted is the block's first.
    if (b !== undefined && b.multi <= ordinal && ordinal < b.end && b.failedAt === Infinity) b.failedAt = ordinal;
  }

  /** At request `ordinal`'s turn: what the server and the client get in its place, if anything. */
  insteadOf(ordinal: number): { standIn: Buffer; reply: ErrorReply } | undefined {
    this.over(ordinal);
    const b = this.blocks[0];
    if (b === undefined || b.end !== ordinal) return undefined;
    this.blocks.shift();
    const failed = b.failedAt !== Infinity;
    if (b.exec) {
      this.lastExec = ordinal;
      const kept = Math.min(b.failedAt, b.refusedAt);
      this.lastExecQueued = kept === Infinity ? b.queued : b.queued.filter((_, i) => b.firstAt[i] < kept);
      this.lastExecKeys = b.crossSlotAt < kept ? Spread.Slots : b.severalKeysAt < kept ? Spread.Slot : b.keyedAt < kept ? Spread.One : Spread.None;
    }
    return b.exec && failed ? ABORTED_EXEC : undefined;
  }

  /** What the server gets in place of request `ordinal` if it draws an error: DISCARD for the EXEC of a block. */
  standIn(ordinal: number | undefined): Buffer | undefined {
    return ordinal === this.lastExec ? DISCARD : undefined;
  }

  /**
   * The commands the server's block holds, for request `ordinal`, the block's EXEC, once it had
   * its turn (those queued before the block's first injected error); undefined for any other request.
   */
  execQueued(ordinal: number): readonly string[] | undefined {
    return ordinal === this.lastExec ? this.lastExecQueued : undefined;
  }

  /** How the keys of the commands execQueued gives lie, read as one request's, for request `ordinal`, the block's EXEC. */
  execKeys(ordinal: number): Spread {
    return ordinal === this.lastExec ? this.lastExecKeys : Spread.None;
  }

  /** Whether request `ordinal` is queued in a block: after its MULTI, before the request that ends it. */
  queued(ordinal: number): boolean {
    for (const b of this.blocks) if (b.multi < ordinal && ordinal < b.end) return true;
    return false;
  }

  /** Forget the blocks ended before `ordinal`'s turn. */
  private over(ordinal: number): void {
    while (this.blocks.length > 0 && this.blocks[0].end < ordinal) this.blocks.shift();
  }
}
