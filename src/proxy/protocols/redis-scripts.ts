/**
 * What an EVAL's script does to a redis refusing writes (a read-only replica, MISCONF) or commands
 * that take memory (OOM), read from the script's source in the request, as redis-server 7.0
 * checks it. A script with a shebang (`#!lua flags=no-writes,allow-oom`) is judged by its flags
 * before it runs: one that may write is refused as a write is, one that may write without
 * allow-oom as a denyoom command (the kind's bare line). One without a shebang, what clients
 * send, runs until its first write: a read-only replica (MISCONF too) refuses that write, an
 * OOM server refuses it if it takes memory (after one write, a script is never stopped), and
 * the script stops there with the error, said with the script's SHA1 and the line of the call
 * (' script: <sha1>, on @user_script:<line>.').
 *
 * A write is a `redis.call('SET', ...)` naming a write command in a string; the first one in
 * the source is taken as the first one run. A script whose first write is a `redis.pcall` gets
 * the error as a value: `return redis.pcall(...)` replies it, bare; otherwise the script goes on
 * and is served, as is one whose commands are not named in strings, and one whose source is
 * not all in the request's first segment.
 * In a MULTI block, processCommand judges a script by its shebang as it queues it; one without is
 * queued whatever it does and fails as EXEC runs it, its error inside EXEC's reply
 * (queuedScriptFailure). EVALSHA's script is not in the request: one the proxy saw (an EVAL's,
 * a SCRIPT LOAD's: redis-scripts-seen.ts) is judged as the EVAL of it is, as redis reads the
 * cached script's flags (evalGetCommandFlags); one not seen (cached before the proxy started,
 * through another route) passes, as before: the proxy cannot tell a write from a read, and a
 * client told READONLY for a read would take a writable server for a replica.
 */
import { createHash } from 'node:crypto';
import { failingCall, staleFails, type CallFails } from './redis-script-calls.js';
import { STAR, wordAt } from './redis-resp.js';
import type { ScriptsSeen } from './redis-scripts-seen.js';

/** The kinds a script's writes meet. */
export const SCRIPT_KINDS = new Set(['READONLY', 'MISCONF', 'OOM']);

const SHEBANG_FLAGS = /^#!\S*(?:[ \t]+[^\n]*?\bflags=([\w,-]*))?/;

/** The commands that run a Lua script: a replica whose master is down runs them only to fail as they start, unless flagged allow-stale by a shebang. */
export const EVALS = new Set(['EVAL', 'EVAL_RO', 'EVALSHA', 'EVALSHA_RO']);

/**
 * The script EVAL, EVAL_RO, EVALSHA or EVALSHA_RO `label` runs, `request` its first segment: its
 * source (latin1) and SHA1 ('' when not computed yet); undefined when the request does not hold it
 * (another command, a script past the first segment) or `scripts` did not see it.
 */
export function scriptOf(label: string | undefined, request: Buffer, scripts: ScriptsSeen | undefined): [string, string] | undefined {
  if (label === undefined || !EVALS.has(label)) return undefined;
  const at = wordAt(request, 1);
  if (at === undefined) return undefined;
  const word = request.toString('latin1', at[0], at[1]);
  if (label === 'EVAL' || label === 'EVAL_RO') return [word, ''];
  const source = word.length === 40 ? scripts?.sourceOf(word) : undefined;
  return source === undefined ? undefined : [source, word.toLowerCase()];
}

/**
 * What a script queued in a MULTI block, `label` request `request`, gets inside EXEC's reply from a
 * redis in the state `kind`: '' its kind's bare line, else the text that follows the line; undefined
 * when it is served, or judged as it is queued (by its shebang, at OOM any command), or the proxy
 * cannot tell. A read-only replica or a misconfigured server queues an EVAL without a shebang and
 * stops it at its first write (scriptRefusal); a replica whose master is down queues any script
 * without one and stops it as it starts, bare (checked on redis 7.0.15; the script of an EVALSHA
 * not seen is taken for one without, as clients send them). An EVALSHA of a script seen: as its EVAL.
 */
export function queuedScriptFailure(kind: string, label: string, request: Buffer, scripts?: ScriptsSeen): string | undefined {
  const script = scriptOf(label, request, scripts);
  const shebang = script !== undefined && script[0].startsWith('#!');
  if (kind === 'MASTERDOWN') return EVALS.has(label) && (script !== undefined || label.startsWith('EVALSHA')) && !shebang ? '' : undefined;
  // Met as it is queued at any other kind, as any command is: a cluster node down refuses one naming keys then (redis-cluster-down.ts).
  return (kind === 'READONLY' || kind === 'MISCONF') && !shebang ? scriptRefused(kind, label, request, scripts) : undefined;
}

/**
 * How a redis in the state `kind` (SCRIPT_KINDS) refuses the EVAL or EVALSHA `label`, `request` its
 * first segment (scriptRefusal); undefined when it serves it or the proxy cannot tell: an inline
 * one (its script's escapes unread), an EVALSHA of a script `scripts` did not see. EVAL_RO and
 * EVALSHA_RO are judged by a shebang only: a script without one that writes gets the server's own
 * error for a write in a read-only script, whatever its state.
 */
export function scriptRefused(kind: string, label: string | undefined, request: Buffer, scripts?: ScriptsSeen): string | undefined {
  if (request[0] !== STAR) return undefined;
  const script = scriptOf(label, request, scripts);
  if (script === undefined || ((label === 'EVAL_RO' || label === 'EVALSHA_RO') && !script[0].startsWith('#!'))) return undefined;
  return scriptRefusal(kind, script);
}

/**
 * How a redis in the state `kind` (SCRIPT_KINDS) refuses the EVAL of `script` (scriptOf):
 * '' with its kind's bare line, else the text that follows the line (the script and the line
 * of the write); undefined when it serves it, or the proxy cannot tell. In a MULTI block, one
 * with a shebang is refused as it is queued, one without as it runs (queuedScriptFailure).
 */
function scriptRefusal(kind: string, script: readonly [string, string]): string | undefined {
  if (script[0].startsWith('#!')) {
    const flags = shebangFlags(script[0]);
    if (flags.includes('no-writes') || (kind === 'OOM' && flags.includes('allow-oom'))) return undefined;
    return '';
  }
  // After one write a script is never stopped: one that takes no memory is served at OOM.
  return scriptStops(script, (name, flags) => (flags === undefined || !flags.includes('w') ? false : kind === 'OOM' && !flags.includes('o') ? undefined : true));
}

/** What a script stopped at the call failingCall finds says after the error's line: where, or nothing for a returned pcall. */
export function scriptStops([script, sha]: readonly [string, string], fails: CallFails): string | undefined {
  const line = failingCall(script, fails);
  if (line === undefined) return undefined;
  return line === 0 ? '' : ` script: ${sha || createHash('sha1').update(script, 'latin1').digest('hex')}, on @user_script:${line}.`;
}

/**
 * How a replica whose master is down (replica-serve-stale-data no) stops the script EVAL, EVALSHA
 * or their _RO forms `label` runs (`request` its first segment): one flagged no-writes and
 * allow-stale runs there, and its first call of a command such a replica does not serve (GET,
 * DBSIZE; not ECHO, TIME) fails with 'ERR Can not execute the command on a stale replica' and
 * where (redis-script-calls.ts). Undefined for any other script, or when the proxy cannot tell: a call of a
 * command with subcommands, one redis does not know or refuses in a script, an inline request, an
 * EVALSHA of a script not seen.
 */
export function staleScriptRefused(label: string | undefined, request: Buffer, scripts?: ScriptsSeen): string | undefined {
  if (request[0] !== STAR) return undefined;
  const script = scriptOf(label, request, scripts);
  if (script === undefined || !script[0].startsWith('#!')) return undefined;
  const flags = shebangFlags(script[0]);
  if (!flags.includes('no-writes') || !flags.includes('allow-stale')) return undefined;
  return scriptStops(script, staleFails);
}

const shebangFlags = (script: string): string[] => (SHEBANG_FLAGS.exec(script)?.[1] ?? '').split(',');

/**
 * The flags the shebang of the script EVAL, EVAL_RO, EVALSHA or EVALSHA_RO `label` runs declares
 * (`request` its first segment; an EVALSHA's as `scripts` saw it); undefined for a script without
 * one, or not known. A replica whose master is down reads them before it runs one, as it reads a
 * command's (evalGetCommandFlags): a script that may write is refused READONLY, one flagged
 * no-writes and allow-stale is served, any other refused MASTERDOWN. A served one's calls of
 * commands a stale replica refuses (GET) fail inside it with an ERR: staleScriptRefused.
 */
export function shebangOf(label: string, request: Buffer, scripts?: ScriptsSeen): string[] | undefined {
  const script = scriptOf(label, request, scripts);
  return script !== undefined && script[0].startsWith('#!') ? shebangFlags(script[0]) : undefined;
}
