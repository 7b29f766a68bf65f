/**
 * Config errors that point at the spot: file:line:col, what is wrong, how to fix it.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError } from './config-error.js';
import { unclosedBefore } from './yaml-unclosed.js';

export { ConfigError };

export interface SourceDoc {
  file: string;
  doc: Document;
  lines: LineCounter;
}

/** Parse YAML text; syntax errors become ConfigErrors with their position. */
export function parseYaml(file: string, text: string): SourceDoc {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const bare = unquotedReference(text, lines, err.pos[0]);
    if (bare) throw new ConfigError(file, bare.line, bare.col, `YAML syntax: ${bare.ref} is not quoted, and inside [ ] or { } its "{" starts a map`, `quote the value: write "${bare.value}", as the examples do`);
    // A bracket or quote never closed is noticed where the text goes on without it: say where it opened.
    const open = err.code === 'BAD_INDENT' || err.code === 'MISSING_CHAR' ? unclosedBefore(text, err.pos[0]) : undefined;
    if (open) {
      const at = lines.linePos(open.offset);
      throw new ConfigError(file, at.line, at.col, `YAML syntax: ${open.problem}`, open.hint);
    }
    const pos = lines.linePos(err.pos[0]);
    throw new ConfigError(file, pos.line, pos.col, `YAML syntax: ${err.message.split('\n')[0]}`, syntaxHint(text.split(/\r?\n/)[pos.line - 1] ?? ''));
  }
  return { file, doc, lines };
}

/**
 * `command: [node, app.js, --port, ${port}]`: in a flow collection the plain `$` ends where `{`
 * opens a map, and YAML's words for what follows ('Missing , or : between flow sequence items',
 * 'Unexpected flow-map-start') never name the reference. Found when the error is at that `{`;
 * said where its value starts, with that value quoted whole (`"127.0.0.1:${...}"`).
 */
function unquotedReference(text: string, lines: LineCounter, offset: number): { line: number; col: number; ref: string; value: string } | undefined {
  if (text[offset] !== '{' || text[offset - 1] !== '$') return undefined;
  const ref = /^\$\{[^}\s]*\}/.exec(text.slice(offset - 1, offset + 200))?.[0];
  if (!ref) return undefined;
  const before = text.slice(text.lastIndexOf('\n', offset - 1) + 1, offset - 1);
  const prefix = /(?:^|[[{,]|:\s)\s*([^\s[\]{},]*)$/.exec(before)?.[1] ?? '';
  const suffix = /^[^\s,\]}]*/.exec(text.slice(offset - 1 + ref.length, offset + 200))![0];
  return { ...lines.linePos(offset - 1 - prefix.length), ref, value: `${prefix}${ref}${suffix}` };
}

/** `duration:120` (Marteau's own docs example) is one plain scalar, not a key: say what to add. */
function syntaxHint(line: string): string {
  const glued = /^\s*([A-Za-z_][\w-]*):([^\s:][^:]*)$/.exec(line);
  if (glued) return `a space is missing after the colon: write "${glued[1]}: ${glued[2].trimEnd()}"`;
  return 'check indentation and quoting on that line';
}

/** The deepest node along `path` that exists, and its position. */
export function locate(src: SourceDoc, path: readonly (string | number)[], atKey = false): { line?: number; col?: number } {
  let node: unknown = src.doc.contents;
  let found: Node | undefined = node as Node;
  for (const [i, key] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) break;
      // Point at the value when there is one (or at the key itself when the key is the problem).
      const target = (atKey && i === path.length - 1) || !pair.value ? pair.key : pair.value;
      node = target;
      found = target as Node;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      if (!node) break;
      found = node as Node;
    } else if (isScalar(node) && typeof node.value === 'string' && typeof key === 'number') {
      // A position inside a string (e.g. the 2nd entry of "20:delay,10:oops"): the string itself.
      break;
    } else {
      break;
    }
  }
  const range = found?.range;
  if (!range) return {};
  const pos = src.lines.linePos(range[0]);
  return { line: pos.line, col: pos.col };
}

export function errorAt(src: SourceDoc, path: readonly (string | number)[], problem: string, hint?: string, atKey = false): ConfigError {
  const { line, col } = locate(src, path, atKey);
  const where = path.length ? `${path.join('.')}: ` : '';
  return new ConfigError(src.file, line, col, `${where}${problem}`, hint);
}
