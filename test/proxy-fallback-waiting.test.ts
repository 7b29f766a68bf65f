/**
 * A connection whose framing stops (a FramingError: it passes bytes through from then on) while
 * exchanges still wait for their reply, against a real memcached held stopped (SIGSTOP) so that
 * they do wait: the forwarded ones get the server's bytes and end. When the client's bytes are
 * what memcache's framer cannot read, the replies owed to the requests before are still framed,
 * as when it holds a message over max_buffer, so an injected error among them goes in its place.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy/proxy.js';
import { waitFor } from './helpers/recording-relay.js';
import { freeze, haveServer, startMemcached, startRedis, type RunningProcessServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';

const WAIT_MS = 8000;
const run = haveServer('memcached');

/** A raw client socket: what it received, and a promise settled by its end, close or error. */
function rawClient(port: number) {
  const s = net.connect(port, '127.0.0.1');
  let received = '';
  let ended = false;
  s.on('data', (d: Buffer) => { received += d.toString('latin1'); });
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    for (const e of ['end', 'close', 'error']) s.once(e, () => { ended = true; resolve(); });
  });
  return { socket: s, received: () => received, ended: () => ended, closed };
}

/**
 * An mg v behind an mg v q, neither with O nor k, then another mg v, which cannot tell them apart
 * (an mn or a get would): memcache-text.ts cannot frame them, and passes the client's bytes through.
 */
const FALLS_BACK = 'mg k v q\r\nmg nope v\r\nmg k v\r\n';
/** What memcached answers FALLS_BACK with, k stored. */
const FALLS_BACK_REPLIES = 'VA 1\r\nv\r\nEN\r\nVA 1\r\nv\r\n';
const VALUE = 'VALUE k 0 1\r\nv\r\nEND\r\n';
const GET_ERROR = 'SERVER_ERROR out of memory writing get response\r\n';

type RawClient = ReturnType<typeof rawClient>;

/** The client got `all` and nothing more, and each of the `exchanges` ended (timed), the framing stopped once. */
async function gotAll(p: Proxy, c: RawClient, all: string, exchanges: number): Promise<void> {
  await waitFor(() => c.received().length >= all.length, WAIT_MS);
  expect(c.received()).toBe(all);
  await waitFor(() => p.stats().latency.count === exchanges, WAIT_MS).catch(() => {});
  expect(p.stats()).toMatchObject({ exchanges, fallbacks: 1 });
  expect(p.stats().latency.count).toBe(exchanges);
}

/** The connection still serves, passed through: a get gets its VALUE. */
async function stillServes(c: RawClient, all: string): Promise<void> {
  c.socket.write('get k\r\n');
  await waitFor(() => c.received().length >= all.length + VALUE.length, WAIT_MS);
  expect(c.received()).toBe(all + VALUE);
}

/**
 * A get forwarded (waiting, the server stopped), then a get that draws an error, behind it: not
 * counted until it reaches the client (held-counts.ts), as the server could end before its place.
 */
async function forwardedThenErrored(p: Proxy, c: RawClient): Promise<void> {
  c.socket.write('get k\r\n');
  await waitFor(() => p.stats().exchanges === 2, WAIT_MS);
  await p.setMix('100:error');
  c.socket.write('get k\r\n');
  await waitFor(() => p.stats().exchanges === 3, WAIT_MS);
  expect(p.stats().behaviors.error).toBeUndefined();
  await p.setMix('');
}

/** The client leaves: its connection closes. */
async function leaves(p: Proxy, c: RawClient): Promise<void> {
  c.socket.end();
  await waitFor(() => p.stats().connections.open === 0, WAIT_MS);
}

describe.skipIf(!run)('a connection that falls back to passthrough with exchanges waiting (memcached)', () => {
  let server: RunningProcessServer;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 3 });

  /** A client with k stored through `p`, the server stopped behind it. */
  async function stoppedBehind(p: Proxy) {
    const c = rawClient(p.port);
    c.socket.write('set k 0 0 1\r\nv\r\n');
    await waitFor(() => c.received() === 'STORED\r\n', WAIT_MS);
    await freeze(server.pid);
    return c;
  }

  it('a forwarded request waiting as the framing stops gets the server\'s reply, passed through, and its exchange ends', async () => {
    await withProxy('', async (p) => {
      const c = await stoppedBehind(p);
      try {
        c.socket.write('get k\r\n');
        await waitFor(() => p.stats().exchanges === 2, WAIT_MS);
        c.socket.write(FALLS_BACK);
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      const all = `STORED\r\n${VALUE}${FALLS_BACK_REPLIES}`;
      // The get's exchange ended with the bytes that came: none is left open.
      await gotAll(p, c, all, 2);
      await stillServes(c, all);
      await leaves(p, c);
    });
  });

  it('requests waiting as the framing stops at a reply in doubt get the server\'s replies, and their exchanges end', async () => {
    await withProxy('', async (p) => {
      const c = rawClient(p.port);
      c.socket.write('set k 0 0 1\r\nv\r\n');
      await waitFor(() => c.received() === 'STORED\r\n', WAIT_MS);
      // Nothing behind the pair, the quiet one missed: the framer stops at the VA, whose request
      // nothing tells (the quiet one's hit would read so until the other's reply comes).
      c.socket.write('mg nope v q\r\nmg k v\r\n');
      const all = 'STORED\r\nVA 1\r\nv\r\n';
      await gotAll(p, c, all, 3);
      await leaves(p, c);
    });
  });

  it('an error injected behind a forwarded request still waiting as the client\'s framing stops goes in its place: the replies owed before are still framed', async () => {
    await withProxy('', async (p) => {
      const logs: string[] = [];
      p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
      const c = await stoppedBehind(p);
      try {
        await forwardedThenErrored(p, c);
        c.socket.write(FALLS_BACK);
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      // The first get's reply, framed, then the error in the second's place, then the server's bytes for the rest.
      const all = `STORED\r\n${VALUE}${GET_ERROR}${FALLS_BACK_REPLIES}`;
      await gotAll(p, c, all, 3);
      expect(p.stats().behaviors.error).toBe(1);
      expect(logs.join('\n')).not.toMatch(/closed: an error injected/);
      await stillServes(c, all);
      await leaves(p, c);
    });
  });

  it('behind a quiet request, an error sent to the server as an mn still replaces its MN once the client\'s framing stops; a quiet one last gets the stream', async () => {
    await withProxy('', async (p) => {
      const c = await stoppedBehind(p);
      try {
        c.socket.write('get k\r\nmg k v q\r\n');
        await waitFor(() => p.stats().exchanges === 3, WAIT_MS);
        await p.setMix('100:error');
        // Behind the quiet mg still waiting: it goes to memcached as an mn (the stand-in).
        c.socket.write('get k\r\n');
        await waitFor(() => p.stats().exchanges === 4, WAIT_MS);
        await p.setMix('');
        c.socket.write('mg k v q\r\n');
        await waitFor(() => p.stats().exchanges === 5, WAIT_MS);
        c.socket.write(FALLS_BACK);
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      // get, mg q (hit), the error for the get in the MN's place, the last mg q's hit, then the rest's replies.
      const all = `STORED\r\n${VALUE}VA 1\r\nv\r\n${GET_ERROR}VA 1\r\nv\r\n${FALLS_BACK_REPLIES}`;
      await gotAll(p, c, all, 5);
      await leaves(p, c);
    });
  });

  it('the pair\'s reply in doubt among the replies still framed: the server\'s side stops there too, the replies come whole and every exchange ends', async () => {
    await withProxy('', async (p) => {
      const c = await stoppedBehind(p);
      try {
        // The pair, then (another chunk) a command that does not tell: the client's side stops, the pair's replies still framed.
        c.socket.write('mg k v q\r\nmg nope v\r\n');
        await waitFor(() => p.stats().exchanges === 3, WAIT_MS);
        c.socket.write('mg k v\r\n');
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      const all = `STORED\r\n${FALLS_BACK_REPLIES}`;
      await gotAll(p, c, all, 3);
      await leaves(p, c);
    });
  });

  it('an error injected behind a forwarded request still waiting as a command line over max_buffer stops the client\'s framing, goes in its place: the replies owed before are still framed, the line passes through', async () => {
    await withProxy('', async (p) => {
      const logs: string[] = [];
      p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
      const c = await stoppedBehind(p);
      try {
        await forwardedThenErrored(p, c);
        // A command line longer than the proxy holds for one message: the client's bytes from it on pass through.
        c.socket.write(`get ${'x'.repeat(100)}`);
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      const all = `STORED\r\n${VALUE}${GET_ERROR}`;
      await gotAll(p, c, all, 3);
      expect(p.stats().behaviors.error).toBe(1);
      expect(logs.join('\n')).not.toMatch(/closed: an error injected/);
      // The line ends: memcached's END for that key, passed through.
      c.socket.write('\r\n');
      await waitFor(() => c.received().length >= all.length + 5, WAIT_MS);
      expect(c.received()).toBe(`${all}END\r\n`);
      await stillServes(c, `${all}END\r\n`);
      await leaves(p, c);
    }, { maxBuffer: 64 });
  });
});

describe.skipIf(!haveServer('redis-server'))('a connection whose framing stops with an injected error waiting, where the replies owed cannot be framed on (redis)', () => {
  let server: RunningProcessServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 3 });

  it('an error injected behind a reply still to come, the client\'s framing stopped: the connection ends, said in the log, not a client waiting for ever', async () => {
    await withProxy('', async (p) => {
      const logs: string[] = [];
      p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
      const c = rawClient(p.port);
      await freeze(server.pid);
      try {
        c.socket.write('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
        await waitFor(() => p.stats().exchanges === 1, WAIT_MS);
        await p.setMix('100:error');
        c.socket.write('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
        await waitFor(() => p.stats().exchanges === 2, WAIT_MS);
        await p.setMix('');
        // A multi-bulk request whose argument is not a bulk string: redis's framer stops there,
        // and the server's bytes are one stream from then on, the error's place in it unknown.
        c.socket.write('*1\r\n+x\r\n');
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
        // The server still stopped: the end comes from the proxy, at the fallback.
        await waitFor(() => c.ended(), WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      expect(c.received()).toBe('');
      expect(logs.join('\n')).toMatch(/connection \d+: closed: an error injected for a request waits behind a reply that can no longer be told apart/);
      await waitFor(() => p.stats().connections.open === 0, WAIT_MS);
    });
  });
});
