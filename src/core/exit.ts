/** Exit codes shared by every command (see DESIGN.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2, infrastructure: 3, interrupted: 130 } as const;

/** A user mistake: printed as one clear message, never with a stack trace. */
export class UsageError extends Error {
  constructor(message: string, readonly code: number = EXIT.usage) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One exit code for several outcomes: the first cause in the order 130, 2, 3, 1 wins (as for jobs). */
export function firstCause(codes: readonly number[]): number {
  const order: number[] = [EXIT.interrupted, EXIT.usage, EXIT.infrastructure, EXIT.failed];
  return order.find((c) => codes.includes(c)) ?? codes.find((c) => c !== EXIT.ok) ?? EXIT.ok;
}
