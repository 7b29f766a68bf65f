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
import { type Command, type MetaFlags, Reply, startsWith, words } from './memcache-lines.js';
import { REFCOUNT_OVERFLOW, runtimeErrors } from './memcache-meta-errors.js';
import type { Quiet } from './memcache-quiet.js';

export interface QuietMeta extends Quiet {
  label: string;
  meta: MetaFlags;
  /**
   * The command without q sent behind it, with no other command answered between, whose reply
   * one of its own may be taken for (twinOf), the codes its replies start with: whose a reply
   * in doubt (inDoubt) is, the line after it says once the command right behind that one tells
   * (`told`, tells()): its reply when the reply in doubt was the other's, the other's reply when
   * it was this one's.
   */
  twin?: { ordinal: number; shape: boolean; codes: readonly string[]; told?: Teller };
}

/** What tells twins apart (tells()): an mn, or another command none of whose replies reads as the twin's. */
export type Teller = 'mn' | 'other';

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

/** The codes (a reply line's first word) `label`, a meta command without q, may be answered with, error lines aside. */
function codes(label: string, m: MetaFlags): string[] {
  const out: string[] = [];
  for (const s of shapes(label, m, false)) if (!out.includes(s.slice(0, 2))) out.push(s.slice(0, 2));
  return out;
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
 * find their requests, the other quiet one's none. Not so a line its twin may get (inDoubt).
 */
export function answersQuiet(buf: Buffer, s: number, e: number, q: QuietMeta): boolean {
  if (q.meta.refused !== undefined) return true;
  if (isErrorLine(buf, s, e)) return runtimeErrors(q.label).includes(buf.toString('latin1', s, e));
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
 * memory), which nothing after it tells. A refused `q` takes the next reply whatever it is.
 */
export function confusable(cmd: Command, q: QuietMeta): string | undefined {
  if (q.meta.refused !== undefined) return undefined;
  const errs = runtimeErrors(q.label);
  // A storage line memcached refuses (no data block), or an incr or decr line, gets its
  // CLIENT_ERROR or ERROR before the cache is looked at: a line no quiet one takes.
  const both = errs.length > 0 && !cmd.refused ? runtimeErrors(cmd.label).find((x) => x !== REFCOUNT_OVERFLOW && errs.includes(x)) : undefined;
  return both === undefined ? undefined : `both may get "${both}", which says neither opaque nor key`;
}

/**
 * Whether `cmd`, a command without `q` sent right behind `q`, is its twin (QuietMeta.twin), and
 * by what: a shape both may answer with, neither opaque nor key telling them apart (an mg v
 * behind an mg v q, both hits "VA <size>", byte for byte, the quiet one's miss silent), or
 * mg's refcount overflow, which both mg may get. Only the reply after the first tells whose that
 * is: the other's when the quiet one hit, nothing when it missed, until the client sends more,
 * which a client waiting for the first does not. So the first can neither wait to be told nor
 * go as one's without a guess, unless the client sent right behind a command that tells (an mn,
 * as a batch is closed, or one whose replies read unlike the other's: tells()): its reply then
 * comes next exactly when the first reply was the other's. Without one, a shape in doubt falls
 * back: at the next command when it is another such mg; when the client sent nothing more, at
 * the reply unless a reply follows it in the same bytes (then the other's: the first was the
 * quiet one's hit); the overflow, which takes some 60000
 * replies queued to clients that do not read them, only at the reply: at the request, as for a
 * set behind an ms q, it would stop chaos on every mg behind an mg q for an error almost no
 * connection meets.
 */
export function twinOf(cmd: Command, q: QuietMeta): { shape: boolean; codes: string[] } | undefined {
  const m = cmd.meta;
  if (m === undefined || q.meta.refused !== undefined) return undefined;
  const mine = shapes(q.label, q.meta, true);
  const shape = shapes(cmd.label, m, false).some((x) => mine.includes(x)) && m.opaque === q.meta.opaque && !(m.returnsKey && m.key !== q.meta.key);
  return shape || (cmd.label === 'mg' && q.label === 'mg') ? { shape, codes: codes(cmd.label, m) } : undefined;
}

/**
 * Whether `cmd`, sent right behind a twin (twinOf) answered with `twinCodes`, tells whose a
 * reply in doubt is. Its reply comes right after the twin's, so the line after the reply in
 * doubt is its own when that reply was the twin's, the twin's reply when it was the quiet
 * one's (checked on memcached 1.6.18: 'mg a v q', 'mg b v', 'get a' gives 'VA 1', 'VALUE a'
 * when a missed, 'VA 1', 'VA 1', 'VALUE a' when it hit). So it tells when none of its replies
 * starts as one of the twin's: mn's MN; a classic command's (VALUE, END, STORED, DELETED, a
 * number, ...: never a meta code); a meta one's by its codes (ms's HD NS EX NF behind an mg;
 * me's ME or EN). Not one with q or noreply (silent: what follows is another's), nor watch.
 * An error line either may get is told by none but mn, which gets none (tellersLine).
 */
export function tells(cmd: Command, twinCodes: readonly string[]): Teller | undefined {
  if (cmd.quiet || cmd.noReply || cmd.reply === Reply.LineThenRaw) return undefined;
  if (cmd.label === 'mn') return 'mn';
  const mine = cmd.meta !== undefined ? codes(cmd.label, cmd.meta) : cmd.label === 'me' ? ['ME', 'EN'] : [];
  return mine.some((c) => twinCodes.includes(c)) ? undefined : 'other';
}

/**
 * Whether the line buf[s, e) after a reply in doubt is the teller's (`t.told`): then the reply
 * in doubt was the twin's. Undefined for an error line the teller may get too, whose it is
 * nothing says.
 */
export function tellersLine(buf: Buffer, s: number, e: number, t: { codes: readonly string[]; told?: Teller }): boolean | undefined {
  if (isErrorLine(buf, s, e)) return t.told === 'mn' ? false : undefined;
  if (t.told === 'mn') return e - s === 2 && startsWith(buf, s, e, 'MN');
  let w = s;
  while (w < e && buf[w] !== 0x20) w++;
  return !t.codes.includes(buf.toString('latin1', s, w));
}

/** Whether the reply line buf[s, e), which `q` may get, may be its twin's instead. */
export function inDoubt(buf: Buffer, s: number, e: number, q: QuietMeta): boolean {
  const t = q.twin;
  return t !== undefined && (t.shape || buf.toString('latin1', s, e) === REFCOUNT_OVERFLOW);
}
