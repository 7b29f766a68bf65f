import net from 'node:net';

/** A free TCP port on 127.0.0.1 (bind port 0, read it back, release it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
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
