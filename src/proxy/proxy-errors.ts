/** The proxy errors a job ends with, apart from the proxy so the engine can tell them without loading it. */
export class UpstreamLoopError extends Error {
  constructor(readonly proxy: string, readonly upstream: string, readonly listen: string) {
    super(`proxy "${proxy}": upstream ${upstream} is the proxy's own listen address ${listen}; it would connect to itself until file descriptors run out`);
    this.name = 'UpstreamLoopError';
  }
}

export class ListenError extends Error {
  /** The address is the user's mistake (taken, not this machine's, ...), not a failure of the machine. */
  readonly mistake: boolean;

  constructor(readonly proxy: string, readonly address: string, readonly code: string) {
    const words = listenMistake(address, code);
    super(`proxy "${proxy}": ${words ?? `cannot listen on ${address} (${code})`}`);
    this.name = 'ListenError';
    this.mistake = words !== undefined;
  }
}

/**
 * Why `address` cannot be listened on, when the address given is at fault, with what to do;
 * undefined for other failures (the machine's), which keep their code.
 */
export function listenMistake(address: string, code: string): string | undefined {
  const host = address.replace(/:\d*$/, '');
  switch (code) {
    case 'EADDRINUSE':
      return `${address} is already in use; pick another port or stop what listens there`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${address}: ${host} is not an address of this machine; use 127.0.0.1 (this machine only), 0.0.0.0 (all its addresses) or one it has`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${address}: the host name ${host} does not resolve; use an address of this machine, e.g. 127.0.0.1`;
    case 'EACCES':
      return `cannot listen on ${address}: permission denied (ports below 1024 need root); pick a port from 1024 up`;
    default:
      return undefined;
  }
}

/** The text of anything thrown: an Error's message, or the value itself as a string. */
export function messageOf(err: unknown): string {
  return String((err as { message?: unknown } | null | undefined)?.message ?? err);
}
