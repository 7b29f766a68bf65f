import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The kernel's ephemeral ports (what `listen(0)` and every outgoing connection are given), from
 * /proc, or Linux's default range.
 */
function ephemeralPorts(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low > 0 && high >= low) return [low, high];
  } catch {
    // Not Linux: its default range.
  }
  return [32768, 60999];
}

/**
 * A free TCP port on `host` for a process to bind later (a CLI under test, a config's listen
 * address), released until then. Chosen below the ephemeral range: a port from `listen(0)`
 * could be handed to another test's connection or listener before the process binds it (a
 * test failed so, once in a full run); a port outside the range is only taken by whoever asks
 * for it by number.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low] = ephemeralPorts();
  const from = Math.min(10_000, low - 1000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (await bindable(port, host)) return port;
  }
  throw new Error(`no free port on ${host} between ${from} and ${low - 1} after 200 tries`);
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Whether a TCP connect to 127.0.0.1:port succeeds now (a proxy listening, or refused). */
export function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Wait until something accepts TCP connections on host:port, or fail after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Send `data` on a fresh socket, collect chunks until the buffer ends with `marker`. */
export async function rawExchange(port: number, data: Buffer, marker: string, timeoutMs = 10_000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let tail = '';
    const s = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no "${marker}" after ${timeoutMs} ms: ${tail}`)); }, timeoutMs);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      tail = (tail + c.toString('latin1')).slice(-marker.length - 16);
      if (tail.endsWith(marker)) {
        clearTimeout(timer);
        s.destroy();
        resolve(chunks);
      }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.write(data);
  });
}
