/**
 * SCRIPT KILL and FUNCTION KILL right after an injected BUSY, answered as by the busy server the
 * error stood for. A client told BUSY kills the script (SCRIPT KILL, what an application's
 * recovery from BUSY does); passed to the server behind, which runs none, it got
 * '-NOTBUSY No scripts in execution right now.', where a busy redis kills it and says +OK.
 *
 * The BUSY kind stands for an EVAL script that has not written (redis-refusals.ts): SCRIPT KILL
 * ends it, +OK, and the connection's requests after it are served as the server behind serves
 * them; FUNCTION KILL does not (redis 7.0 answers it '-BUSY ... You can only call SCRIPT KILL or
 * SHUTDOWN NOSAVE.'), so the server stays busy for a SCRIPT KILL after it. Only the request
 * right after a BUSY (or after such a FUNCTION KILL): a request served between them says the
 * script had ended, and so does the server behind. A kill queued in a MULTI block is queued.
 *
 * SCRIPT KILL answered +OK goes to the server as it is, its reply replaced (it kills a script the
 * server behind may run, as the client asked). Both always reach the server (they are framed
 * must-forward, for their turn to come here): a kill refused, by the BUSY above or an injected
 * error, goes as a PING whose reply is replaced, so what the server behind may run keeps running,
 * as the client is told.
 */
import type { ErrorReply } from '../protocol.js';
import { cannedReply } from './redis-errors.js';

const KILLED = Object.freeze({
  standIn: Buffer.from('*2\r\n$6\r\nSCRIPT\r\n$4\r\nKILL\r\n', 'latin1'),
  reply: Object.freeze({ bytes: Buffer.from('+OK\r\n', 'latin1'), close: false }),
});

const PING = Buffer.from('*1\r\n$4\r\nPING\r\n', 'latin1');

const STILL_BUSY = Object.freeze({ standIn: PING, reply: cannedReply('BUSY') });

export class ScriptKills {
  /** The SCRIPT KILL and FUNCTION KILL requests framed whose turn has not come, oldest first. */
  private readonly waiting: Array<{ ordinal: number; fn: boolean }> = [];
  /** The last request answered BUSY (none: not the one before the first request). */
  private busyAt = -2;
  /** The last kill whose turn came. */
  private lastKill = -1;

  /** Request `ordinal`, framed, is a SCRIPT KILL, or a FUNCTION KILL (`fn`). */
  framed(ordinal: number, fn: boolean): void {
    this.waiting.push({ ordinal, fn });
  }

  /** Request `ordinal` is answered by an injected BUSY. */
  busy(ordinal: number): void {
    this.busyAt = ordinal;
  }

  /** At request `ordinal`'s turn: what the server and the client get in its place, if anything (FramerSession.insteadOf). */
  insteadOf(ordinal: number, queued: boolean): { standIn: Buffer; reply: ErrorReply } | undefined {
    const w = this.waiting;
    while (w.length > 0 && w[0].ordinal < ordinal) w.shift();
    if (w.length === 0 || w[0].ordinal !== ordinal) return undefined;
    const { fn } = w.shift()!;
    this.lastKill = ordinal;
    if (this.busyAt !== ordinal - 1 || queued) return undefined;
    if (!fn) return KILLED;
    this.busyAt = ordinal;
    return STILL_BUSY;
  }

  /** What the server gets in place of request `ordinal` if it draws an error: a PING for a kill (Protocol.standIn). */
  standIn(ordinal: number | undefined): Buffer | undefined {
    return ordinal === this.lastKill ? PING : undefined;
  }
}
