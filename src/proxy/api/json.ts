/**
 * JSON request bodies: parse, and on a syntax error say where (line and column) and what was
 * found, which JSON.parse's own messages do not always tell.
 */

export class JsonSyntaxError extends Error {
  constructor(readonly reason: string, readonly line: number, readonly column: number) {
    super(`malformed JSON at line ${line}, column ${column}: ${reason}`);
    this.name = 'JsonSyntaxError';
  }
}

const MAX_DEPTH = 64;
const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

export function parseJson(text: string): unknown {
  const problem = locateSyntaxError(text);
  if (problem) {
    const { line, column } = lineColumn(text, problem.offset);
    throw new JsonSyntaxError(problem.reason, line, column);
  }
  return JSON.parse(text);
}

/** The first syntax error of `text` as JSON, or undefined when it is valid. */
export function locateSyntaxError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = (reason: string): never => { throw { offset: i, reason }; };
  const found = () => (i >= text.length ? 'end of body' : JSON.stringify(text[i]));
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${found()}, expected a value`);
  };
  const string = () => {
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i];
      if (c === '"') { i++; return; }
      if (c < ' ') fail('control character in a string (escape it)');
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) { i++; fail('bad \\u escape'); }
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          i++;
          fail(`bad escape \\${e ?? ''}`);
        }
      } else {
        i++;
      }
    }
  };
  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail(`unexpected ${found()}, expected a value`);
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`unexpected ${found()}, expected a "quoted" key`);
        string();
        ws();
        if (text[i] !== ':') fail(`unexpected ${found()}, expected ":" after the key`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail(`unexpected ${found()}, expected "," or "}"`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail(`unexpected ${found()}, expected "," or "]"`);
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    return number();
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail(`unexpected ${found()} after the JSON value`);
    return undefined;
  } catch (e) {
    if (e && typeof e === 'object' && 'offset' in e) return e as { offset: number; reason: string };
    throw e;
  }
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      start = k + 1;
    }
  }
  return { line, column: offset - start + 1 };
}
