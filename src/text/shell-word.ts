/**
 * One POSIX shell word that means exactly `value`: bare when every character is safe, else
 * single-quoted (inside '...' nothing is special but `'` itself). Here, below every layer: the
 * SSH exec request (exec/quote.ts, which refuses a NUL first) and the commands printed for a user
 * to run (a `--state-dir` path with a space) both need it.
 */
export function shellWord(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
