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
 * (queuedScriptFailure). EVALSHA's script is not in the request: served (as before).
 */
import { createHash } from 'node:crypto';
import { COMMAND_FLAGS } from './redis-commands.js';
import { STAR, wordAt } from './redis-resp.js';

/** The kinds a script's writes meet. */
export const SCRIPT_KINDS = new Set(['READONLY', 'MISCONF', 'OOM']);

const CALL = /redis\s*\.\s*(p?call)\s*\(\s*(['"])([A-Za-z_.|-]+)\2/g;
const RETURNED = /\breturn\s*$/;
const SHEBANG_FLAGS = /^#!\S*(?:[ \t]+[^\n]*?\bflags=([\w,-]*))?/;

/** The scripts a replica whose master is down runs only to fail as they start, unless flagged allow-stale by a shebang. */
const LINK_CHECKED = new Set(['EVAL', 'EVAL_RO', 'EVALSHA', 'EVALSHA_RO']);

/**
 * What a script queued in a MULTI block, `label` request `request`, gets inside EXEC's reply from a
 * redis in the state `kind`: '' its kind's bare line, else the text that follows the line; undefined
 * when it is served, or judged as it is queued (by its shebang, at OOM any command), or the proxy
 * cannot tell. A read-only replica or a misconfigured server queues an EVAL without a shebang and
 * stops it at its first write (evalRefusal); a replica whose master is down queues any script
 * without one and stops it as it starts, bare (checked on redis 7.0.15; an EVALSHA's script is taken
 * for one without, as clients send them).
 */
export function queuedScriptFailure(kind: string, label: string, request: Buffer): string | undefined {
  const at = label === 'EVAL' || label === 'EVAL_RO' ? wordAt(request, 1) : undefined;
  const shebang = at !== undefined && request[at[0]] === 0x23 && request[at[0] + 1] === 0x21;
  if (kind === 'MASTERDOWN') return LINK_CHECKED.has(label) && (at !== undefined || label.startsWith('EVALSHA')) && !shebang ? '' : undefined;
  return label === 'EVAL' && kind !== 'OOM' && !shebang ? evalRefusal(kind, request) : undefined;
}

/**
 * How a redis in the state `kind` (SCRIPT_KINDS) refuses the EVAL `request` (its first segment):
 * '' with its kind's bare line, else the text that follows the line (the script and the line
 * of the write); undefined when it serves it, or the proxy cannot tell. In a MULTI block, one
 * with a shebang is refused as it is queued, one without as it runs (queuedScriptFailure).
 */
export function evalRefusal(kind: string, request: Buffer): string | undefined {
  if (request[0] !== STAR) return undefined;
  const at = wordAt(request, 1);
  if (at === undefined) return undefined;
  const script = request.toString('latin1', at[0], at[1]);
  if (script.startsWith('#!')) {
    const flags = (SHEBANG_FLAGS.exec(script)?.[1] ?? '').split(',');
    if (flags.includes('no-writes') || (kind === 'OOM' && flags.includes('allow-oom'))) return undefined;
    return '';
  }
  CALL.lastIndex = 0;
  for (let m = CALL.exec(script); m !== null; m = CALL.exec(script)) {
    const flags = COMMAND_FLAGS[m[3].toUpperCase()];
    if (flags === undefined || !flags.includes('w')) continue;
    if (kind === 'OOM' && !flags.includes('o')) return undefined;
    // The error as a value: returned at once, it is the reply, bare; else the script goes on.
    if (m[1] === 'pcall') return RETURNED.test(script.slice(Math.max(0, m.index - 16), m.index)) ? '' : undefined;
    let line = 1;
    for (let i = script.indexOf('\n'); i >= 0 && i < m.index; i = script.indexOf('\n', i + 1)) line++;
    const sha = createHash('sha1').update(request.subarray(at[0], at[1])).digest('hex');
    return ` script: ${sha}, on @user_script:${line}.`;
  }
  return undefined;
}
