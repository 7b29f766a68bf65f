/**
 * Where a YAML bracket or quote that is never closed was opened. The yaml library notices it
 * where the text goes on without it, at the next key or the end of the file, a line or more
 * later; what the user must fix is the line that opened it. Read from the library's own syntax
 * tree (CST), on the path of an error only.
 */
import { Parser } from 'yaml';

export interface Unclosed {
  /** Offset of the opening `[`, `{` or quote. */
  offset: number;
  problem: string;
  hint: string;
}

interface Token {
  type?: string;
  offset?: number;
  source?: string;
  start?: Token;
  end?: Token[];
}

const CLOSERS: Record<string, { type: string; problem: string; hint: string }> = {
  '[': { type: 'flow-seq-end', problem: 'the list opened with "[" here is never closed', hint: 'end it with "]" (a list on one line: [a, b]), or write one "- entry" line per entry' },
  '{': { type: 'flow-map-end', problem: 'the map opened with "{" here is never closed', hint: 'end it with "}" (a map on one line: {a: 1, b: 2}), or write one "key: value" line per entry' },
};

/**
 * The innermost bracket or quote opened before `at` (the offset of the library's error) and not
 * closed, if there is one.
 */
export function unclosedBefore(text: string, at: number): Unclosed | undefined {
  let found: Unclosed | undefined;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const t = node as Token;
    const opened = t.offset !== undefined && t.offset < at && (!found || t.offset > found.offset) ? openedHere(t, at) : undefined;
    if (opened) found = opened;
    for (const v of Object.values(node)) if (typeof v === 'object') visit(v);
  };
  visit([...new Parser().parse(text)]);
  return found;
}

function openedHere(t: Token, at: number): Unclosed | undefined {
  if (t.type === 'flow-collection' && t.start?.source) {
    const closer = CLOSERS[t.start.source];
    if (closer && !t.end?.some((e) => e.type === closer.type)) return { offset: t.offset!, problem: closer.problem, hint: closer.hint };
  }
  // A quoted scalar never closed runs to where the error is: it holds `at`.
  if ((t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') && t.source && t.offset! + t.source.length >= at) {
    const q = t.source[0];
    return { offset: t.offset!, problem: `the string opened with ${q} here is never closed`, hint: `end it with ${q}${q === '"' ? ' (a " inside it is written \\")' : ` (a ' inside it is written '')`}` };
  }
  return undefined;
}
