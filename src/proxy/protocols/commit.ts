/**
 * A COMMIT that draws an injected error, for the SQL protocols: a real failed commit ends the
 * transaction (rolled back), so withholding the COMMIT from the server would leave it open, the
 * client's next statements running inside it and never committed. The server is sent a ROLLBACK
 * in its place, and the error replaces the server's reply (Protocol.standIn).
 */
import { compound, firstCommit, isCommit, type SqlDialect } from './sql-statements.js';

const SEMICOLON = 0x3b, LF = 0x0a, SPACE = 0x20;

/**
 * Where the COMMIT in the statements of bytes [from, to) of `buf` starts, which the server is
 * then sent with ROLLBACK in its place and the statements after it left out (a failed statement
 * ends a query: the server skips the rest): `from` for a bare COMMIT, just after the last `;` for
 * a list that ends in one (`INSERT ...; COMMIT`), else the first COMMIT amid them that the
 * statements can be read for sure to hold (sql-statements.ts); -1 if none. A `--` or `#` on the
 * line before the last `;` may comment it out: the text is read whole then.
 *
 * A query that may hold a COMMIT amid statements it cannot read for sure fails whole: withheld
 * (MySQL; PostgreSQL outside a block), or a failing statement in its place in a PostgreSQL block
 * (postgres-aborted.ts). That is what the server does when the query's first statement fails:
 * it runs none of the rest, and the transaction stays open (MySQL, MariaDB; a deadlock rolls it
 * back, mysql-commit.ts) or aborted (PostgreSQL: 25P02 until the client's ROLLBACK, its COMMIT
 * rolled back); checked against both servers. Guessing where the COMMIT stands could send
 * statements the client's text does not hold.
 */
export function commitAt(buf: Buffer, from: number, to: number, d: SqlDialect): number {
  let end = to;
  // Trailing blanks, a NUL (postgres) and one ';' belong to the COMMIT.
  while (end > from && buf[end - 1] <= SPACE) end--;
  if (end > from && buf[end - 1] === SEMICOLON) end--;
  const semi = end > from ? buf.lastIndexOf(SEMICOLON, end - 1) : -1;
  const at = semi < from ? from : semi + 1;
  // One statement (an error's common case) that is no COMMIT: no more to read.
  if (!isCommit(buf, at, to, d)) return at === from ? -1 : firstCommit(buf, from, to, d);
  if (at === from) return from;
  // A routine's body ends in END (postgres' COMMIT too) and may hold a COMMIT (MySQL).
  if (compound(buf, from, at, d)) return -1;
  const line = Math.max(from, buf.lastIndexOf(LF, semi) + 1);
  return commentBefore(buf, '--', line, semi) || commentBefore(buf, '#', line, semi) ? firstCommit(buf, from, to, d) : at;
}

function commentBefore(buf: Buffer, mark: string, from: number, to: number): boolean {
  const i = buf.indexOf(mark, from, 'latin1');
  return i >= 0 && i < to;
}

/**
 * A statement of words apart by the dialect's blanks (not JavaScript's \s: PostgreSQL 15 refuses
 * a vertical tab, and a latin1 0xA0 is no blank to either server): `_` stands for one.
 */
const statement = (words: string, blanks: string): RegExp => new RegExp(`^${words.replace(/_/g, `[${blanks}]`)}$`, 'i');
const PG_BLANKS = ' \\t\\n\\r\\f';
const MYSQL_BLANKS = ' \\t\\n\\v\\f\\r';

/*
 * A failed COMMIT AND CHAIN starts no new transaction (PostgreSQL says idle after it; MySQL and
 * MariaDB return the error before they chain or release): a plain ROLLBACK stands in for every form.
 */
/** PostgreSQL: COMMIT or END, optionally WORK or TRANSACTION, AND [NO] CHAIN. */
export const PG_COMMIT = statement('_*(commit|end)(_+(work|transaction))?(_+and_+(no_+)?chain)?_*;?_*\\0?', PG_BLANKS);
/** MySQL / MariaDB: COMMIT, optionally WORK, AND [NO] CHAIN, [NO] RELEASE. */
export const MYSQL_COMMIT = statement('_*commit(_+work)?(_+and_+(no_+)?chain)?(_+(no_+)?release)?_*;?_*', MYSQL_BLANKS);

export const PG_SQL: SqlDialect = { commit: PG_COMMIT, mysql: false };
export const MYSQL_SQL: SqlDialect = { commit: MYSQL_COMMIT, mysql: true };
