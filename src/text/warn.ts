/**
 * The words of a warning (or an error) on stderr, the same from every command: here, below every
 * layer, since both the CLI's commands and the `--ci` run (ci/, which does not import cli/) say them.
 */

/** Where the line goes: a command's stderr. */
export interface ErrOut {
  err: { write(text: string): unknown };
}

/** `marteau-tui: warning: LINE` (or `error:`) on `io.err`. */
export function warnTo(io: ErrOut): (line: string, level?: 'warn' | 'error') => void {
  return (line, level = 'warn') => io.err.write(`marteau-tui: ${level === 'warn' ? 'warning' : 'error'}: ${line}\n`);
}
