/**
 * Which reply is a quiet meta command's (mg, ms, md, ma with the `q` flag). memcached 1.6.18
 * answers one only when it hits or fails (checked on the server): mg's miss (EN) is silent, its
 * hit answered (HD, or VA with v); ms's, md's and ma's success (HD; ma's VA too) is silent, their
 * failure answered (NS, EX, NF; ma's auto-created item with N: HD or VA). mn (answered MN, with
 * or without O or q) and me are never quiet.
 *
 * A reply's shape tells whose it may be: its code and the flags it answers with a word each, in
 * the request's order (checked): an mg hit every one of s t c f l h O k it asked for (then W, X
 * or Z as the item's state has it), a miss O and k; an ms any code O k c; an md O k; an ma's
 * number c t O k, its NF or EX O k. The O word is the request's opaque, the k word its key (then
 * b for a base64 key). An error line has none of them: which request it is for, what each could
 * be refused for says (memcache-meta-errors.ts).
 */
import { FramingError } from '../protocol.js';
import { type Command, type MetaFlags, startsWith, words } from './memcache-lines.js';
import { REFCOUNT_OVERFLOW, runtimeErrors } from './memcache-meta-errors.js';
import type { Quiet } from './memcache-quiet.js';

export interface QuietMeta extends Quiet {
  label: string;
  meta: MetaFlags;
  /** An error line a command without q sent behind it while it waited may get too (sharedLater). */
  shares?: string;
}

/** The flags `m` asked for that a reply answers among `kept`, in its order. */
function echoed(m: MetaFlags, kept: string): string {
  let out = '';
  for (const f of m.echoes) if (kept.includes(f)) out += f;
  return out;
}

/**
 * The shapes ("<code> <flag letters>") memcached may answer `label` with, besides an error line:
 * with `quiet`, those it does not squelch.
 */
function shapes(label: string, m: MetaFlags, quiet: boolean): string[] {
  const hit = m.value ? 'VA' : 'HD';
  const ok = echoed(m, 'Ok');
  switch (label) {
    case 'mg':
      return quiet ? [`${hit} ${echoed(m, 'stcflhOk')}`] : [`${hit} ${echoed(m, 'stcflhOk')}`, `EN ${ok}`];
    case 'ms': {
      const e = echoed(m, 'Okc');
      return (quiet ? ['NS', 'EX', 'NF'] : ['HD', 'NS', 'EX', 'NF']).map((c) => `${c} ${e}`);
    }
    case 'md':
      return (quiet ? ['NF', 'EX'] : ['HD', 'NF', 'EX']).map((c) => `${c} ${ok}`);
    case 'ma':
      return [`${hit} ${echoed(m, 'ctOk')}`, `NF ${ok}`, `NS ${ok}`, `EX ${ok}`];
    default:
      return [];
  }
}

function isErrorLine(buf: Buffer, s: number, e: number): boolean {
  return startsWith(buf, s, e, 'ERROR') || startsWith(buf, s, e, 'CLIENT_ERROR') || startsWith(buf, s, e, 'SERVER_ERROR');
}

/**
 * Whether the reply line buf[s, e) can be `q`'s: a shape it may get, the opaque and key it
 * echoes (none when it asked for none). A line memcached refuses is answered, whatever comes next is its
 * reply; an error line is otherwise the reply of a request the cache's state may fail that way
 * (an ms too large, an ma on a string), so one no quiet request waiting may get (ERROR for an
 * unknown command, a classic get's) passes them all by, to the request without q it is for. Of
 * two quiet ones that may both get it (two ms q, memory full) the older takes it, as a client
 * reading them would: which of the two, nothing on the wire says, and either way the replies after
 * find their requests, the other quiet one's none. Not so the line `q` shares with a command
 * without q sent behind it (sharedLater): a FramingError.
 */
export function answersQuiet(buf: Buffer, s: number, e: number, q: QuietMeta): boolean {
  if (q.meta.refused !== undefined) return true;
  if (isErrorLine(buf, s, e)) {
    const line = buf.toString('latin1', s, e);
    if (line === q.shares) throw new FramingError(`memcache: "${line}" is ${q.label} ... q's or a command's sent behind it; not framed`);
    return runtimeErrors(q.label).includes(line);
  }
  const w = words(buf, s, e);
  let letters = '';
  let opaque: string | undefined;
  let key: string | undefined;
  for (let i = w[0] === 'VA' ? 2 : 1; i < w.length; i++) {
    const t = w[i];
    // A base64 key's b, and the item's state (mg: W won, X stale, Z token sent), say nothing of the request.
    if (t.length === 1 && (t === 'b' ? letters.endsWith('k') : q.label === 'mg' && 'WXZ'.includes(t))) continue;
    letters += t[0];
    if (t[0] === 'O') opaque = t.slice(1);
    else if (t[0] === 'k') key = t.slice(1);
  }
  if (!shapes(q.label, q.meta, true).includes(`${w[0]} ${letters}`)) return false;
  return opaque === q.meta.opaque && key === (q.meta.returnsKey ? q.meta.key : undefined);
}

/**
 * Why a reply to `cmd`, a command without `q` sent behind `q` still waiting, could be taken for
 * `q`'s, or undefined when it cannot: an error line both may get (an ms's and a set's out of
 * memory), or a shape both may answer with (an mg v behind an mg v q: "VA <size>") with neither
 * the opaque nor the key telling them apart. A refused `q` takes the next reply whatever it is.
 */
export function confusable(cmd: Command, q: QuietMeta): string | undefined {
  if (q.meta.refused !== undefined) return undefined;
  const errs = runtimeErrors(q.label);
  // A storage line memcached refuses (no data block), or an incr or decr line, gets its
  // CLIENT_ERROR or ERROR before the cache is looked at: a line no quiet one takes.
  const both = errs.length > 0 && !cmd.refused ? runtimeErrors(cmd.label).find((x) => x !== REFCOUNT_OVERFLOW && errs.includes(x)) : undefined;
  if (both !== undefined) return `both may get "${both}", which says neither opaque nor key`;
  const m = cmd.meta;
  if (m === undefined) return undefined;
  const mine = shapes(q.label, q.meta, true);
  const same = shapes(cmd.label, m, false).find((x) => mine.includes(x));
  if (same === undefined || m.opaque !== q.meta.opaque || (m.returnsKey && m.key !== q.meta.key)) return undefined;
  // Its first reply may be either's (an mg v hit is "VA <size>" for both, the quiet one's miss
  // silent); only the reply after it would tell, and that one comes once the client has had the
  // first: a client waiting for it sends nothing more, so it cannot be held back to see.
  return `both may answer "${same.trimEnd()}", with no opaque or key to tell them apart`;
}

/**
 * The error line `cmd`, a command without `q` sent behind `q` still waiting, and `q` may both
 * get, and that is told only when it comes: an mg's refcount overflow behind an mg q. Which of
 * them it is for nothing says (the quiet one hit the item, or missed another and the other one
 * met it), but it takes some 60000 replies queued to clients that do not read them: falling back
 * at the request, as for a set behind an ms q, would stop chaos on every mg behind an mg q for
 * an error most connections never see. So the quiet one is marked (QuietMeta.shares), and the
 * line, should it come for it, throws a FramingError there (answersQuiet).
 */
export function sharedLater(cmd: Command, q: QuietMeta): string | undefined {
  return cmd.label === 'mg' && q.label === 'mg' && q.meta.refused === undefined ? REFCOUNT_OVERFLOW : undefined;
}
