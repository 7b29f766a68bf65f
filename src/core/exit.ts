/** Exit codes shared by every command (see DESIGN.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2, infrastructure: 3, interrupted: 130 } as const;

/** A user mistake: printed as one clear message, never with a stack trace. */
export class UsageError extends Error {
  constructor(message: string, readonly code: number = EXIT.usage) {
    super(message);
    this.name = 'UsageError';
  }
}
