/**
 * POSIX shell quoting for the one place a command line must cross a shell: the SSH `exec`
 * request, which the remote login shell parses. Every value becomes one single-quoted word, so
 * quotes, spaces, `$(...)`, backticks, globs and newlines reach the program as plain bytes.
 */
import { shellWord } from '../text/shell-word.js';

export class QuoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuoteError';
  }
}

/** One shell word that means exactly `value`. Inside '...' nothing is special except `'` itself. */
export function shellQuote(value: string): string {
  // A NUL cannot be carried by argv or env at all; refusing is better than silently cutting.
  if (value.includes('\0')) throw new QuoteError('a value contains a NUL byte, which no command line can carry');
  return shellWord(value);
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Environment variable names a POSIX shell and `env` accept. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
