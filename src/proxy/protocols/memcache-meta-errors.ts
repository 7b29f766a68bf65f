/**
 * The error lines memcached 1.6.18 answers a meta command with (mg, ms, md, ma), quiet or not:
 * none echoes the opaque (O) or the key (k), so which request an error line is for only what the
 * request could be refused for says. Two kinds, checked on the server:
 * - a line memcached refuses before it looks at the cache (key over 250 bytes, more than 19
 *   words, an unknown or repeated flag, a flag's bad number, a bad M mode, an opaque over 32
 *   bytes, a b key that is not base64, ms's bad size): refusal() reads it from the line as
 *   memcached's tokenizer, _meta_flag_preparse and safe_strto* read it. Such a request is
 *   answered with an error even with q, and nothing else: its reply is certain.
 * - an error the cache's state makes (RUNTIME): an ms too large for -I or with memory full under
 *   -M, or its data not ending in CRLF; an ma on a value that is not a number, or needing memory
 *   there is none of; an mg on an item held by some 60000 references at once (REFCOUNT_OVERFLOW:
 *   replies queued to clients that do not read them; a classic get reads it as a miss). md never.
 *   An ms whose chunked item runs out of memory as it is read ("SERVER_ERROR Out of memory during
 *   read") is silent with q, as memcached squelches it.
 * Classic commands sharing those texts (set and the like, incr and decr) have them too.
 */

const BAD_FORMAT = 'CLIENT_ERROR bad command line format';
const BAD_TOKEN = 'CLIENT_ERROR bad token in command line format';
const KEY_MAX = 250;
/** memcached's tokenizer stops at 24 tokens, the last the rest of the line. */
const MAX_TOKENS = 24;
/** More tokens than this (the command and its terminal token counted) is refused. */
const MAX_OPT_TOKENS = 20;
const MAX_OPAQUE = 32;

const STORE_ERRORS = ['SERVER_ERROR object too large for cache', 'SERVER_ERROR out of memory storing object', 'CLIENT_ERROR bad data chunk'];
const ARITH_ERRORS = ['CLIENT_ERROR cannot increment or decrement non-numeric value', 'SERVER_ERROR out of memory'];

/** process_mget_command's, with or without q, when limited_get finds over 60000 references to the item. */
export const REFCOUNT_OVERFLOW = 'SERVER_ERROR refcount overflow during fetch';

/** The error lines a command the server does not refuse may still get, by its label. */
const RUNTIME: Record<string, readonly string[]> = {
  mg: [REFCOUNT_OVERFLOW],
  ms: STORE_ERRORS,
  ma: [...ARITH_ERRORS, 'SERVER_ERROR Out of memory allocating new item'],
  set: STORE_ERRORS,
  add: STORE_ERRORS,
  replace: STORE_ERRORS,
  append: STORE_ERRORS,
  prepend: STORE_ERRORS,
  cas: STORE_ERRORS,
  incr: ARITH_ERRORS,
  decr: ARITH_ERRORS,
};
const NONE: readonly string[] = [];

export function runtimeErrors(label: string): readonly string[] {
  return RUNTIME[label] ?? NONE;
}

// ---- numbers as memcached's safe_strtol, safe_strtoul and safe_strtoull read them (glibc's
// strtol: leading white space, a sign, digits; then the end or white space)
const NUMBER = /^[\t\n\v\f\r ]*([+-]?)(\d+)(?:[\t\n\v\f\r ]|$)/;
const I64 = 1n << 63n;
const U64 = 1n << 64n;

function signed(s: string): bigint | undefined {
  const m = NUMBER.exec(s);
  if (!m) return undefined;
  const v = m[1] === '-' ? -BigInt(m[2]) : BigInt(m[2]);
  return v >= I64 || v < -I64 ? undefined : v;
}

function unsigned(s: string): boolean {
  const m = NUMBER.exec(s);
  if (!m) return false;
  const v = BigInt(m[2]);
  if (v >= U64) return false;
  // strtoul negates a '-' number; memcached refuses it only when that reads negative.
  const got = m[1] === '-' ? (U64 - v) % U64 : v;
  return !(m[1] === '-' && got >= I64);
}

/**
 * The data size of a set, add, replace, append, prepend or cas line of the right word count (`w`,
 * the command first) as memcached's process_update_command reads it, or -1 when it refuses the
 * line before the data block: "CLIENT_ERROR bad command line format" (silent with noreply), and
 * what follows the line is the next command, nothing swallowed (checked). Its numbers are read
 * as glibc reads them, not as digits: flags and cas unique with strtoul ("+5" and "-0" taken, a
 * flags up to 2^64 cut to 32 bits), exptime with strtol into 64 bits, the size as ms's. A line it
 * takes whose item it cannot store (too large, out of memory) has its data block swallowed.
 */
export function storeSize(w: readonly string[]): number {
  if (w[1].length > KEY_MAX || !unsigned(w[2]) || signed(w[3]) === undefined) return -1;
  if (w[0] === 'cas' && !unsigned(w[5])) return -1;
  return msSize(w[4]);
}

/**
 * Whether memcached refuses an incr or decr line (`w`, the command first) before it looks at the
 * cache (checked): a wrong word count ("ERROR"), a key over 250 bytes ("CLIENT_ERROR bad command
 * line format"), a delta safe_strtoull does not read ("CLIENT_ERROR invalid numeric delta
 * argument"; "+1" and "-0" it reads).
 */
export function arithRefused(w: readonly string[]): boolean {
  return (w.length !== 3 && w.length !== 4) || w[1].length > KEY_MAX || !unsigned(w[2]);
}

/** ms's data size as memcached reads it (safe_strtol into an int32), or -1 when it refuses it. */
export function msSize(word: string | undefined): number {
  const v = word === undefined ? undefined : signed(word);
  if (v === undefined) return -1;
  const i32 = Number(BigInt.asIntN(32, v));
  return i32 < 0 || i32 > 2 ** 31 - 1 - 2 ? -1 : i32;
}

const B64 = /[A-Za-z0-9+/=]/;

/** Whether base64_decode (memcached's, which skips other bytes) decodes `key` to something. */
function decodes(key: string): boolean {
  let count = 0;
  for (const ch of key) if (B64.test(ch)) count++;
  if (count === 0 || count % 4 !== 0) return false;
  let n = 0;
  let pad = 0;
  let out = 0;
  for (const ch of key) {
    if (!B64.test(ch)) continue;
    if (ch === '=') pad++;
    if (++n % 4 !== 0) continue;
    out += 3;
    if (pad === 0) continue;
    if (pad > 2) return false;
    return out - pad > 0;
  }
  return out > 0;
}

/** _meta_flag_preparse's error for the flags from words[start], or undefined. */
function preparse(w: readonly string[], start: number): string | undefined {
  const seen = new Set<number>();
  let errstr = BAD_FORMAT;
  let failed = false;
  const bad = (s: string) => {
    errstr = s;
    failed = true;
  };
  for (let i = start; i < w.length; i++) {
    const t = w[i];
    const o = t.charCodeAt(0);
    if (o >= 127 || seen.has(o)) return 'CLIENT_ERROR duplicate flag';
    seen.add(o);
    const rest = t.slice(1);
    switch (t[0]) {
      case 'b':
        if (!decodes(w[1])) bad('CLIENT_ERROR error decoding key');
        break;
      case 'N': case 'T': case 'R':
        if (signed(rest) === undefined) bad(BAD_TOKEN);
        break;
      case 'F':
        // Its failure keeps the message already there.
        if (!unsigned(rest)) failed = true;
        break;
      case 'C':
        if (!unsigned(rest)) bad(BAD_TOKEN);
        break;
      case 'M':
        if (t.length !== 2) bad('CLIENT_ERROR incorrect length for M token');
        break;
      case 'J':
        if (!unsigned(rest)) bad('CLIENT_ERROR invalid numeric initial value');
        break;
      case 'D':
        if (!unsigned(rest)) bad('CLIENT_ERROR invalid numeric delta value');
        break;
      case 'l': case 'O': case 'P': case 'L': case 'k': case 's': case 't': case 'c': case 'f':
      case 'v': case 'h': case 'u': case 'q': case 'I':
        break;
      default:
        return 'CLIENT_ERROR invalid flag';
    }
  }
  return failed ? errstr : undefined;
}

const MS_MODES = 'EAPRS';
const MA_MODES = 'I+D-';

/**
 * The error line memcached answers the meta line `w` (its words, the command first) with before
 * it looks at the cache, or undefined when it does not refuse it. When memcached would go on to
 * the cache and fail there as well (an ma's opaque is checked after its arithmetic), the line
 * given is the refusal's, but the request is refused either way.
 */
export function refusal(w: readonly string[]): string | undefined {
  const label = w[0];
  const ntokens = Math.min(w.length, MAX_TOKENS - 1) + 1;
  if (ntokens < 3) return 'ERROR';
  if (w[1].length > KEY_MAX) return BAD_FORMAT;
  if (label === 'ms' && ntokens === 3) return BAD_FORMAT;
  if (ntokens > MAX_OPT_TOKENS) return label === 'mg' ? 'CLIENT_ERROR options flags are too long' : 'CLIENT_ERROR options flags too long';
  if (label === 'ms' && msSize(w[2]) < 0) return BAD_FORMAT;
  const flags = w.slice(label === 'ms' ? 3 : 2);
  const pre = preparse(w, label === 'ms' ? 3 : 2);
  if (pre !== undefined) return label === 'md' || label === 'ma' ? 'CLIENT_ERROR invalid or duplicate flag' : pre;
  const mode = flags.find((f) => f[0] === 'M')?.[1];
  const longOpaque = flags.some((f) => f[0] === 'O' && f.length > MAX_OPAQUE);
  if (label === 'ms' && mode !== undefined && !MS_MODES.includes(mode)) return 'CLIENT_ERROR invalid mode for ms M token';
  if (label === 'ma' && mode !== undefined && !MA_MODES.includes(mode)) return 'CLIENT_ERROR invalid mode for ma M token';
  return longOpaque ? 'CLIENT_ERROR opaque token too long' : undefined;
}
