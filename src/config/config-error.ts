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

/** How many of a file's problems one error shows in full; the rest are counted. */
export const SHOWN_PROBLEMS = 5;

/**
 * Several mistakes found at once (a schema's issues): the first is this error's own file, line
 * and problem, and the message gives each of the first SHOWN_PROBLEMS in full, so that one run
 * shows what to fix rather than one mistake per run.
 */
export class ConfigErrors extends ConfigError {
  constructor(readonly all: readonly ConfigError[]) {
    const [first] = all;
    super(first.file, first.line, first.col, first.problem, first.hint);
    const rest = all.length - SHOWN_PROBLEMS;
    this.message = [
      ...all.slice(0, SHOWN_PROBLEMS).map((e) => e.message),
      ...(rest > 0 ? [`(and ${rest} more problem${rest > 1 ? 's' : ''})`] : []),
    ].join('\n');
  }
}
