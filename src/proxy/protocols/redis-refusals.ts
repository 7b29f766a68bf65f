/**
 * Which commands a real redis in the state an error kind stands for refuses with it, by the
 * rules of redis-server 7.0's processCommand and the commands' flags (redis-commands.ts): a
 * loading server still serves HELLO, AUTH, SELECT, INFO ... (flag `loading`), a read-only
 * replica refuses writes only, maxmemory refuses `denyoom` commands, and so on. A command the
 * server would serve passes untouched: a client asking for READONLY gets what a replica does,
 * reads working, and one at 100:error LOADING can still connect, as it would to a loading redis.
 */
import { downScriptRefused, READS_WHEN_DOWN, SLOT_NOT_SERVED } from './redis-cluster-down.js';
import { arityFits, COMMAND_FLAGS, CONTAINERS, PUBSUB_SHARD } from './redis-commands.js';
import { EVALS, SCRIPT_KINDS, scriptRefused, shebangOf, staleScriptRefused } from './redis-scripts.js';
import type { ScriptsSeen } from './redis-scripts-seen.js';
import { FUNCTION_KINDS, functionRefused, functionWrites, type FunctionsSeen } from './redis-functions.js';
import { ARGC_COUNTED, keysAtMost, keysSpread, SCRIPTS, Spread } from './redis-keys.js';
import { EMPTY, inlineWords, lengthLine, STAR, wordAt } from './redis-resp.js';
import { findLF } from './find-lf.js';

/**
 * Whether a command with the given flags (redis-commands.ts' letters) is refused with `kind`;
 * `name` is the command's, or `CONTAINER|SUB` for a subcommand, `request` its first segment.
 * ERR, NOSCRIPT and unknown kinds: see refuses.
 */
const RULES: Record<string, (flags: string, name: string, request: Buffer) => boolean> = {
  LOADING: (f) => !f.includes('l'),
  // EVAL, EVALSHA and their _RO forms: scriptRefused; FCALL and FCALL_RO: functionRefused, by the function's flags.
  READONLY: (f) => f.includes('w'),
  OOM: (f) => f.includes('o'),
  // The kind stands for an EVAL script: FUNCTION STATS and FUNCTION KILL, which processCommand
  // lets through (allow_busy), answer BUSY themselves while one runs.
  BUSY: (f, name) => !f.includes('b') || name === 'FUNCTION|STATS' || name === 'FUNCTION|KILL',
  // A script without a shebang (what clients send) is checked as it starts, whatever EVAL's flag
  // stale says; one with a shebang by its flags (redis-scripts.ts' shebangOf), a function's by its
  // own (redis-functions.ts).
  MASTERDOWN: (f, name) => !f.includes('s') || SCRIPTS.has(name),
  // stop-writes-on-bgsave-error refuses writes, and PING (so that a monitor sees it).
  MISCONF: (f, name) => f.includes('w') || name === 'PING',
  // HELLO (no_auth) answers NOAUTH itself unless it authenticates (HELLO 3 AUTH user pass).
  NOAUTH: (f, name, request) => !f.includes('a') || (name === 'HELLO' && wordOf(request, 2) !== 'AUTH' && wordOf(request, 4) !== 'AUTH'),
  // A cluster answers for the slots of the keys a request names (refuses: keysAtMost, keysSpread): one without keys it serves itself.
  CLUSTERDOWN: (f, name) => f.includes('k') && !PUBSUB_SHARD.has(name),
  // Only a request whose keys span a slot being moved: one naming a single key (MGET k k too: keysSpread) never.
  TRYAGAIN: (f, name) => f.includes('m') && !PUBSUB_SHARD.has(name),
};

/*
 * Sharded pub/sub (PUBSUB_SHARD), whose channels are keys to a cluster node: served while the
 * cluster is down (cluster-allow-pubsubshard-when-down, yes by default) when the channel's slot is
 * assigned, as the cluster kinds stand for, and never TRYAGAIN (a channel is no key a moved slot
 * may lack). Queued in a block it is a key as any other: the node reads an EXEC's keys as a request's.
 *
 * A CLUSTERDOWN said SLOT_NOT_SERVED (a behavior's message) stands for a node that finds no node
 * serving the slot of a request's first key (getNodeByQuery's CLUSTER_REDIR_DOWN_UNBOUND): it says
 * so as it reads that key, before it compares the others (keys of several slots: no CROSSSLOT) or
 * looks at the cluster's state (sharded pub/sub too), up or down alike. A block's EXEC the same,
 * by its first key.
 *
 * A CLUSTERDOWN said READS_WHEN_DOWN stands for a node that serves reads while its cluster is down
 * (cluster-allow-reads-when-down yes): getNodeByQuery refuses a request naming keys only when the
 * command is a write as processCommand flags it (writeWhenDown), and the EXEC of a block never (its
 * own flags: a block queued while up runs; a write queued while down is refused as it is queued).
 * A script it runs, and one naming no key at the default line, stop at their first call the down
 * node refuses (redis-cluster-down.ts).
 */

/**
 * Whether request `name` (its flags `flags`) is a write to a node serving reads while down: a
 * script by its shebang (EVAL's own flags without one: it runs, and fails at its first write), a
 * function by its flags as `functions` saw it loaded (one not seen runs, as at READONLY).
 */
function writeWhenDown(name: string, flags: string, request: Buffer, functions?: FunctionsSeen, scripts?: ScriptsSeen): boolean {
  if (EVALS.has(name)) return shebangOf(name, request, scripts)?.includes('no-writes') === false;
  if (name === 'FCALL' || name === 'FCALL_RO') return functions?.flagsOf(request)?.includes('n') === false;
  return flags.includes('w');
}

/**
 * How the keys of a request (or of a block, for its EXEC) must lie at least for the cluster kind
 * to meet it; keys of several slots (Spread.Slots) it never meets.
 */
const KEYS_MET: Record<string, Spread> = { CLUSTERDOWN: Spread.One, TRYAGAIN: Spread.Slot };

/**
 * Whether a real redis in the state `kind` stands for refuses the request `label` (its command
 * word, as framed) whose first segment is `request`. ERR (a generic error) can meet any
 * command; NOSCRIPT only EVALSHA's. A command or subcommand redis 7.0 does not name (a
 * module's, a later version's: CLIENT SETINFO) passes: processCommand answers 'unknown command'
 * before it looks at any state, so a redis 7.0 in that state answers it as the server behind
 * does (one that knows it serves it, whatever its flags would say). So does a request of the
 * wrong number of arguments for its command (SET k): processCommand checks the arity next, and
 * answers 'wrong number of arguments' in every state, as the server behind does (ERR, a generic
 * error, may still meet it). EXEC: refusesExec, for the block the session kept, or none.
 * `queued`: the request is queued in a MULTI block, where a redis over maxmemory refuses any
 * command but QUIT (queueing takes memory; EXEC, DISCARD and RESET end the block). An EVAL's
 * script is read for its writes (redis-scripts.ts; in a block, one without a shebang fails as EXEC
 * runs it: the session sends one that fails so, redis-errors.ts' failingScript), an EVALSHA's as
 * its EVAL's when `scripts` saw it, an FCALL's function judged by the flags `functions` saw it
 * loaded with (redis-functions.ts). CLUSTERDOWN and TRYAGAIN meet it by the keys it names (keysAtMost,
 * keysSpread): a request naming keys of several slots passes, as a cluster node answers it
 * CROSSSLOT before it looks at its state (the server behind says so, one of a cluster), unless
 * `message`, the behavior's text for the error, says its first key's slot is not served; when it
 * says the cluster only accepts read commands, only writes are refused (READS_WHEN_DOWN).
 */
export function refuses(kind: string, label: string | undefined, request: Buffer, queued = false, functions?: FunctionsSeen, scripts?: ScriptsSeen, message?: string): boolean {
  if (kind === 'NOSCRIPT') return (label === 'EVALSHA' || label === 'EVALSHA_RO') && arityFits(label, argcOf(request));
  const rule = RULES[kind];
  if (rule === undefined || label === undefined || label === 'EXEC') return true;
  let name = label;
  if (CONTAINERS.has(label)) {
    const sub = wordOf(request, 1);
    // CONFIG alone: its arity error comes first too.
    if (sub === undefined) return false;
    name = `${label}|${sub}`;
  }
  const flags = COMMAND_FLAGS[name];
  const argc = argcOf(request);
  if (flags === undefined || !arityFits(name, argc)) return false;
  if (kind in KEYS_MET) {
    const keys = keysAtMost(name, argc, SCRIPTS.has(name) ? wordOf(request, 2) : undefined);
    // Keys of several slots get CROSSSLOT first, in any state: the node behind says it, one of a cluster.
    const spread = keys === 0 ? Spread.None : keys === 1 ? Spread.One : keysSpread(name, request, argc, keys);
    // A script the down node runs, whatever keys it names (none at the default line), to a call it refuses.
    if (kind === 'CLUSTERDOWN' && spread !== Spread.Slots && SCRIPTS.has(name) && downScriptRefused(name, request, message, scripts, functions) !== undefined) return true;
    if (spread < KEYS_MET[kind]) return false;
    if (kind === 'CLUSTERDOWN' && message === SLOT_NOT_SERVED) return true;
    if (spread === Spread.Slots) return false;
    if (kind === 'CLUSTERDOWN' && message === READS_WHEN_DOWN) return writeWhenDown(name, flags, request, functions, scripts);
  }
  if (queued && kind === 'OOM') return label !== 'QUIT';
  // An EVALSHA of a script not seen passes (redis-scripts.ts).
  if (SCRIPT_KINDS.has(kind) && EVALS.has(name)) return scriptRefused(kind, name, request, scripts) !== undefined;
  const shebang = kind === 'MASTERDOWN' && EVALS.has(name) ? shebangOf(name, request, scripts) : undefined;
  if (shebang !== undefined) return !(shebang.includes('no-writes') && shebang.includes('allow-stale')) || staleScriptRefused(name, request, scripts) !== undefined;
  if ((name === 'FCALL' || name === 'FCALL_RO') && FUNCTION_KINDS.has(kind)) return functionRefused(kind, functions?.flagsOf(request), functions?.staleCallOf(request));
  return rule(flags, name, request);
}

/**
 * Whether a real redis in the state `kind` stands for refuses the EXEC of a block that queued
 * the commands `queued` (their labels): by EXEC's own flags (BUSY, NOAUTH), or by theirs, as
 * processCommand reads a block's (a read-only replica refuses the EXEC of a block with a write,
 * a loading server that of a block with a command it does not serve then, the EXEC of an empty
 * block, or of none, of neither). NOSCRIPT is an EVALSHA's own error as it runs, in EXEC's reply.
 * After a command refused as it was queued the server's block holds nothing more: `queued` are
 * those before it (redis-multi.ts), and a redis that does not refuse the EXEC says 'previous errors'.
 * A cluster node reads the keys of the block's commands as one request's: `keys`, how they lie
 * (redis-keys.ts' BlockKeys: MGET k k then GET k name one key, GET {t}x then GET {t}y several of
 * a slot, GET {t}x then GET {u}x several slots, CROSSSLOT in any state) decide CLUSTERDOWN and TRYAGAIN.
 */
export function refusesExec(kind: string, queued: readonly string[], keys = Spread.Slot, message?: string): boolean {
  if (kind === 'NOSCRIPT') return false;
  const rule = RULES[kind];
  if (rule === undefined || rule(COMMAND_FLAGS.EXEC, 'EXEC', EMPTY)) return true;
  if (kind === 'CLUSTERDOWN' && message === READS_WHEN_DOWN) return false;
  if (kind in KEYS_MET) return keys >= KEYS_MET[kind] && (keys !== Spread.Slots || (kind === 'CLUSTERDOWN' && message === SLOT_NOT_SERVED));
  for (const label of queued) {
    // A subcommand's flags are not kept, nor those past MAX_QUEUED_LABELS (''): no knowing.
    if (label === '' || CONTAINERS.has(label)) return true;
    const flags = COMMAND_FLAGS[label];
    // One redis 7.0 does not know: it aborted the block as it was queued, here as there (the server behind too).
    if (flags === undefined) continue;
    // A known one as the block's flags, not as a command: a queued PING is no write (MISCONF).
    if (rule(flags, 'EXEC', EMPTY)) return true;
  }
  return false;
}

/**
 * The kind a refusal of `label` is said with. A replica whose master is down is read-only unless
 * told otherwise (replica-read-only yes), and processCommand refuses writes READONLY before it
 * looks at the link: MASTERDOWN says READONLY to a write, a call of a function without no-writes
 * (as `functions` saw it; one not seen: FCALL's, not FCALL_RO's), a script whose shebang lacks
 * no-writes (an EVALSHA's as `scripts` saw it), and the EXEC of a block that `queued` one.
 */
export function saidAs(kind: string, label: string | undefined, request: Buffer, queued?: readonly string[], functions?: FunctionsSeen, scripts?: ScriptsSeen): string {
  if (kind !== 'MASTERDOWN' || label === undefined) return kind;
  const writes = queued !== undefined
    ? queued.some((l) => !CONTAINERS.has(l) && COMMAND_FLAGS[l]?.includes('w'))
    : label === 'FCALL' || label === 'FCALL_RO'
      ? functionWrites(label, functions?.flagsOf(request))
      : EVALS.has(label)
        ? shebangOf(label, request, scripts)?.includes('no-writes') === false
        : (COMMAND_FLAGS[CONTAINERS.has(label) ? `${label}|${wordOf(request, 1)}` : label] ?? '').includes('w');
  return writes ? 'READONLY' : kind;
}

const WORDS: number[] = [];

/** How many words a request has, its command's name with them (up to ARGC_COUNTED); -1 when its first segment does not say. */
function argcOf(req: Buffer): number {
  const lf = findLF(req, 0);
  if (req[0] === STAR) return lf < 0 ? -1 : lengthLine(req, 1, lf) ?? -1;
  return inlineWords(req, 0, lf < 0 ? req.length : lf, ARGC_COUNTED, WORDS) / 2;
}

/** Word `n` of a request (1: its subcommand), upper case; undefined when it has none or its first segment does not hold it. */
function wordOf(req: Buffer, n: number): string | undefined {
  const at = wordAt(req, n);
  return at && req.toString('latin1', at[0], at[1]).toUpperCase();
}
