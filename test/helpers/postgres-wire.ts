/**
 * PostgreSQL's wire protocol at the byte level, for tests that look at the messages themselves:
 * frontend messages made by hand, a client that reads the server's messages as they come, and
 * relays between the proxy and the server that record or regroup what passes.
 */
import net from 'node:net';

export const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
export const msg = (type: string, body: Buffer = Buffer.alloc(0)) => Buffer.concat([Buffer.from(type), i32(body.length + 4), body]);
export const simple = (sql: string) => msg('Q', Buffer.from(`${sql}\0`));
/** Parse of statement `name` (no parameter types given). */
export const parse = (sql: string, name = '') => msg('P', Buffer.from(`${name}\0${sql}\0\0\0`));
/** Bind of the unnamed portal to statement `name`, text parameters, text results. */
export const bind = (name = '', values: string[] = []) => msg('B', Buffer.concat([
  Buffer.from(`\0${name}\0`), Buffer.from([0, 0, 0, values.length]),
  ...values.flatMap((v) => [i32(Buffer.byteLength(v)), Buffer.from(v)]), Buffer.from([0, 0]),
]));
export const execute = () => msg('E', Buffer.concat([Buffer.from([0]), i32(0)]));
export const sync = () => msg('S');
export const flush = () => msg('H');
/** Close of statement `name`. */
export const close = (name: string) => msg('C', Buffer.from(`S${name}\0`));
export const extended = (sql: string) => Buffer.concat([parse(sql), bind(), msg('D', Buffer.from('P\0')), execute(), sync()]);

export interface Message { type: string; body: Buffer }

/** A message as a short word: its type; an error's SQLSTATE, a ReadyForQuery's status after it. */
export function word(m: Message): string {
  if (m.type === 'E') return `E${/C([0-9A-Z]{5})\0/.exec(m.body.toString('latin1'))?.[1]}`;
  if (m.type === 'Z') return `Z${m.body.toString('latin1')}`;
  return m.type;
}

/** A client that reads the server's messages as they come: their types, and each one's bytes. */
export async function messageClient(port: number): Promise<{ write(b: Buffer): void; until(type: string, count?: number): Promise<Message[]>; pending(): string; close(): void; closed: Promise<void> }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  /** Once the other end has closed the connection. */
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
  let got = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  /** The messages up to the `count`th of `type`, which are taken from what came. */
  const until = async (type: string, count = 1) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const out: Message[] = [];
      let seen = 0;
      let pos = 0;
      while (pos + 5 <= got.length && pos + 1 + got.readInt32BE(pos + 1) <= got.length) {
        const end = pos + 1 + got.readInt32BE(pos + 1);
        out.push({ type: String.fromCharCode(got[pos]), body: got.subarray(pos + 5, end) });
        pos = end;
        if (out.at(-1)!.type === type && ++seen === count) {
          got = got.subarray(pos);
          return out;
        }
      }
      if (Date.now() > deadline) throw new Error(`no ${count} ${type} message(s): got ${out.map(word).join(' ')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
  sock.write(Buffer.concat([i32(8 + params.length), i32(196608), params]));
  await until('Z');
  /** The words of the whole messages that came and were not taken yet. */
  const pending = () => {
    const out: string[] = [];
    for (let pos = 0; pos + 5 <= got.length && pos + 1 + got.readInt32BE(pos + 1) <= got.length; pos += 1 + got.readInt32BE(pos + 1)) {
      out.push(word({ type: String.fromCharCode(got[pos]), body: got.subarray(pos + 5, pos + 1 + got.readInt32BE(pos + 1)) }));
    }
    return out.join(' ');
  };
  return { write: (b) => sock.write(b), until, pending, close: () => sock.destroy(), closed };
}

/** A relay between the proxy and the server on a free port; `wire` moves the bytes of each pair of sockets. */
export async function startRelay(upstream: number, wire: (down: net.Socket, up: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(upstream, '127.0.0.1');
    sockets.add(down).add(up);
    wire(down, up);
    for (const [a, b] of [[down, up], [up, down]]) {
      a.on('error', () => {});
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close() { for (const s of sockets) s.destroy(); server.close(); },
  };
}

/**
 * A relay between the proxy and the server that counts the server's bytes and, once told to
 * join, keeps them until `count` messages of `type` have come (a RowDescription by default),
 * then writes them in one write: the proxy reads the replies of two requests as one chunk.
 */
export async function startJoiner(upstream: number): Promise<{ port: number; serverBytes(): number; join(type?: string, count?: number): void; close(): void }> {
  let bytes = 0;
  let joining: { type: number; count: number } | undefined;
  const relay = await startRelay(upstream, (down, up) => {
    let held = Buffer.alloc(0);
    down.on('data', (d: Buffer) => up.write(d));
    up.on('data', (d: Buffer) => {
      bytes += d.length;
      if (!joining) return void down.write(d);
      held = Buffer.concat([held, d]);
      let seen = 0;
      for (let pos = 0; pos + 5 <= held.length; pos += 1 + held.readInt32BE(pos + 1)) {
        if (held[pos] === joining.type && pos + 1 + held.readInt32BE(pos + 1) <= held.length && ++seen === joining.count) {
          joining = undefined;
          down.write(held);
          held = Buffer.alloc(0);
          return;
        }
      }
    });
  });
  return { ...relay, serverBytes: () => bytes, join(type = 'T', count = 1) { joining = { type: type.charCodeAt(0), count }; } };
}
