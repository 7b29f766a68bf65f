/**
 * What an error drawn for a redis request must follow, from the requests framed before it: the
 * session's answers to the engine's hooks (Protocol.refuses, standIn, encodeError;
 * FramerSession.errored, insteadOf), read from its MULTI blocks (redis-multi.ts), the kills
 * after a BUSY (redis-kill.ts), a script queued to fail as EXEC runs it (redis-errors.ts'
 * failingScript) and the functions and scripts the proxy's connections saw loaded
 * (redis-functions.ts, redis-scripts-seen.ts).
 * The framing of requests (redis.ts) builds on it and notes those as it frames them.
 */
import type { ErrorReply, ErrorReplyContext } from '../protocol.js';
import { encodeError, failingScript, QUEUED } from './redis-errors.js';
import { refuses, refusesExec, saidAs } from './redis-refusals.js';
import { RedisReplies } from './redis-replies.js';
import { MultiBlocks } from './redis-multi.js';
import { ScriptKills } from './redis-kill.js';
import type { FunctionsSeen } from './redis-functions.js';
import type { RedisSeen, ScriptsSeen } from './redis-scripts-seen.js';
import { wordAt } from './redis-resp.js';

/** What an EXEC outside a block is refused by: its own flags, as that of an empty block. */
const NO_BLOCK: readonly string[] = [];

export abstract class RedisInjected extends RedisReplies {
  /** The functions and scripts the proxy's connections saw loaded, shared with them. */
  protected readonly functions: FunctionsSeen;
  protected readonly scripts: ScriptsSeen;

  constructor(seen: RedisSeen) {
    super();
    this.functions = seen.functions;
    this.scripts = seen.scripts;
  }

  protected readonly multi = new MultiBlocks();
  protected readonly kills = new ScriptKills();
  /** The last request given a failing script's stand-in (failingScript): its error comes inside EXEC's reply, its QUEUED now. */
  private failingScriptAt = -1;
  /** The FUNCTION LOAD, DELETE and FLUSH, SCRIPT LOAD and FLUSH requests waiting for their replies, by ordinal, and what each changes. */
  protected readonly functionChanges = new Map<number, () => void>();

  errored(ordinal: number): void {
    // Queued as by a real redis, it fails inside EXEC's reply: the block goes on.
    if (ordinal !== this.failingScriptAt) this.multi.errored(ordinal);
  }

  protected functionsReplied(ordinal: number, taken: boolean): void {
    const change = this.functionChanges.get(ordinal);
    this.functionChanges.delete(ordinal);
    if (taken) change?.();
  }

  insteadOf(ordinal: number): { standIn: Buffer; reply: ErrorReply } | undefined {
    return this.multi.insteadOf(ordinal) ?? this.kills.insteadOf(ordinal, this.multi.queued(ordinal));
  }

  /** What the server gets in place of request `ordinal`, `request` its first segment, if the error `kind` is drawn for it (Protocol.standIn). */
  standIn(ordinal: number | undefined, kind: string | undefined, request: Buffer, message: string | undefined): Buffer | undefined {
    return this.multi.standIn(ordinal) ?? this.kills.standIn(ordinal) ?? this.failingScript(ordinal, kind, request, message);
  }

  /** A script queued in a block that a redis in the state `kind` queues and stops as EXEC runs it: one that fails so (redis-errors.ts). */
  private failingScript(ordinal: number | undefined, kind: string | undefined, request: Buffer, message: string | undefined): Buffer | undefined {
    if (ordinal === undefined || kind === undefined || !this.multi.queued(ordinal)) return undefined;
    const at = wordAt(request, 0);
    const standIn = at && failingScript(kind, request.toString('latin1', at[0], at[1]).toUpperCase(), request, message, this.scripts, this.functions);
    if (standIn !== undefined) this.failingScriptAt = ordinal;
    return standIn;
  }

  /** Whether a real redis in the state `kind` (said with `message`) stands for refuses request `ordinal` (Protocol.refuses). */
  refuses(kind: string, label: string | undefined, request: Buffer, ordinal: number, message?: string): boolean {
    if (label === 'EXEC') return refusesExec(kind, this.multi.execQueued(ordinal) ?? NO_BLOCK, this.multi.execKeys(ordinal), message);
    return refuses(kind, label, request, kind === 'OOM' && this.multi.queued(ordinal), this.functions, this.scripts, message);
  }

  /**
   * The reply to an error `kind` drawn for request `ordinal` (Protocol.encodeError): said with
   * the kind saidAs says; a script queued to fail as EXEC runs it gets QUEUED; a BUSY is noted for a SCRIPT KILL after it.
   */
  errorReply(kind: string, ctx: ErrorReplyContext, ordinal: number): ErrorReply {
    const { label, request } = ctx;
    if (ordinal === this.failingScriptAt && ctx.standIn !== undefined) return QUEUED;
    const said = kind === 'MASTERDOWN' ? saidAs(kind, label, request, label === 'EXEC' ? this.multi.execQueued(ordinal) : undefined, this.functions, this.scripts) : kind;
    if (said === 'BUSY') this.kills.busy(ordinal);
    return encodeError(said, ctx, label !== undefined && label.startsWith('EVAL') && this.multi.queued(ordinal), this.scripts, this.functions);
  }
}
