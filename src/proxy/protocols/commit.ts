/**
 * A COMMIT that draws an injected error, for the SQL protocols: a real failed commit ends the
 * transaction (rolled back), so withholding the COMMIT from the server would leave it open, the
 * client's next statements running inside it and never committed. The server is sent a ROLLBACK
 * in its place, and the error replaces the server's reply (Protocol.standIn).
 */

/** The longest COMMIT statement looked at: a request longer than this is no bare COMMIT. */
const MAX_COMMIT_TEXT = 64;

/** Whether `text` (latin1 bytes [from, to) of `buf`) is a whole COMMIT statement of the dialect. */
export function isCommit(buf: Buffer, from: number, to: number, statement: RegExp): boolean {
  return to - from <= MAX_COMMIT_TEXT && statement.test(buf.toString('latin1', from, to));
}

const SEMICOLON = 0x3b, LF = 0x0a, SPACE = 0x20;

/**
 * Where the COMMIT that ends the statements in bytes [from, to) of `buf` starts: `from` for a
 * bare COMMIT, just after the last `;` for a list that ends in one (`INSERT ...; COMMIT`), whose
 * statements the server is then sent with ROLLBACK in its COMMIT's place; else -1. A `--` or `#`
 * on the line before that `;` may comment it out: -1 then.
 */
export function commitAt(buf: Buffer, from: number, to: number, statement: RegExp): number {
  let end = to;
  // Trailing blanks, a NUL (postgres) and one ';' belong to the COMMIT.
  while (end > from && buf[end - 1] <= SPACE) end--;
  if (end > from && buf[end - 1] === SEMICOLON) end--;
  const semi = end > from ? buf.lastIndexOf(SEMICOLON, end - 1) : -1;
  const at = semi < from ? from : semi + 1;
  if (!isCommit(buf, at, to, statement)) return -1;
  if (at === from) return from;
  const line = Math.max(from, buf.lastIndexOf(LF, semi) + 1);
  return commentBefore(buf, '--', line, semi) || commentBefore(buf, '#', line, semi) ? -1 : at;
}

function commentBefore(buf: Buffer, mark: string, from: number, to: number): boolean {
  const i = buf.indexOf(mark, from, 'latin1');
  return i >= 0 && i < to;
}

/*
 * A failed COMMIT AND CHAIN starts no new transaction (PostgreSQL says idle after it; MySQL and
 * MariaDB return the error before they chain or release): a plain ROLLBACK stands in for every form.
 */
/** PostgreSQL: COMMIT or END, optionally WORK or TRANSACTION, AND [NO] CHAIN. */
export const PG_COMMIT = /^\s*(commit|end)(\s+(work|transaction))?(\s+and\s+(no\s+)?chain)?\s*;?\s*\0?$/i;
/** MySQL / MariaDB: COMMIT, optionally WORK, AND [NO] CHAIN, [NO] RELEASE. */
export const MYSQL_COMMIT = /^\s*commit(\s+work)?(\s+and\s+(no\s+)?chain)?(\s+(no\s+)?release)?\s*;?\s*$/i;
