/**
 * The blocks of a Lua script or library's source, as far as the proxy reads them: where a function
 * ends, how deep a place is, whether it is in a function's body. Comments and strings are skipped,
 * so an `end` inside one closes nothing.
 */

/** Lua's long comments, comments, long strings and strings (skipped), and the words that open and close a block. */
const LUA_TOKENS = /--\[(=*)\[[\s\S]*?\]\1\]|--[^\n]*|\[(=*)\[[\s\S]*?\]\2\]|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\b(function|if|do|end)\b/g;

/** Where the function whose `function` word is at `at` in `source` ends, after its `end`; -1 if it does not. */
export function functionEnd(source: string, at: number): number {
  LUA_TOKENS.lastIndex = at;
  let depth = 0;
  for (let m = LUA_TOKENS.exec(source); m !== null; m = LUA_TOKENS.exec(source)) {
    if (m[3] === undefined) continue;
    depth += m[3] === 'end' ? -1 : 1;
    if (depth === 0) return LUA_TOKENS.lastIndex;
  }
  return -1;
}

/** How deep in blocks (function, if, do ... end) `at` is in `source`; -1 inside a comment or a string. */
export function depthAt(source: string, at: number): number {
  LUA_TOKENS.lastIndex = 0;
  let depth = 0;
  for (let m = LUA_TOKENS.exec(source); m !== null && m.index < at; m = LUA_TOKENS.exec(source)) {
    if (m[3] !== undefined) depth += m[3] === 'end' ? -1 : 1;
    else if (LUA_TOKENS.lastIndex > at) return -1;
  }
  return depth;
}

/**
 * Where the `function` words are of the functions whose bodies hold `at` in `source`, of those
 * written at or after `from` (outermost first): code there runs when such a function is called,
 * not where it is written.
 */
export function functionsAround(source: string, from: number, at: number): number[] {
  LUA_TOKENS.lastIndex = from;
  // The blocks open at `at`, innermost last: a function's `function` word, -1 for another block.
  const open: number[] = [];
  for (let m = LUA_TOKENS.exec(source); m !== null && m.index < at; m = LUA_TOKENS.exec(source)) {
    if (m[3] === 'end') open.pop();
    else if (m[3] !== undefined) open.push(m[3] === 'function' ? m.index : -1);
  }
  return open.filter((i) => i >= 0);
}
