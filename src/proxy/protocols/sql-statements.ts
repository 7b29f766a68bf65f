/**
 * The statements of one SQL query text, for a COMMIT amid them (`COMMIT; INSERT ...`) and for
 * the writes a read-only MySQL refuses (mysql-refusals.ts): its
 * top-level semicolons, found past quotes, comments and parentheses as the server's lexer finds
 * them. What it cannot read for sure makes it give up: a backslash in quoted text (an escape or
 * not, by the session's settings), a dollar sign in PostgreSQL (dollar quotes), a nested comment,
 * MySQL's executable comments, a compound statement (a routine's BEGIN ... END, whose body holds
 * semicolons and may hold a COMMIT or an END). A COMMIT not found is withheld as before; one
 * "found" in a string would end a transaction the client still has.
 */

export interface SqlDialect {
  /** A whole COMMIT statement without comments (commit.ts). */
  commit: RegExp;
  /** MySQL / MariaDB: `#` comments, `-- ` needs a blank after it, no nested comments. */
  mysql: boolean;
  /**
   * MySQL: the text of an executable comment (`/*!40101 SET NAMES utf8`, mysqldump's; MariaDB's
   * `/*M!`) is read as code, its markers as blanks, as the server runs it (when its version is no
   * older than the comment's: one newer skips it, which this reading leans away from); otherwise
   * such a comment cannot be read for sure.
   */
  executable?: boolean;
}

const SEMI = 0x3b, QUOTE = 0x27, DQUOTE = 0x22, BACKTICK = 0x60, DASH = 0x2d, HASH = 0x23;
const SLASH = 0x2f, STAR = 0x2a, BANG = 0x21, BACKSLASH = 0x5c, DOLLAR = 0x24, LF = 0x0a, CR = 0x0d;
const OPEN = 0x28, CLOSE = 0x29, SPACE = 0x20, M = 0x6d;

/**
 * A routine's body, or an anonymous block, whose semicolons are its own: PostgreSQL's BEGIN
 * ATOMIC, MySQL's stored programs (CREATE or ALTER of one), MariaDB's BEGIN NOT ATOMIC.
 */
const PG_COMPOUND = /\bbegin\s+atomic\b/i;
const MYSQL_COMPOUND = /\b(create|alter)\s+(or\s+replace\s+)?(definer\s*=\s*\S+\s+)?(aggregate\s+)?(procedure|function|trigger|event)\b|\bnot\s+atomic\b/i;

/** Whether bytes [from, to) of `buf` may hold a compound statement (then nothing in it is trusted). */
export function compound(buf: Buffer, from: number, to: number, d: SqlDialect): boolean {
  return (d.mysql ? MYSQL_COMPOUND : PG_COMPOUND).test(buf.toString('latin1', from, to));
}

/**
 * Where the first statement of bytes [from, to) of `buf` that is a COMMIT starts, or -1: none,
 * or the text cannot be read for sure.
 */
export function firstCommit(buf: Buffer, from: number, to: number, d: SqlDialect): number {
  let at = -1;
  const read = eachStatement(buf, from, to, d, (start, end) => {
    if (isCommit(buf, start, end, d)) at = start;
    return at >= 0;
  });
  return read ? at : -1;
}

/**
 * The statements of bytes [from, to) of `buf` in turn, as `each(start, end)`, until it returns
 * true. False if the text cannot be read for sure up to there (its statements not told apart).
 */
export function eachStatement(buf: Buffer, from: number, to: number, d: SqlDialect, each: (start: number, end: number) => boolean): boolean {
  if (compound(buf, from, to, d)) return false;
  let start = from;
  let depth = 0;
  let i = from;
  while (i < to) {
    const c = buf[i];
    const next = i + 1 < to ? buf[i + 1] : -1;
    if (c === QUOTE || c === DQUOTE || c === BACKTICK) i = quoted(buf, i, to);
    else if (lineComment(buf, i, to, d)) i = lineEnd(buf, i, to);
    else if (c === SLASH && next === STAR) i = blockEnd(buf, i, to, d);
    else if (c === STAR && next === SLASH && d.executable) i += 2;
    else if (c === DOLLAR && !d.mysql) return false;
    else {
      if (c === OPEN) depth++;
      else if (c === CLOSE) depth--;
      else if (c === SEMI && depth === 0) {
        if (each(start, i)) return true;
        start = i + 1;
      }
      i++;
    }
    if (i < 0) return false;
  }
  each(start, to);
  return true;
}

/**
 * The first `max` words of the statement in bytes [from, to) of `buf`, upper case, past blanks,
 * comments and opening parentheses (`(SELECT 1)`), up to the first other character; undefined
 * if a comment cannot be read for sure (MySQL's executable ones).
 */
export function leadingWords(buf: Buffer, from: number, to: number, d: SqlDialect, max: number): string[] | undefined {
  const words: string[] = [];
  let i = from;
  while (i < to && words.length < max) {
    const c = buf[i];
    if (c <= SPACE || (c === OPEN && words.length === 0)) i++;
    else if (lineComment(buf, i, to, d)) i = lineEnd(buf, i, to);
    else if (c === SLASH && i + 1 < to && buf[i + 1] === STAR) i = blockEnd(buf, i, to, d);
    else if (c === STAR && i + 1 < to && buf[i + 1] === SLASH && d.executable) i += 2;
    else if (wordByte(c)) {
      const start = i;
      while (i < to && wordByte(buf[i])) i++;
      words.push(buf.toString('latin1', start, i).toUpperCase());
    } else break;
    if (i < 0) return undefined;
  }
  return words;
}

/** A letter, digit, `_` or `$`, or a byte of a multibyte character: part of a word. */
function wordByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === DOLLAR || c >= 0x80;
}

/** The longest COMMIT statement looked at: a request longer than this is no bare COMMIT. */
const MAX_COMMIT_TEXT = 64;

/**
 * Whether bytes [from, to) of `buf` are a whole COMMIT statement of the dialect. Comments among
 * its words (`COMMIT -- done`, a block comment before it) are blanks to the server, and so here;
 * one that cannot be read for sure (nested, MySQL's executable ones) leaves the text no COMMIT.
 */
export function isCommit(buf: Buffer, from: number, to: number, d: SqlDialect): boolean {
  if (to - from <= MAX_COMMIT_TEXT && d.commit.test(buf.toString('latin1', from, to))) return true;
  const text = uncommented(buf, from, to, d);
  return text !== undefined && d.commit.test(text);
}

/**
 * The latin1 text of bytes [from, to) of `buf` with each comment a blank, if it has a comment
 * and, without them, is no longer than a COMMIT can be; otherwise undefined (the common case,
 * any other statement, is found out within MAX_COMMIT_TEXT bytes past a comment).
 */
function uncommented(buf: Buffer, from: number, to: number, d: SqlDialect): string | undefined {
  let text = '';
  let start = from;
  let i = from;
  while (i < to) {
    const c = buf[i];
    let end: number;
    if (c === SLASH && i + 1 < to && buf[i + 1] === STAR) end = blockEnd(buf, i, to, d);
    else if (lineComment(buf, i, to, d)) end = lineEnd(buf, i, to);
    else if (c === QUOTE || c === DQUOTE || c === BACKTICK || i - start >= MAX_COMMIT_TEXT) return undefined;
    else {
      i++;
      continue;
    }
    if (end < 0) return undefined;
    text += `${buf.toString('latin1', start, i)} `;
    if (text.length > MAX_COMMIT_TEXT) return undefined;
    start = i = end;
  }
  return start === from ? undefined : text + buf.toString('latin1', start, to);
}

/** Whether a line comment starts at `i`: `--` (MySQL: and a blank, or the end), MySQL's `#`. */
function lineComment(buf: Buffer, i: number, to: number, d: SqlDialect): boolean {
  const c = buf[i];
  if (c === HASH) return d.mysql;
  return c === DASH && i + 1 < to && buf[i + 1] === DASH && (!d.mysql || i + 2 >= to || buf[i + 2] <= SPACE);
}

/** Past the quoted text opening at `i` (a doubled quote stays inside it); -1 if unsure. */
function quoted(buf: Buffer, i: number, to: number): number {
  const q = buf[i];
  for (let j = i + 1; j < to; j++) {
    const c = buf[j];
    if (c === BACKSLASH) return -1;
    if (c !== q) continue;
    if (j + 1 < to && buf[j + 1] === q) j++;
    else return j + 1;
  }
  return -1;
}

/** Past the line comment at `i`; -1 if a lone CR might end it first. */
function lineEnd(buf: Buffer, i: number, to: number): number {
  const lf = buf.indexOf(LF, i);
  const end = lf < 0 || lf >= to ? to : lf + 1;
  const cr = buf.indexOf(CR, i);
  return cr >= 0 && cr < end - 2 ? -1 : end;
}

/**
 * Past the block comment at `i`; -1 if it nests, runs (MySQL's `/*!`, MariaDB's `/*M!`) or does
 * not end. One that runs, in a dialect that reads its text, is passed up to its text.
 */
function blockEnd(buf: Buffer, i: number, to: number, d: SqlDialect): number {
  if (d.mysql && i + 2 < to && (buf[i + 2] === BANG || ((buf[i + 2] | 0x20) === M && i + 3 < to && buf[i + 3] === BANG))) {
    if (!d.executable) return -1;
    let j = buf[i + 2] === BANG ? i + 3 : i + 4;
    while (j < to && buf[j] >= 0x30 && buf[j] <= 0x39) j++;
    return j;
  }
  const end = buf.indexOf('*/', i + 2, 'latin1');
  if (end < 0 || end + 2 > to) return -1;
  const inner = buf.indexOf('/*', i + 2, 'latin1');
  return inner >= 0 && inner < end ? -1 : end + 2;
}
