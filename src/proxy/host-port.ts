/** `host:port` addresses as the proxy's options, flags and APIs write them (IPv6 in brackets). */

export function splitHostPort(addr: string): [string, number] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`"${addr}" is not host:port (e.g. 127.0.0.1:6379)`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`"${addr}": port ${port} is over 65535`);
  return [m[1] || '127.0.0.1', port];
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
