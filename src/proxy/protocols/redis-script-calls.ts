/**
 * The calls a Lua script or function makes, read from its source as redis 7.0 runs them: the
 * first one a server in some state refuses stops it there, with the error and where (the line),
 * or gives the error as a value to a pcall. A call is a `redis.call('GET', ...)` or `redis.pcall`
 * naming its command in a string; the first one in the source is taken as the first one run,
 * but for one in the body of a function the script writes (a helper): that runs when it is
 * called, maybe later, maybe never. Only running the script would tell, but for a local helper
 * whose name is next used to call it, with nothing that may fail run before (calledFirst), and
 * one whose name is never used after it (unusedEnd): its body never runs, and the calls after it
 * are read on. A helper called through pcall (`pcall(w)`) has the error of its failing call
 * made a value, as an unreturned redis.pcall: the script goes on by its own logic (checked on
 * redis 7.0: `if not ok then return 'fallback' end` returns it), which only running it tells.
 */
import { COMMAND_FLAGS, CONTAINERS, PUBSUB_SHARD } from './redis-commands.js';
import { depthAt, functionEnd, functionsAround } from './redis-lua.js';

const CALL = /redis\s*\.\s*(p?call)\s*\(\s*(['"])([A-Za-z_.|-]+)\2/g;
const RETURNED = /\breturn\s*$/;

/** Whether a call of command `name` (its flags, undefined if redis 7.0 does not name it) fails; undefined when the proxy cannot tell. */
export type CallFails = (name: string, flags: string | undefined) => boolean | undefined;

/**
 * The line of the first call in `source` (from `from` to `to`) that `fails` says fails (true): 1
 * the source's first, 0 for a `return redis.pcall(...)`, which replies the bare error; undefined
 * when none does, when `fails` cannot tell for the call it meets first (undefined: served from
 * there, or failed as the server behind fails it), when that call is in a function written
 * from `from` on (its body runs when it is called) but for a helper calledFirst says runs then
 * (a pcall there: its error a value to the helper's caller), or when an unreturned pcall meets
 * the error (the script goes on with it as a value).
 */
export function failingCall(source: string, fails: CallFails, from = 0, to = source.length): number | undefined {
  CALL.lastIndex = from;
  for (let m = CALL.exec(source); m !== null && m.index < to; m = CALL.exec(source)) {
    // One in a comment (after '--' on its line) is no call.
    const comment = source.indexOf('--', source.lastIndexOf('\n', m.index) + 1);
    if (comment >= 0 && comment < m.index) continue;
    const name = m[3].toUpperCase();
    const verdict = fails(name, COMMAND_FLAGS[name]);
    if (verdict === false) continue;
    const around = functionsAround(source, from, m.index);
    const skip = unusedEnd(source, around, to);
    if (skip >= 0) {
      CALL.lastIndex = skip;
      continue;
    }
    if (verdict === undefined) return undefined;
    if (around.length > 0 && (around.length > 1 || m[1] === 'pcall' || !calledFirst(source, fails, around[0], to))) return undefined;
    // The error as a value: returned at once, it is the reply, bare; else the script goes on.
    if (m[1] === 'pcall') return RETURNED.test(source.slice(Math.max(0, m.index - 16), m.index)) ? 0 : undefined;
    let line = 1;
    for (let i = source.indexOf('\n'); i >= 0 && i < m.index; i = source.indexOf('\n', i + 1)) line++;
    return line;
  }
  return undefined;
}

/** A local helper's name, read from its `function` word on: `function g(` after `local`, or `local g = ` before it. */
const LOCAL_FUNCTION = /(?<=\blocal\s+)function\s+([A-Za-z_]\w*)\s*\(/y;
const LOCAL_ASSIGNED = /\blocal\s+([A-Za-z_]\w*)\s*=\s*$/;

/**
 * Whether the helper whose `function` word is at `at` in `source` (one written in the code read,
 * up to `to`) runs before anything that may fail (`fails`) after it: it is a local function, the
 * next use of its name (outside comments and strings) calls it, in no function of its own, and
 * the calls between its end and that one never fail.
 */
function calledFirst(source: string, fails: CallFails, at: number, to: number): boolean {
  const helper = nextUse(source, at, to);
  if (helper === undefined) return false;
  const { end, use: u } = helper;
  if (u === null || u[1] === undefined || functionsAround(source, end, u.index).length > 0) return false;
  const between = new RegExp(CALL.source, 'g');
  between.lastIndex = end;
  for (let c = between.exec(source); c !== null && c.index < u.index; c = between.exec(source)) {
    if (fails(c[3].toUpperCase(), COMMAND_FLAGS[c[3].toUpperCase()]) !== false) return false;
  }
  return true;
}

/**
 * The local helper whose `function` word is at `at` in `source`: where it ends, and the next use
 * of its name after that (outside comments and strings) before `to`, `(` after it if a call, or
 * null; undefined when it is no local helper or does not end.
 */
function nextUse(source: string, at: number, to: number): { end: number; use: RegExpExecArray | null } | undefined {
  LOCAL_FUNCTION.lastIndex = at;
  const name = LOCAL_FUNCTION.exec(source)?.[1] ?? LOCAL_ASSIGNED.exec(source.slice(Math.max(0, at - 64), at))?.[1];
  const end = name === undefined ? -1 : functionEnd(source, at);
  if (end < 0) return undefined;
  const use = new RegExp(`(?<![\\w.:])${name}\\b(\\s*\\()?`, 'g');
  use.lastIndex = end;
  let u = use.exec(source);
  while (u !== null && u.index < to && depthAt(source, u.index) < 0) u = use.exec(source);
  return { end, use: u !== null && u.index < to ? u : null };
}

/**
 * Of the helpers whose `function` words are at `around` (outermost first), where the first one
 * never used after its end ends: nothing in its body runs (checked on redis 7.0: a helper that
 * writes, never called, then a write: READONLY at the write's line); -1 if each is used.
 */
function unusedEnd(source: string, around: readonly number[], to: number): number {
  for (const at of around) {
    const helper = nextUse(source, at, to);
    if (helper !== undefined && helper.use === null) return helper.end;
  }
  return -1;
}

/**
 * Commands without the flag stale that redis refuses in any script (noscript): that error comes
 * before the stale replica's, and the server behind gives it too.
 */
export const NOSCRIPT = new Set(['BGREWRITEAOF', 'BGSAVE', 'SAVE', 'SYNC', 'PSYNC', 'WAIT', 'BLPOP', 'BRPOP', 'BLMOVE', 'BRPOPLPUSH', 'BZPOPMIN', 'BZPOPMAX']);

/** A call a stale replica refuses in a script it runs (scriptVerifyAllowStale): of a command without the flag stale. */
export const staleFails: CallFails = (name, flags) => (flags === undefined || CONTAINERS.has(name) || NOSCRIPT.has(name) ? undefined : !flags.includes('s'));


/**
 * A call a cluster node whose cluster is down refuses in a script it runs (scriptVerifyClusterState):
 * one naming a key (`writes`: a write naming one, the node serving reads), not sharded pub/sub;
 * undefined for a command with subcommands (its keys not read here), one redis 7.0 does not know
 * or refuses in any script (the server behind says so too).
 */
export const downFails = (writes: boolean): CallFails => (name, flags) =>
  flags === undefined || CONTAINERS.has(name) || NOSCRIPT.has(name) ? undefined : flags.includes('k') && (!writes || flags.includes('w')) && !PUBSUB_SHARD.has(name);
