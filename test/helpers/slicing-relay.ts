/**
 * A relay to a server that hands one side's bytes on `piece` at a time, `gapMs` apart, as TCP may
 * cut them (a packet's header, an ERR, a reply line, anywhere): the client's (`client`), or the
 * server's and its end after them (`server`); the other way untouched.
 */
import net from 'node:net';

export interface SlicingRelay {
  port: number;
  close(): Promise<void>;
}

export async function startSlicingRelay(upstream: number, piece: number, sliced: 'client' | 'server' = 'client', gapMs = 5): Promise<SlicingRelay> {
  const sockets = new Set<net.Socket>();
  /** Writes to `to` in pieces, in order, each chunk's after the last's. */
  const slicer = (to: net.Socket) => {
    let queue = Promise.resolve();
    const later = (f: () => void) => {
      queue = queue.then(() => new Promise<void>((r) => setTimeout(() => { f(); r(); }, gapMs)));
    };
    return {
      write: (d: Buffer) => {
        for (let i = 0; i < d.length; i += piece) {
          const part = d.subarray(i, i + piece);
          later(() => to.write(part));
        }
      },
      end: () => later(() => to.end()),
    };
  };
  const server = net.createServer((down) => {
    const up = net.connect(upstream, '127.0.0.1');
    sockets.add(down).add(up);
    // Each piece its own segment, not joined by Nagle's algorithm while the last one is unacknowledged.
    down.setNoDelay(true);
    up.setNoDelay(true);
    for (const s of [down, up]) s.on('error', () => {});
    if (sliced === 'client') down.on('data', slicer(up).write);
    else down.on('data', (d: Buffer) => up.write(d));
    if (sliced === 'server') {
      const toDown = slicer(down);
      up.on('data', toDown.write);
      up.on('end', toDown.end);
    } else {
      up.on('data', (d: Buffer) => down.write(d));
      up.on('close', () => down.destroy());
    }
    down.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
