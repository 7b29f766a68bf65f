/**
 * A relay between a real client and a real server that pushes every byte through a protocol's
 * framer, records the raw chunks and what the framer made of them, and falls back to raw
 * pass-through on a FramingError (as the proxy does), so the conversation goes on and the test
 * can check the framing afterwards.
 */
import net from 'node:net';
import type { Protocol } from '../../src/proxy/protocol.js';
import { assemble, type Msg, type Open } from './conversation.js';

export interface Recorded {
  events: { from: 'c' | 's'; bytes: Buffer }[];
  c: Msg[];
  s: Msg[];
  errors: Error[];
  /** A reply message still open after the last server chunk. */
  openS?: Msg;
  /** The client side has closed. */
  closed: boolean;
}

export async function startRecordingRelay(proto: Protocol, upstreamPort: number): Promise<{ port: number; conns: Recorded[]; close(): Promise<void> }> {
  const conns: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const rec: Recorded = { events: [], c: [], s: [], errors: [], closed: false };
    conns.push(rec);
    const session = proto.createSession();
    const oc: Open = {}, os: Open = {};
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    let raw = false;
    const pass = (from: 'c' | 's', chunk: Buffer) => {
      rec.events.push({ from, bytes: Buffer.from(chunk) });
      const to = from === 'c' ? upstream : client;
      if (raw) { to.write(chunk); return; }
      try {
        const segs = from === 'c' ? session.fromClient(chunk) : session.fromServer(chunk);
        assemble(segs, from === 'c' ? oc : os, from === 'c' ? rec.c : rec.s, from === 'c');
        for (const sg of segs) to.write(sg.data);
      } catch (e) {
        rec.errors.push(e as Error);
        raw = true;
        const held = session.drain();
        if (held.client.length) upstream.write(held.client);
        if (held.server.length) client.write(held.server);
      }
      rec.openS = os.cur;
    };
    client.on('data', (d) => pass('c', d));
    upstream.on('data', (d) => pass('s', d));
    client.on('close', () => { upstream.destroy(); rec.closed = true; });
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
