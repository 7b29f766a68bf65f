/**
 * A proxy whose upstream is its own listen address connects to itself, each connection opening
 * the next, until file descriptors run out. Detected at bind time, through DNS as well (a
 * hostname resolving to the listen address loops just the same).
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Whether connecting to `upstream` would reach a listener bound on `listen` (both host, port). */
export async function loopsBack(listen: [string, number], upstream: [string, number]): Promise<boolean> {
  if (listen[1] !== upstream[1] || listen[1] === 0) return false;
  const targets = await addresses(upstream[0]);
  if (WILDCARDS.has(listen[0])) {
    const local = localAddresses();
    return targets.some((a) => local.has(a) || isLoopback(a));
  }
  const bound = new Set(await addresses(listen[0]));
  return targets.some((a) => bound.has(a));
}

async function addresses(host: string): Promise<string[]> {
  if (WILDCARDS.has(host)) return [...localAddresses()];
  if (net.isIP(host)) return [plain(host)];
  try {
    return (await lookup(host, { all: true })).map((a) => plain(a.address));
  } catch {
    // A name that does not resolve cannot be a loop; connecting will report it.
    return [];
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.add(plain(a.address));
  return out;
}

/** IPv4-mapped IPv6 (::ffff:127.0.0.1) as the IPv4 address it is. */
function plain(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1] : addr;
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1';
}
