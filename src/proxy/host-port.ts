/** `host:port` addresses as the proxy's options, flags and APIs write them (IPv6 in brackets). */

export function splitHostPort(addr: string): [string, number] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`"${addr}" is not host:port (e.g. 127.0.0.1:6379)`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`"${addr}": port ${port} is over 65535`);
  return [m[1] || '127.0.0.1', port];
}

/**
 * Why an address cannot be an upstream, or undefined: port 0 asks the kernel for any free port,
 * which a listener can do but a connection cannot (no server listens on port 0).
 */
export function upstreamProblem(addr: string): string | undefined {
  const [, port] = splitHostPort(addr);
  return port === 0 ? `"${addr}": ${UPSTREAM_PORT_0}` : undefined;
}

/** Why port 0 is no upstream, for the config schema (which names the key, not the value) too. */
export const UPSTREAM_PORT_0 = 'port 0 is not a server\'s port (0 means "any free port", which only a listen address can ask for)';

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
