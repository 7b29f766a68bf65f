/** The proxy errors a job ends with, apart from the proxy so the engine can tell them without loading it. */
export class UpstreamLoopError extends Error {
  constructor(readonly proxy: string, readonly upstream: string, readonly listen: string) {
    super(`proxy "${proxy}": upstream ${upstream} is the proxy's own listen address ${listen}; it would connect to itself until file descriptors run out`);
    this.name = 'UpstreamLoopError';
  }
}

export class ListenError extends Error {
  constructor(readonly proxy: string, readonly address: string, readonly code: string) {
    super(
      code === 'EADDRINUSE'
        ? `proxy "${proxy}": ${address} is already in use; pick another port or stop what listens there`
        : `proxy "${proxy}": cannot listen on ${address} (${code})`,
    );
    this.name = 'ListenError';
  }
}

/** The text of anything thrown: an Error's message, or the value itself as a string. */
export function messageOf(err: unknown): string {
  return String((err as { message?: unknown } | null | undefined)?.message ?? err);
}
