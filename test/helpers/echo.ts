import net from 'node:net';

/** A TCP echo server on a free loopback port (the upstream of raw tcp proxy tests). */
export async function startEchoServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let total = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    total++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => total,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A second upstream that answers `B:` + what it got, to see where a proxy sends traffic. */
export async function startTaggingServer(): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((s) => { s.on('data', (d) => s.write(`B:${d}`)); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/**
 * Connect, send `data`, collect what comes back until `want` bytes, until `until` holds of the
 * bytes so far (so many replies, say), a close, or `timeoutMs`. Read for a fixed time only, the
 * reply is whatever came in it: nothing at all when this process was off the CPU that long.
 */
export async function exchange(
  port: number,
  data: Buffer | string,
  opts: { want?: number; until?: (reply: Buffer) => boolean; timeoutMs?: number } = {},
): Promise<{ reply: Buffer; closed: boolean; error?: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.connect({ port, host: '127.0.0.1' });
    const done = (closed: boolean, error?: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ reply: Buffer.concat(chunks), closed, error, ms: performance.now() - start });
    };
    const timer = setTimeout(() => done(false, 'timeout'), opts.timeoutMs ?? 2000);
    s.on('data', (c) => {
      chunks.push(c);
      got += c.length;
      if ((opts.want !== undefined && got >= opts.want) || opts.until?.(Buffer.concat(chunks))) done(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => done(true, e.code ?? e.message));
    s.on('end', () => done(true));
    s.write(data);
  });
}
