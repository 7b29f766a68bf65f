/**
 * Shopify's Toxiproxy server, the peer the proxy issue measures against, when this machine has
 * one: `toxiproxy-server` on PATH, or the file TOXIPROXY_SERVER names. It is not in Debian nor on
 * npm, so most machines have none and the bench says so rather than fail. Proxies are made
 * through its own HTTP API, as its users make them, with no toxic: Toxiproxy passing through.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from '../test/helpers/net.js';
import { findBinary } from '../test/helpers/servers.js';

export interface Toxiproxy {
  child: ChildProcess;
  binary: string;
  /** Its HTTP API's base URL. */
  api: string;
  /** A Toxiproxy proxy in front of 127.0.0.1:upstreamPort; resolves to its listening port. */
  addProxy(name: string, upstreamPort: number): Promise<number>;
  stop(): void;
}

export function toxiproxyBinary(): string | undefined {
  const named = process.env.TOXIPROXY_SERVER;
  if (named) return existsSync(named) ? named : undefined;
  return findBinary('toxiproxy-server');
}

export async function startToxiproxy(binary: string): Promise<Toxiproxy> {
  const apiPort = await freePort();
  // At its default level it logs every connection it accepts, a cost the proxy and the pipe do not pay.
  const child = spawn(binary, ['-host', '127.0.0.1', '-port', String(apiPort)], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'warn' } });
  const api = `http://127.0.0.1:${apiPort}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${binary} exited with ${child.exitCode}`);
    const up = await fetch(`${api}/version`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${binary}: its API on ${api} did not answer within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    binary,
    api,
    async addProxy(name, upstreamPort) {
      const listen = `127.0.0.1:${await freePort()}`;
      const res = await fetch(`${api}/proxies`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, listen, upstream: `127.0.0.1:${upstreamPort}`, enabled: true }),
      });
      if (!res.ok) throw new Error(`Toxiproxy refused proxy ${name}: ${res.status} ${await res.text()}`);
      return Number(listen.split(':')[1]);
    },
    stop: () => void child.kill('SIGKILL'),
  };
}
