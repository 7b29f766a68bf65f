/**
 * A small bounded pipelined loader for bench:proxy: C connections each keep D requests in flight
 * until each has had its share of N replies, error replies counted as replies (redis-benchmark
 * stops at the first one, so it cannot measure a proxy that injects errors). Every count is
 * exact: a connection that gets more replies than it sent, or a run that does not end by its
 * deadline, is an error, not a figure.
 */
import net from 'node:net';
import { Histogram } from '../src/stats/histogram.js';

/** Counts the replies in a byte stream, however it is cut into chunks. */
export interface ReplyCounter {
  /** Feed bytes; returns how many replies they completed. */
  feed(chunk: Buffer): number;
  /** Error replies seen so far. */
  errors: number;
}

export interface Wire {
  name: string;
  /** One request, sent D times back to back. */
  request: Buffer;
  counter(): ReplyCounter;
  /**
   * Bring a fresh connection to where requests may be sent (login; no reply bytes left over).
   * Says how many of its messages were exchanges a proxy may fault, and how many it saw faulted.
   */
  handshake?(socket: net.Socket): Promise<Setup>;
}

export interface Setup {
  exchanges: number;
  errors: number;
}

export interface LoadResult {
  replies: number;
  errors: number;
  /** Of the handshakes. */
  setup: Setup;
  seconds: number;
  rps: number;
}

export interface LoadOptions {
  connections: number;
  depth: number;
  requests: number;
  deadlineMs: number;
  /** With depth 1: each request's round trip, in µs. */
  latency?: Histogram;
}

async function connect(port: number, wire: Wire, sockets: net.Socket[], setup: Setup): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const s = await wire.handshake?.(socket);
  setup.exchanges += s?.exchanges ?? 0;
  setup.errors += s?.errors ?? 0;
}

export async function load(port: number, wire: Wire, o: LoadOptions): Promise<LoadResult> {
  const sockets: net.Socket[] = [];
  const setup: Setup = { exchanges: 0, errors: 0 };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${wire.name}: not done within ${o.deadlineMs} ms`)), o.deadlineMs);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: o.connections }, () => connect(port, wire, sockets, setup))), deadline]);
    return await Promise.race([run(wire, o, sockets, setup), deadline]);
  } finally {
    clearTimeout(timer);
    for (const s of sockets) {
      s.removeAllListeners('close');
      s.on('error', () => {});
      s.destroy();
    }
  }
}

async function run(wire: Wire, o: LoadOptions, sockets: net.Socket[], setup: Setup): Promise<LoadResult> {
  const share = Math.floor(o.requests / o.connections);
  const batches = new Map<number, Buffer>();
  const batch = (k: number) => {
    let b = batches.get(k);
    if (!b) batches.set(k, (b = Buffer.concat(Array.from({ length: k }, () => wire.request))));
    return b;
  };
  let errors = 0;
  let replies = 0;
  const start = performance.now();
  const runs = sockets.map(
    (socket) =>
      new Promise<void>((resolve, reject) => {
        const counter = wire.counter();
        let sent = 0;
        let got = 0;
        let sentAt = 0;
        const send = (k: number) => {
          const n = Math.min(k, share - sent);
          if (n <= 0) return;
          sent += n;
          if (o.latency) sentAt = performance.now();
          socket.write(batch(n));
        };
        socket.on('data', (chunk: Buffer) => {
          const k = counter.feed(chunk);
          if (k === 0) return;
          if (o.latency) o.latency.record((performance.now() - sentAt) * 1000);
          got += k;
          if (got > sent) reject(new Error(`${wire.name}: ${got} replies to ${sent} requests`));
          else if (got === share) {
            errors += counter.errors;
            replies += got;
            socket.removeAllListeners('data');
            resolve();
          } else send(k);
        });
        socket.on('error', reject);
        socket.on('close', () => reject(new Error(`${wire.name}: connection closed after ${got} of ${share} replies`)));
        send(o.depth);
      }),
  );
  await Promise.all(runs);
  const seconds = (performance.now() - start) / 1000;
  return { replies, errors, setup, seconds, rps: replies / seconds };
}

/** Replies of one line each (redis PING, memcache get of a missing key, SMTP NOOP); `isError` reads a line's first two bytes. */
export function lineCounter(isError: (first: number, second: number) => boolean): () => ReplyCounter {
  return () => {
    let seen = 0; // of the current line's first two bytes
    let b0 = -1;
    let b1 = -1;
    const c: ReplyCounter = {
      errors: 0,
      feed(chunk) {
        let n = 0;
        let i = 0;
        while (i < chunk.length) {
          const lf = chunk.indexOf(0x0a, i);
          const end = lf < 0 ? chunk.length : lf;
          for (let j = i; j < end && seen < 2; j++, seen++) {
            if (seen === 0) b0 = chunk[j];
            else b1 = chunk[j];
          }
          if (lf < 0) break;
          if (isError(b0, b1)) c.errors++;
          n++;
          seen = 0;
          b0 = b1 = -1;
          i = lf + 1;
        }
        return n;
      },
    };
    return c;
  };
}

/**
 * A counter over whole replies: `take(buf, c)` counts the complete replies at the start of `buf`
 * (errors into c.errors) and returns [replies, bytes they used]; the rest waits for more bytes.
 */
function holding(take: (buf: Buffer, c: ReplyCounter) => [number, number]): ReplyCounter {
  let held = Buffer.alloc(0);
  const c: ReplyCounter = {
    errors: 0,
    feed(chunk) {
      const buf = held.length ? Buffer.concat([held, chunk]) : chunk;
      const [n, used] = take(buf, c);
      held = Buffer.from(buf.subarray(used));
      return n;
    },
  };
  return c;
}

/** Length-prefixed messages: `header` bytes, from which `length(msg)` gives the message's full size. */
export function messageCounter(header: number, length: (b: Buffer) => number, isReply: (b: Buffer) => boolean, isError: (b: Buffer) => boolean): () => ReplyCounter {
  return () =>
    holding((buf, c) => {
      let n = 0;
      let at = 0;
      while (buf.length - at >= header) {
        const size = length(buf.subarray(at));
        if (buf.length - at < size) break;
        const msg = buf.subarray(at, at + size);
        if (isError(msg)) c.errors++;
        if (isReply(msg)) n++;
        at += size;
      }
      return [n, at];
    });
}

/** HTTP/1.1 responses with a Content-Length; an error is a status of 500 or more. */
export function httpCounter(): ReplyCounter {
  return holding((buf, c) => {
    let n = 0;
    let at = 0;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', at);
      if (end < 0) break;
      const head = buf.toString('latin1', at, end);
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!m) throw new Error(`http: a response without Content-Length: ${head.slice(0, 80)}`);
      const size = end + 4 + Number(m[1]);
      if (buf.length < size) break;
      if (Number(head.slice(9, 12)) >= 500) c.errors++;
      n++;
      at = size;
    }
    return [n, at];
  });
}
