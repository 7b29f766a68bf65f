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

/*
 * A failed COMMIT AND CHAIN starts no new transaction (PostgreSQL says idle after it; MySQL and
 * MariaDB return the error before they chain or release): a plain ROLLBACK stands in for every form.
 */
/** PostgreSQL: COMMIT or END, optionally WORK or TRANSACTION, AND [NO] CHAIN. */
export const PG_COMMIT = /^\s*(commit|end)(\s+(work|transaction))?(\s+and\s+(no\s+)?chain)?\s*;?\s*\0?$/i;
/** MySQL / MariaDB: COMMIT, optionally WORK, AND [NO] CHAIN, [NO] RELEASE. */
export const MYSQL_COMMIT = /^\s*commit(\s+work)?(\s+and\s+(no\s+)?chain)?(\s+(no\s+)?release)?\s*;?\s*$/i;
