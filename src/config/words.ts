/**
 * Splits a `command:` string into argv like a shell would split words, and nothing more: single
 * and double quotes group, a backslash escapes, but `$VAR`, `$(...)`, globs, `;`, `|` and `>`
 * are plain characters. Anyone needing a shell writes `command: [sh, -c, "..."]` explicitly.
 */

export class WordsError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'WordsError';
  }
}

export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  let quoteAt = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\'.includes(text[i + 1])) word += text[++i];
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      quoteAt = i;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new WordsError('a backslash ends the command', i);
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new WordsError(`the ${quote === '"' ? 'double' : 'single'} quote at character ${quoteAt + 1} is never closed`, quoteAt);
  if (inWord) words.push(word);
  return words;
}
