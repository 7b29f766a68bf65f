/**
 * Table names as MySQL statements write them, for the temporary tables a connection made (a
 * read-only MariaDB serves a session's writes to its own: checked on 10.11 with read_only=1, a
 * user without READ ONLY ADMIN, INSERT, REPLACE, UPDATE, DELETE, TRUNCATE, ALTER, DROP TABLE of
 * one are served; the same write once it is dropped, or to the name in other letter case, gets
 * 1290). A name is kept as the server tells tables apart (nameOf): one written otherwise
 * (qualified where it was not, other quotes) is not taken for the table, leaning to refusal.
 */
export const IDENT = '(?:`(?:[^`]|``)+`|[\\w$\\x80-\\xff]+)';
/** A table's name as written, qualified by its database or not. */
export const NAME = `${IDENT}(?:\\s*\\.\\s*${IDENT})?`;
/** A name ends where no identifier character nor a '.' follows (not `tt` of `tt2`). */
const END = '(?![\\w$.\\x80-\\xff`])';
const NAMES = new RegExp(NAME, 'g');
const IDENTS = new RegExp(IDENT, 'g');

const CREATE = new RegExp(`^create\\s+(?:or\\s+replace\\s+)?temporary\\s+table\\s+(?:if\\s+not\\s+exists\\s+)?(${NAME})${END}`, 'i');
const DROP = new RegExp(`^drop\\s+(?:temporary\\s+)?table\\s+(?:if\\s+exists\\s+)?(${NAME}(?:\\s*,\\s*${NAME})*)\\s*(?:restrict|cascade)?\\s*$`, 'i');
const ALTER = new RegExp(`^alter\\s+(?:online\\s+)?(?:ignore\\s+)?table\\s+(${NAME})${END}`, 'i');
/** Statements writing one table, named: served on a read-only server if it is the session's temporary table. */
const WRITES_ONE = [
  new RegExp(`^(?:insert|replace)\\s+(?:(?:low_priority|delayed|high_priority|ignore)\\s+)*(?:into\\s+)?(${NAME})${END}`, 'i'),
  new RegExp(`^update\\s+(?:(?:low_priority|ignore)\\s+)*(${NAME})\\s+set\\s`, 'i'),
  new RegExp(`^delete\\s+(?:(?:low_priority|quick|ignore)\\s+)*from\\s+(${NAME})(?:\\s+(?:where|order|limit|returning)\\s|\\s*$)`, 'i'),
  new RegExp(`^truncate\\s+(?:table\\s+)?(${NAME})\\s*$`, 'i'),
  ALTER,
];

/** A table's name as the server tells tables apart: backquotes off, the database before a NUL. */
export function nameOf(written: string): string {
  return (written.match(IDENTS) ?? []).map((id) => (id.startsWith('`') ? id.slice(1, -1).replace(/``/g, '`') : id)).join('\0');
}

/**
 * The tables a statement (its text from its first word) writes, when it writes only tables it
 * names: DROP TABLE's list, or one table of a single-table INSERT, REPLACE, UPDATE, DELETE,
 * TRUNCATE or ALTER; undefined for any other.
 */
export function tablesWritten(text: string): string[] | undefined {
  const drop = DROP.exec(text);
  if (drop) return (drop[1].match(NAMES) ?? []).map(nameOf);
  for (const re of WRITES_ONE) {
    const m = re.exec(text);
    if (m) return [nameOf(m[1])];
  }
  return undefined;
}

/** The table an ALTER TABLE (its text from its first word) alters. */
export function alteredTable(text: string): string | undefined {
  const m = ALTER.exec(text);
  return m ? nameOf(m[1]) : undefined;
}

/** The temporary table a statement (its text from its first word) creates, if it does. */
export function temporaryCreated(text: string): string | undefined {
  const m = CREATE.exec(text);
  return m ? nameOf(m[1]) : undefined;
}

/** Blanks and plain comments before a statement's first word (an executable one is left: the text is then not read). */
const LEADING = /^(?:\s|\(|\/\*(?![Mm]?!)[\s\S]*?\*\/|#[^\n]*(?:\n|$)|--(?:\s[^\n]*)?(?:\n|$))*/;

/** The statement in bytes [start, end) of `buf` from its first word. */
export function statementText(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, end).replace(LEADING, '');
}

