/**
 * PostgreSQL: whether a request will run inside a transaction block, for an injected error's
 * stand-in (postgres-aborted.ts). The last ReadyForQuery says where the server stands after the
 * requests it answered, but those still in flight may move it: behind a pipelined BEGIN not yet
 * answered, every request runs in a block that ReadyForQuery knows nothing of. An error drawn for
 * one of them was withheld as if the connection were idle, so the server stayed in the block and
 * the client's later statements and its COMMIT committed.
 *
 * Only a transaction statement moves the server into or out of a block (BEGIN, START
 * TRANSACTION, COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION; a function, a procedure or a
 * DO block cannot begin or end the caller's block). Each request is scanned for their words as it
 * is framed, with no false negative: any such word at all, even in a string or a CASE's END, or a
 * text not all seen, makes it one that may move the server. While one is in flight ahead of a
 * request, where that request runs is unsure: the stand-in goes, which fails harmlessly outside
 * a block, and the error's ReadyForQuery says what the server's says after it. A load with no
 * transaction statements in flight (any non-transaction pipeline) is decided by the last
 * ReadyForQuery alone, as before: its errors are withheld, at no cost.
 */
import { Fifo } from '../fifo.js';
import type { ErrorReply } from '../protocol.js';

const T = (c: string): number => c.charCodeAt(0);
const Q = T('Q'), PARSE = T('P'), BIND = T('B');

/** The words of the statements that begin or end a block, by their first letter (lowercase). */
const WORDS: (Buffer[] | undefined)[] = new Array<Buffer[] | undefined>(256).fill(undefined);
for (const word of ['begin', 'start', 'commit', 'end', 'rollback', 'abort', 'prepare']) {
  (WORDS[T(word)] ??= []).push(Buffer.from(word, 'latin1'));
}

/** 1 for a byte of an identifier or keyword: a letter, a digit, `_`, `$`, any byte of a multibyte character. */
const WORD_BYTE = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const l = c | 0x20;
  WORD_BYTE[c] = (l >= 0x61 && l <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80 ? 1 : 0;
}

/**
 * Whether bytes [from, to) of `buf` hold, as a word of its own in any case, one of WORDS. Word
 * by word, each byte looked at once: a statement's first word starts after a blank, a `;`, a
 * comment or a parenthesis, never glued to another word.
 */
export function namesTransaction(buf: Buffer, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    if (WORD_BYTE[buf[i]] === 0) {
      i++;
      continue;
    }
    const start = i;
    while (++i < to && WORD_BYTE[buf[i]] === 1);
    const words = i - start >= 3 && i - start <= 8 ? WORDS[buf[start] | 0x20] : undefined;
    if (words !== undefined && isOneOf(buf, start, i, words)) return true;
  }
  return false;
}

function isOneOf(buf: Buffer, from: number, to: number, words: Buffer[]): boolean {
  for (let w = 0; w < words.length; w++) {
    const word = words[w];
    if (word.length !== to - from) continue;
    let j = 1;
    while (j < word.length && (buf[from + j] | 0x20) === word[j]) j++;
    if (j === word.length) return true;
  }
  return false;
}

export class BlockForecast {
  /** Ordinals of the requests in flight that may move the server into or out of a block, oldest first. */
  private readonly movers = new Fifo<number>();
  /** Statement names parsed with a transaction word, or not all seen; any name, when even one's name was not seen. */
  private readonly movingNames = new Set<string>();
  private anyNameMoves = false;
  private unnamedMoves = false;
  /** Injected replies whose ReadyForQuery waits for the server's after their stand-in, by ordinal. */
  private readonly told = new Map<number, Buffer>();

  /**
   * A client message of type `type`, of the request `ordinal`, its body at [from, from + length)
   * of `buf` as far as `buf` holds it: a simple Query or a Parse is read for the words, a Bind
   * for the statement it runs.
   */
  seen(type: number, buf: Buffer, from: number, length: number, ordinal: number): void {
    const end = from + length;
    let moves: boolean;
    if (type === Q) {
      moves = end > buf.length || namesTransaction(buf, from, end);
    } else if (type === PARSE) {
      const nameEnd = buf.indexOf(0, from);
      const whole = end <= buf.length;
      moves = !whole || namesTransaction(buf, nameEnd + 1, end);
      if (nameEnd < 0 || nameEnd >= end) this.anyNameMoves = true;
      else if (nameEnd === from) this.unnamedMoves = moves;
      else if (moves) this.movingNames.add(buf.toString('latin1', from, nameEnd));
      else if (this.movingNames.size > 0) this.movingNames.delete(buf.toString('latin1', from, nameEnd));
    } else if (type === BIND) {
      // The portal's name, then the statement's.
      const portalEnd = buf.indexOf(0, from);
      const nameEnd = portalEnd < 0 ? -1 : buf.indexOf(0, portalEnd + 1);
      if (nameEnd < 0 || nameEnd >= end) moves = true;
      else if (nameEnd === portalEnd + 1) moves = this.unnamedMoves;
      else moves = this.anyNameMoves || (this.movingNames.size > 0 && this.movingNames.has(buf.toString('latin1', portalEnd + 1, nameEnd)));
    } else {
      return;
    }
    if (moves && this.movers.last() !== ordinal) this.movers.push(ordinal);
  }

  /** Whether a request in flight ahead of request `ordinal` may move the server into or out of a block. */
  unsure(ordinal: number | undefined): boolean {
    const first = this.movers.first();
    return ordinal !== undefined && first !== undefined && first < ordinal;
  }

  /**
   * `reply`, the error for request `ordinal` sent to the server as a stand-in, in bytes of its
   * own whose last (ReadyForQuery's status) is set when the server answers the stand-in.
   */
  toldLater(ordinal: number, reply: ErrorReply): ErrorReply {
    const bytes = Buffer.from(reply.bytes);
    this.told.set(ordinal, bytes);
    return { bytes, close: reply.close };
  }

  /** The server's ReadyForQuery for request `ordinal`, with its status. */
  answered(ordinal: number, status: number): void {
    while (this.movers.length > 0 && this.movers.first()! <= ordinal) this.movers.shift();
    if (this.told.size === 0) return;
    const bytes = this.told.get(ordinal);
    if (bytes === undefined) return;
    bytes[bytes.length - 1] = status;
    this.told.delete(ordinal);
  }

  /** Request `ordinal` was withheld: the server never runs it. */
  skipped(ordinal: number): void {
    if (this.movers.length > 0) this.movers.delete(ordinal);
  }
}
