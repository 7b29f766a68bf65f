/**
 * A scripted upstream in front of a real server: bytes pass both ways untouched until `cut()` is
 * armed; then the server's next reply chunk reaches the proxy only in part, followed by a clean
 * FIN (the server "closed mid-reply"), and the real server's socket is dropped.
 */
import net from 'node:net';

export interface CuttingRelay {
  port: number;
  /** Arm the cut; resolves with performance.now() when the FIN was sent. */
  cut(): Promise<number>;
  close(): Promise<void>;
}

export async function startCuttingRelay(upstreamPort: number): Promise<CuttingRelay> {
  const sockets = new Set<net.Socket>();
  let armed: ((at: number) => void) | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (proxySide) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(proxySide).add(upstream);
    for (const s of [proxySide, upstream]) s.on('error', () => {});
    proxySide.on('data', (d) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      const done = armed;
      if (!done || d.length < 2) { proxySide.write(d); return; }
      armed = undefined;
      upstream.destroy();
      proxySide.end(d.subarray(0, d.length >> 1), () => done(performance.now()));
    });
    upstream.on('close', () => { if (!proxySide.writableEnded) proxySide.end(); });
    proxySide.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => new Promise((resolve) => { armed = resolve; }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
