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
 * A script's runtime write queued in a MULTI block is served: it fails inside EXEC's reply,
 * which the proxy does not make. EVALSHA's script is not in the request: served (as before).
 */
import { createHash } from 'node:crypto';
import { COMMAND_FLAGS } from './redis-commands.js';
import { STAR, wordAt } from './redis-resp.js';

/** The kinds a script's writes meet. */
export const SCRIPT_KINDS = new Set(['READONLY', 'MISCONF', 'OOM']);

const CALL = /redis\s*\.\s*(p?call)\s*\(\s*(['"])([A-Za-z_.|-]+)\2/g;
const RETURNED = /\breturn\s*$/;
const SHEBANG_FLAGS = /^#!\S*(?:[ \t]+[^\n]*?\bflags=([\w,-]*))?/;

/**
 * How a redis in the state `kind` (SCRIPT_KINDS) refuses the EVAL `request` (its first segment):
 * '' with its kind's bare line, else the text that follows the line (the script and the line
 * of the write); undefined when it serves it, or the proxy cannot tell. `queued`: in a MULTI
 * block, where only a shebang's flags refuse it.
 */
export function evalRefusal(kind: string, request: Buffer, queued: boolean): string | undefined {
  if (request[0] !== STAR) return undefined;
  const at = wordAt(request, 1);
  if (at === undefined) return undefined;
  const script = request.toString('latin1', at[0], at[1]);
  if (script.startsWith('#!')) {
    const flags = (SHEBANG_FLAGS.exec(script)?.[1] ?? '').split(',');
    if (flags.includes('no-writes') || (kind === 'OOM' && flags.includes('allow-oom'))) return undefined;
    return '';
  }
  if (queued) return undefined;
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
