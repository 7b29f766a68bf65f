/**
 * The tables a statement that names several writes or locks, for a read-only MariaDB serves
 * what writes or locks only the session's temporary tables (checked on 10.11 with read_only=1, a
 * user without READ ONLY ADMIN, temporary tables tt and tm: LOCK TABLES tt WRITE, t READ;
 * SELECT * FROM tt FOR UPDATE; UPDATE tt JOIN t ON ... SET tt.a = t.v; UPDATE tt, tm SET ...;
 * DELETE tt FROM tt JOIN t ...; DELETE FROM tt USING tt JOIN t ...; OPTIMIZE, ANALYZE and
 * REPAIR TABLE tt are served; LOCK TABLES tt WRITE, t WRITE, SELECT ... FROM tt JOIN t FOR
 * UPDATE, UPDATE tt, t SET t.v = ..., DELETE tt, t FROM ... get 1290). What these functions
 * cannot read for sure (a subquery, parentheses in a join, an index hint, a column not
 * qualified by its table in a multi-table UPDATE) gives undefined: the statement is refused.
 */
import { IDENT, NAME, nameOf } from './mysql-temporary.js';

/** A table of a FROM clause, a join's: its name (nameOf) and what the statement calls it by. */
interface TableRef {
  name: string;
  /** Its alias, or its name as written and its own name without the database. */
  calls: string[];
}

const ITEM = `(${NAME})(?:\\s+(?:as\\s+)?(${IDENT}))?\\s+(read(?:\\s+local)?|(?:low_priority\\s+)?write(?:\\s+concurrent)?)`;
const LOCK = new RegExp(`^lock\\s+tables?\\s+(${ITEM}(?:\\s*,\\s*${ITEM})*)\\s*$`, 'i');
const LOCK_ITEM = new RegExp(ITEM, 'gi');
const MAINTAIN = new RegExp(
  `^(?:optimize|analyze|repair)\\s+(?:(?:no_write_to_binlog|local)\\s+)?tables?\\s+(${NAME}(?:\\s*,\\s*${NAME})*)(?:\\s+(?:quick|extended|use_frm))*\\s*$`,
  'i',
);
const NAMES = new RegExp(NAME, 'g');
const UPDATE = /^update\s+(?:(?:low_priority|ignore)\s+)*([\s\S]+?)\s+set\s+([\s\S]+)$/i;
const TARGETS = `(${NAME}(?:\\.\\*)?(?:\\s*,\\s*${NAME}(?:\\.\\*)?)*)`;
const DELETE_FROM = new RegExp(`^delete\\s+(?:(?:low_priority|quick|ignore)\\s+)*${TARGETS}\\s+from\\s+([\\s\\S]+?)(?:\\s+where\\b[\\s\\S]*)?$`, 'i');
const DELETE_USING = new RegExp(`^delete\\s+(?:(?:low_priority|quick|ignore)\\s+)*from\\s+${TARGETS}\\s+using\\s+([\\s\\S]+?)(?:\\s+where\\b[\\s\\S]*)?$`, 'i');
const FROM = /\bfrom\s+([\s\S]+?)(?:\s+(?:where|group|having|order|limit|window|procedure|into|for|lock)\b|\s*$)/i;
const JOINED = /\s*,\s*|\s+(?:natural\s+)?(?:(?:inner|cross|(?:left|right)(?:\s+outer)?)\s+)?join\s+|\s+straight_join\s+/i;
const REF = new RegExp(`^(${NAME})(?:\\s+(?:as\\s+)?(?!(?:on|using)\\b)(${IDENT}))?(?:\\s+(?:on|using)\\b[\\s\\S]*)?$`, 'i');
const ASSIGNED = new RegExp(`^\\s*(${NAME})\\s*\\.\\s*${IDENT}\\s*=`, 'i');
/** Where a SET clause ends, looked for at a blank. */
const SET_END = /(?:where|order|limit)\b/iy;
/** A comment, which may hide a comma or a quote from setClause. */
const COMMENT = /\/\*|#|--/;

/**
 * The tables a statement (its text from its first word) writes or locks, when they are all
 * named: those LOCK TABLES locks WRITE; those OPTIMIZE, ANALYZE or REPAIR TABLE names; the
 * targets of a multi-table UPDATE or DELETE; every table a SELECT ... FOR UPDATE reads (it locks
 * their rows). Undefined for any other statement.
 */
export function tablesOfSeveral(text: string): string[] | undefined {
  switch (/^\w*/.exec(text)![0].toUpperCase()) {
    case 'LOCK': {
      const list = LOCK.exec(text)?.[1];
      return list === undefined ? undefined : [...list.matchAll(LOCK_ITEM)].filter((m) => !/^read/i.test(m[3])).map((m) => nameOf(m[1]));
    }
    case 'OPTIMIZE':
    case 'ANALYZE':
    case 'REPAIR': {
      const m = MAINTAIN.exec(text);
      return m ? (m[1].match(NAMES) ?? []).map(nameOf) : undefined;
    }
    case 'UPDATE':
      return updated(text);
    case 'DELETE': {
      const m = DELETE_FROM.exec(text) ?? DELETE_USING.exec(text);
      return m ? targets((m[1].match(NAMES) ?? []), tableRefs(m[2])) : undefined;
    }
    case 'SELECT':
      return lockedBySelect(text);
    default:
      return undefined;
  }
}

/** The tables a SELECT reads, one FROM clause of joined tables, no subquery. */
function lockedBySelect(text: string): string[] | undefined {
  if (text.match(/\bselect\b/gi)!.length !== 1 || text.match(/\bfrom\b/gi)?.length !== 1) return undefined;
  const from = FROM.exec(text);
  return from ? tableRefs(from[1])?.map((ref) => ref.name) : undefined;
}

/** The tables a multi-table UPDATE writes: those its SET clause's columns are qualified by. */
function updated(text: string): string[] | undefined {
  const m = UPDATE.exec(text);
  const refs = m ? tableRefs(m[1]) : undefined;
  const assignments = m && refs ? setClause(m[2]) : undefined;
  if (assignments === undefined) return undefined;
  const qualifiers: string[] = [];
  for (const a of assignments) {
    const q = ASSIGNED.exec(a);
    if (!q) return undefined;
    qualifiers.push(q[1]);
  }
  return targets(qualifiers, refs);
}

/** The tables `written` (as the statement calls them) are, among `refs`; undefined if one is not there. */
function targets(written: string[], refs: TableRef[] | undefined): string[] | undefined {
  if (refs === undefined) return undefined;
  const names: string[] = [];
  for (const w of written) {
    const calls = nameOf(w);
    const ref = refs.find((r) => r.calls.includes(calls));
    if (ref === undefined) return undefined;
    names.push(ref.name);
  }
  return names;
}

/** The tables of a FROM clause of tables joined (commas, JOINs with ON or USING), or undefined. */
function tableRefs(clause: string): TableRef[] | undefined {
  const refs: TableRef[] = [];
  for (const part of clause.trim().split(JOINED)) {
    const m = REF.exec(part);
    if (!m) return undefined;
    const name = nameOf(m[1]);
    refs.push({ name, calls: m[2] !== undefined ? [nameOf(m[2])] : [name, name.slice(name.indexOf('\0') + 1)] });
  }
  return refs;
}

/**
 * A SET clause's assignments, up to its WHERE, ORDER BY or LIMIT: split at its commas outside
 * quotes and parentheses. Undefined if a quoted text holds a backslash (an escape or not, by
 * the session's sql_mode) or does not end, or the text holds a comment.
 */
function setClause(text: string): string[] | undefined {
  if (COMMENT.test(text)) return undefined;
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      const end = quotedEnd(text, i);
      if (end < 0) return undefined;
      i = end;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      depth--;
    } else if (depth === 0 && c === ',') {
      parts.push(text.slice(start, i));
      start = i + 1;
    } else if (depth === 0 && c <= ' ') {
      SET_END.lastIndex = i + 1;
      if (SET_END.test(text)) break;
    }
  }
  parts.push(text.slice(start, i));
  return parts;
}

/** Where the quoted text opening at `i` ends (a doubled quote stays inside it); -1 if unsure. */
function quotedEnd(text: string, i: number): number {
  const q = text[i];
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') return -1;
    if (text[j] !== q) continue;
    if (text[j + 1] === q) j++;
    else return j;
  }
  return -1;
}
