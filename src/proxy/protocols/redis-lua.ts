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
 * Whether `at` in `source` is in the body of a function whose `function` word comes at or after
 * `from`: code that runs when that function is called, not where it is written.
 */
export function inFunctionFrom(source: string, from: number, at: number): boolean {
  LUA_TOKENS.lastIndex = from;
  // The blocks open at `at`, innermost last: whether each is a function's.
  const open: boolean[] = [];
  for (let m = LUA_TOKENS.exec(source); m !== null && m.index < at; m = LUA_TOKENS.exec(source)) {
    if (m[3] === 'end') open.pop();
    else if (m[3] !== undefined) open.push(m[3] === 'function');
  }
  return open.includes(true);
}
