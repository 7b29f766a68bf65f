/**
 * Which reply is a quiet meta command's (mg, ms, md, ma with the `q` flag). memcached 1.6.18
 * answers one only when it hits or fails (checked on the server): mg's miss (EN) is silent, its
 * hit answered (HD, or VA with v); ms's, md's and ma's success (HD; ma's VA too) is silent, their
 * failure answered (NS, EX, NF; ma's auto-created item with N: HD or VA). A reply echoes the
 * request's opaque with O and its key with k, an error line neither: which request an error line
 * is for, what each could be refused for says (memcache-meta-errors.ts). mn (answered MN) and me
 * are never quiet.
 */
import { type Command, type MetaFlags, startsWith, words } from './memcache-lines.js';
import { runtimeErrors } from './memcache-meta-errors.js';
import type { Quiet } from './memcache-quiet.js';

export interface QuietMeta extends Quiet {
  label: string;
  meta: MetaFlags;
}

/** The codes a quiet meta command may be answered with, besides an error line. */
const QUIET_CODES: Record<string, readonly string[]> = {
  mg: ['VA', 'HD'],
  ms: ['NS', 'EX', 'NF'],
  md: ['NF', 'EX'],
  ma: ['HD', 'VA', 'NF', 'NS', 'EX'],
};

/** The codes a meta command without `q` may be answered with, besides an error line. */
const CODES: Record<string, readonly string[]> = {
  mg: ['VA', 'HD', 'EN'],
  ms: ['HD', 'NS', 'EX', 'NF'],
  md: ['HD', 'NF', 'EX'],
  ma: ['HD', 'VA', 'NF', 'NS', 'EX'],
};

function isErrorLine(buf: Buffer, s: number, e: number): boolean {
  return startsWith(buf, s, e, 'ERROR') || startsWith(buf, s, e, 'CLIENT_ERROR') || startsWith(buf, s, e, 'SERVER_ERROR');
}

/**
 * Whether the reply line buf[s, e) can be `q`'s: a code it may get, the opaque and key it echoes
 * (none when it asked for none). A line memcached refuses is answered, whatever comes next is its
 * reply; an error line is otherwise the reply of a request the cache's state may fail that way
 * (an ms too large, an ma on a string), so one no quiet request waiting may get (ERROR for an
 * unknown command, a classic get's) passes them all by, to the request without q it is for. Of
 * two quiet ones that may both get it (two ms q, memory full) the older takes it, as a client
 * reading them would: which of the two, nothing on the wire says, and either way the replies after
 * find their requests, the other quiet one's none.
 */
export function answersQuiet(buf: Buffer, s: number, e: number, q: QuietMeta): boolean {
  if (q.meta.refused !== undefined) return true;
  if (isErrorLine(buf, s, e)) return runtimeErrors(q.label).includes(buf.toString('latin1', s, e));
  const w = words(buf, s, e);
  if (!QUIET_CODES[q.label].includes(w[0])) return false;
  let opaque: string | undefined;
  let key: string | undefined;
  for (let i = 1; i < w.length; i++) {
    if (w[i][0] === 'O') opaque = w[i].slice(1);
    else if (w[i][0] === 'k') key = w[i].slice(1);
  }
  return opaque === q.meta.opaque && key === (q.meta.returnsKey ? q.meta.key : undefined);
}

/**
 * Why a reply to `cmd`, a command without `q` sent behind `q` still waiting, could be taken for
 * `q`'s, or undefined when it cannot: an error line both may get (an ms's and a set's out of
 * memory), or the same codes with neither the opaque nor the key telling them apart. A refused
 * `q` takes the next reply whatever it is.
 */
export function confusable(cmd: Command, q: QuietMeta): string | undefined {
  if (q.meta.refused !== undefined) return undefined;
  const errs = runtimeErrors(q.label);
  const both = errs.length > 0 ? runtimeErrors(cmd.label).find((x) => errs.includes(x)) : undefined;
  if (both !== undefined) return `both may get "${both}", which says neither opaque nor key`;
  const m = cmd.meta;
  const codes = CODES[cmd.label];
  if (m === undefined || codes === undefined || m.opaque !== q.meta.opaque || m.returnsKey !== q.meta.returnsKey) return undefined;
  if (m.returnsKey && m.key !== q.meta.key) return undefined;
  return codes.some((c) => QUIET_CODES[q.label].includes(c)) ? 'no opaque or key to tell their replies apart' : undefined;
}
