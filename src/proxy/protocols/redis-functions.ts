/**
 * What an FCALL or FCALL_RO meets at READONLY, MISCONF, OOM and MASTERDOWN, by the flags of the
 * function it calls. redis-server 7.0 reads a function's flags before it runs it
 * (fcallGetCommandFlags, then processCommand, also as it queues it in a MULTI block): one
 * without `no-writes` is a write (refused by a read-only replica, READONLY even when its master
 * is down, and with stop-writes-on-bgsave-error), one without `no-writes` or `allow-oom` takes
 * memory, one without `allow-stale` is refused by a replica whose master is down. FCALL_RO is
 * judged the same way (its own 'write flag using *_ro' error comes after those checks).
 *
 * The FCALL names the function only: its flags are in the library that declared it, which the
 * proxy reads as it passes (FUNCTION LOAD; DELETE and FLUSH forget), once the server has taken
 * it, for every connection of the proxy (FunctionsSeen). A function it has not seen loaded
 * (before the proxy started, through another route, a library whose source came in pieces or
 * in a MULTI block) is served at READONLY, MISCONF and OOM: a function called by FCALL may well
 * be flagged no-writes (what a replica runs), and a client told READONLY for it would take the
 * server for a replica it is not; a missed write is the lesser harm. FCALL_RO is what clients
 * send for a no-writes function, served likewise (of a function that writes, the server behind
 * refuses it too). At MASTERDOWN an unseen function is refused as before: only one flagged
 * allow-stale runs there, until its first call of a command a stale replica does not serve
 * (GET), which fails with an ERR: read from its callback, written in its registration or a
 * function it names, given that name (or a table's field) in the library's top-level code. A
 * cluster node down stops a function it runs at its first call naming a key, read the same way
 * (redis-cluster-down.ts).
 */
import { depthAt, functionEnd } from './redis-lua.js';
import { STAR, wordAt } from './redis-resp.js';
import { downFails, failingCall, staleFails, type CallFails } from './redis-script-calls.js';

/** The kinds a function's flags decide. */
export const FUNCTION_KINDS = new Set(['READONLY', 'MISCONF', 'OOM', 'MASTERDOWN']);

/**
 * A library as its source declares it: its name, each function's flags (n no-writes, o allow-oom,
 * s allow-stale), and where a function stops, after the error's line as redis says it ('' for a
 * returned pcall): on a stale replica, one flagged no-writes and allow-stale (staleCalls); on a
 * cluster node down, called with no key, at its first call naming a key (downCalls), or when the
 * node serves reads, one not flagged no-writes at its first write naming one (downWrites).
 */
export interface Library {
  name: string;
  functions: Map<string, string>;
  staleCalls: Map<string, string>;
  downCalls: Map<string, string>;
  downWrites: Map<string, string>;
}

/** What a Library holds by function name: what FunctionsSeen keeps of every library. */
const BY_FUNCTION = ['functions', 'staleCalls', 'downCalls', 'downWrites'] as const;

/** The functions a proxy saw loaded, shared by its connections (a pool loads on one and calls on another). */
export class FunctionsSeen {
  /**
   * By upper-case function name (redis finds them whatever their case): their flags, and where
   * each stops (Library's maps of the same names).
   */
  private readonly seen: Omit<Library, 'name'> = { functions: new Map(), staleCalls: new Map(), downCalls: new Map(), downWrites: new Map() };
  /** Library names (their case is theirs) and the functions each declared. */
  private readonly libraries = new Map<string, readonly string[]>();

  loaded(lib: Library): void {
    this.deleted(lib.name);
    for (const k of BY_FUNCTION) for (const [name, v] of lib[k]) this.seen[k].set(name, v);
    this.libraries.set(lib.name, [...lib.functions.keys()]);
  }

  deleted(library: string): void {
    for (const name of this.libraries.get(library) ?? []) for (const k of BY_FUNCTION) this.seen[k].delete(name);
    this.libraries.delete(library);
  }

  flushed(): void {
    for (const k of BY_FUNCTION) this.seen[k].clear();
    this.libraries.clear();
  }

  /** The flags of the function FCALL `request` (its first segment) calls; undefined when not seen loaded. */
  flagsOf(request: Buffer): string | undefined {
    return this.seen.functions.get(this.nameOf(request));
  }

  /** Where the function FCALL `request` calls stops on a stale replica (Library.staleCalls); undefined when it runs, or not known. */
  staleCallOf(request: Buffer): string | undefined {
    return this.seen.staleCalls.get(this.nameOf(request));
  }

  /** Where the function FCALL `request` calls stops on a cluster node down (Library.downCalls; `writes`: downWrites); undefined when it runs, or not known. */
  downCallOf(request: Buffer, writes: boolean): string | undefined {
    return (writes ? this.seen.downWrites : this.seen.downCalls).get(this.nameOf(request));
  }

  private nameOf(request: Buffer): string {
    const at = wordAt(request, 1);
    return at ? request.toString('latin1', at[0], at[1]).toUpperCase() : '';
  }
}

/**
 * Whether a redis in the state `kind` (FUNCTION_KINDS) refuses a function of flags `flags`
 * (undefined: not seen); `staleCall`: where a stale replica stops it (FunctionsSeen.staleCallOf).
 */
export function functionRefused(kind: string, flags: string | undefined, staleCall?: string): boolean {
  if (flags === undefined) return kind === 'MASTERDOWN';
  if (kind === 'MASTERDOWN') return !(flags.includes('n') && flags.includes('s')) || staleCall !== undefined;
  return !flags.includes('n') && !(kind === 'OOM' && flags.includes('o'));
}

/** Whether a function of flags `flags` is a write (undefined: not seen; `label`'s FCALL is taken for one, FCALL_RO not). */
export function functionWrites(label: string, flags: string | undefined): boolean {
  return flags === undefined ? label === 'FCALL' : !flags.includes('n');
}

const SHEBANG = /^#!\w+[^\n]*?\bname=(\S+)/;
const REGISTER = /redis\s*\.\s*register_function\s*(?:\(\s*(['"])([^'"\s]+)\1|\(?\s*\{)/g;
const NAMED = /\bfunction_name\s*=\s*(['"])([^'"\s]+)\1/;
const FLAGS = /\bflags\s*=\s*(?:\{([^}]*)\})?/;
const FLAG_LETTERS: Record<string, string> = { 'no-writes': 'n', 'allow-oom': 'o', 'allow-stale': 's' };
/** A callback written in the registration's table (`callback = function (...) ... end`), or named (`callback = h`, `callback = M.get`). */
const TABLE_CALLBACK: Callback = [/\bcallback\s*=\s*function\b/, /\bcallback\s*=\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*[,;}]/];
/** A positional registration's callback, after its name: `, function (...) ... end)` or `, h)`. */
const ARGUMENT_CALLBACK: Callback = [/^\s*,\s*function\b/, /^\s*,\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\)/];
/** How a registration gives its callback: written there (up to its `function` word), or named (the name). */
type Callback = [written: RegExp, named: RegExp];
/**
 * Where function `name` whose callback's `function` word is at `at` in the library's `source`
 * stops: at its first call `fails` says fails, said ' script: <name>, on @user_function:<line of
 * the library>.' ('' for a returned pcall); undefined when it runs, or the proxy cannot tell.
 */
function stopsIn(source: string, name: string, at: number, fails: CallFails): string | undefined {
  const end = functionEnd(source, at);
  // Its body, after its `function` word: a function written there is another.
  const line = end < 0 ? undefined : failingCall(source, fails, at + 'function'.length, end);
  if (line === undefined) return undefined;
  return line === 0 ? '' : ` script: ${name}, on @user_function:${line}.`;
}

/**
 * Where the `function` word of the callback of the registration at `at` in `source` is, its table
 * (or, positional, what follows its name) `table` starting at `from`, given `as` one or the other
 * gives it: written there, or named there (`h`, a table's field `M.get`) and given a function
 * before, in the library's top-level code (`local function h(...)`, `local h =
 * function (...)`, `h = function (...)` after `local h`, `function M.get(...)`, `M.get = function
 * (...)`). A library's top-level code runs in order as it loads, with nothing to read but its
 * source, and cannot set globals (redis refuses the load: 'Attempt to modify a readonly table', as
 * it refuses a callback named before its definition), so the registration takes the last such
 * assignment ahead of it. Undefined when the proxy cannot tell, served as before: the last
 * assignment is another (`h = g`, `local a, h = 1, function ...`, a factory's `h = make()`: which
 * function that is takes running the code), or the name is assigned inside a block (a function
 * that may or may not run by then, an `if`), or the registration is.
 */
function callbackAt(source: string, table: string, from: number, at: number, as: Callback): number | undefined {
  const [writtenAs, namedAs] = as;
  const written = writtenAs.exec(table);
  if (written !== null) return from + written.index + written[0].length - 'function'.length;
  const name = namedAs.exec(table)?.[1].replaceAll('.', '\\.');
  if (name === undefined || depthAt(source, at) !== 0) return undefined;
  // A function given to the name (group 1), or anything else assigned or declared so.
  const assigned = new RegExp(`(?<![\\w.:])(?:((?:local\\s+)?function\\s+${name}\\s*\\(|(?:local\\s+)?${name}\\s*=\\s*function\\b)|(?:local\\s+)?${name}\\s*=(?!=)|local\\s+${name}\\b)`, 'g');
  let found: number | undefined;
  for (const d of source.slice(0, at).matchAll(assigned)) {
    const depth = depthAt(source, d.index!);
    // One in a comment or a string assigns nothing.
    if (depth < 0) continue;
    if (depth > 0) return undefined;
    // The `function` word: the first, or the last (a name may hold the word).
    found = d[1] === undefined ? undefined : d.index! + (d[0].endsWith('function') ? d[0].length - 'function'.length : d[0].search(/function/));
  }
  return found;
}

/**
 * The library a FUNCTION LOAD's `source` declares: `redis.register_function('f', cb)` has no
 * flags, `redis.register_function{function_name='f', callback=cb, flags={'no-writes'}}` those
 * listed (read up to the next registration). A registration whose name or flags are not literals
 * is left out (not seen). Undefined without a shebang naming the library (the server refuses it).
 */
export function readLibrary(source: string): Library | undefined {
  const name = SHEBANG.exec(source)?.[1];
  if (name === undefined) return undefined;
  const lib: Library = { name, functions: new Map(), staleCalls: new Map(), downCalls: new Map(), downWrites: new Map() };
  const calls = [...source.matchAll(REGISTER)];
  calls.forEach((m, i) => {
    const from = m.index! + m[0].length;
    const table = source.slice(from, calls[i + 1]?.index ?? source.length);
    if (m[2] !== undefined) {
      stopsOf(lib, source, m[2].toUpperCase(), m[2], '', callbackAt(source, table, from, m.index!, ARGUMENT_CALLBACK));
      return;
    }
    const fn = NAMED.exec(table)?.[2];
    const listed = FLAGS.exec(table);
    if (fn === undefined || (listed !== null && listed[1] === undefined)) return;
    let flags = '';
    for (const f of (listed?.[1] ?? '').matchAll(/(['"])([\w-]+)\1/g)) flags += FLAG_LETTERS[f[2]] ?? '';
    stopsOf(lib, source, fn.toUpperCase(), fn, flags, callbackAt(source, table, from, m.index!, TABLE_CALLBACK));
  });
  return lib;
}

/** Function `fn` (`key` upper case) of flags `flags` into `lib`, and where its callback, whose `function` word is at `callback` in `source`, stops. */
function stopsOf(lib: Library, source: string, key: string, fn: string, flags: string, callback: number | undefined): void {
  lib.functions.set(key, flags);
  if (callback === undefined) return;
  const note = (stops: Map<string, string>, fails: CallFails) => {
    const at = stopsIn(source, fn, callback, fails);
    if (at !== undefined) stops.set(key, at);
  };
  // Only a function flagged no-writes and allow-stale runs on a stale replica (a positional registration has no flags).
  if (flags.includes('n') && flags.includes('s')) note(lib.staleCalls, staleFails);
  note(lib.downCalls, downFails(false));
  // One flagged no-writes fails at a write as a read-only script does, first.
  if (!flags.includes('n')) note(lib.downWrites, downFails(true));
}

/**
 * What a FUNCTION `sub` request changes in the functions seen once the server takes it: LOAD
 * (its source the last of its `count` words), DELETE, FLUSH. `request` begins with the request
 * and holds what of it has come: a source not all there is not read (its functions not seen).
 */
export function functionsChange(request: Buffer, sub: string, count: number): ((seen: FunctionsSeen) => void) | undefined {
  if (sub === 'FLUSH') return (seen) => seen.flushed();
  // An inline LOAD's source would be read without its escapes: left unread.
  const at = count === 3 || (count === 4 && request[0] === STAR) ? wordAt(request, count - 1) : undefined;
  if (at === undefined) return undefined;
  const word = request.toString('latin1', at[0], at[1]);
  if (sub === 'DELETE') return count === 3 ? (seen) => seen.deleted(word) : undefined;
  const lib = sub === 'LOAD' && request[0] === STAR ? readLibrary(word) : undefined;
  return lib && ((seen) => seen.loaded(lib));
}
