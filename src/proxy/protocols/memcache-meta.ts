/**
 * Which reply is a quiet meta command's (mg, ms, md, ma with the `q` flag). memcached 1.6.18
 * answers one only when it hits or fails (checked on the server): mg's miss (EN) is silent, its
 * hit answered (HD, or VA with v); ms's, md's and ma's success (HD; ma's VA too) is silent, their
 * failure answered (NS, EX, NF; ma's auto-created item with N: HD or VA; CLIENT_ERROR for a
 * non-number). A reply echoes the request's opaque with O and its key with k, an error line
 * neither; mn (answered MN) and me are never quiet.
 */
import { type Command, type MetaFlags, startsWith, words } from './memcache-lines.js';
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
 * (none when it asked for none). An error line carries neither: it is taken for the oldest one's,
 * as a client that cannot tell either would take it.
 */
export function answersQuiet(buf: Buffer, s: number, e: number, q: QuietMeta): boolean {
  if (isErrorLine(buf, s, e)) return true;
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
 * Whether a reply to `cmd`, a meta command without `q` sent behind `q` still waiting, could be
 * taken for `q`'s: the same codes, and neither the opaque nor the key tells them apart.
 */
export function confusable(cmd: Command, q: QuietMeta): boolean {
  const m = cmd.meta;
  const codes = CODES[cmd.label];
  if (m === undefined || codes === undefined || m.opaque !== q.meta.opaque || m.returnsKey !== q.meta.returnsKey) return false;
  if (m.returnsKey && m.key !== q.meta.key) return false;
  return codes.some((c) => QUIET_CODES[q.label].includes(c));
}
