/** A config mistake at file:line:col: what is wrong and how to fix it. Without yaml (errors.ts has the locating), so the engine can tell it at once. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly col: number | undefined,
    readonly problem: string,
    readonly hint?: string,
  ) {
    super(`${file}${line ? `:${line}:${col ?? 1}` : ''}: ${problem}${hint ? `\n  hint: ${hint}` : ''}`);
    this.name = 'ConfigError';
  }
}
