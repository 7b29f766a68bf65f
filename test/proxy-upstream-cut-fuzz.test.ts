/**
 * Fuzz of the upstream-death fault (issue 14): for every framed protocol, an upstream that sends
 * any prefix of a well-formed reply (or greeting) and then a clean FIN must never leave the client
 * hanging. The client gets the bytes unaltered, then a close. The kill -9 tests against the real
 * servers are in proxy-upstream-death.test.ts; this one walks every cut point a framer may hold.
 */
import fc from 'fast-check';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { exchange } from './helpers/echo.js';
import { startProxy } from './helpers/builtin-proxy.js';

const crlf = (...lines: string[]) => Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
const packet = (seq: number, payload: Buffer) => {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
};
const pgMessage = (type: string, body: Buffer) => {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
};
const pgStartup = () => {
  const body = Buffer.concat([Buffer.alloc(4), Buffer.from('user\0postgres\0\0')]);
  body.writeUInt32BE(196608, 0);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length + 4);
  return Buffer.concat([len, body]);
};
/** A MySQL protocol-10 greeting, as a server sends it first on every connection. */
const mysqlGreeting = () => {
  const caps = Buffer.alloc(2);
  caps.writeUInt16LE(0xf7ff);
  const parts = [
    Buffer.from([10]), Buffer.from('10.11.6-MariaDB\0'), Buffer.from([1, 0, 0, 0]), Buffer.from('abcdefgh\0'),
    caps, Buffer.from([33, 2, 0]), Buffer.from([0xff, 0x81]), Buffer.from([21]), Buffer.alloc(10),
    Buffer.from('ijklmnopqrst\0'), Buffer.from('mysql_native_password\0'),
  ];
  return packet(0, Buffer.concat(parts));
};

interface Case {
  protocol: string;
  /** What the client sends first ('' when the server speaks first). */
  request: Buffer;
  reply: Buffer;
}

const cases: Case[] = [
  { protocol: 'redis', request: crlf('*2', '$3', 'GET', '$1', 'k', '*1', '$4', 'PING'), reply: crlf('$11', 'hello world', '+PONG') },
  { protocol: 'memcache', request: crlf('get a b'), reply: crlf('VALUE a 0 5', 'hello', 'VALUE b 0 3', 'bye', 'END') },
  { protocol: 'http', request: crlf('GET / HTTP/1.1', 'Host: x', ''), reply: Buffer.concat([crlf('HTTP/1.1 200 OK', 'Content-Length: 300', ''), Buffer.alloc(300, 'y')]) },
  { protocol: 'smtp', request: Buffer.alloc(0), reply: crlf('220-mail.example ESMTP', '220 ready') },
  { protocol: 'mysql', request: Buffer.alloc(0), reply: mysqlGreeting() },
  {
    protocol: 'postgres',
    request: pgStartup(),
    reply: Buffer.concat([pgMessage('R', Buffer.alloc(4)), pgMessage('S', Buffer.from('server_version\u000016\u0000')), pgMessage('Z', Buffer.from('I'))]),
  },
];

const closers: (() => Promise<void>)[] = [];
afterAll(async () => { for (const c of closers) await c(); });

describe('upstream cut at any byte, then FIN (fuzz)', () => {
  for (const c of cases) {
    it(`${c.protocol}: the client gets the prefix unaltered, then a close`, async () => {
      let cut = 0;
      const server = net.createServer({ allowHalfOpen: true }, (s) => {
        s.on('error', () => {});
        const answer = () => s.end(c.reply.subarray(0, cut));
        if (c.request.length) s.once('data', answer);
        else answer();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      closers.push(() => new Promise((r) => server.close(() => r())));
      const port = (server.address() as net.AddressInfo).port;
      const p = await startProxy({ name: `cut-${c.protocol}`, listen: '127.0.0.1:0', upstream: `127.0.0.1:${port}`, protocol: c.protocol as never });
      closers.push(() => p.close(0));
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: c.reply.length - 1 }), async (n) => {
          cut = n;
          const r = await exchange(p.port, c.request, { timeoutMs: 5000 });
          expect(r.error, `cut at byte ${n}: the client was left hanging`).not.toBe('timeout');
          expect(r.closed).toBe(true);
          expect(r.reply.equals(c.reply.subarray(0, n)), `cut at byte ${n}: got ${r.reply.length} bytes, altered or held`).toBe(true);
        }),
        { numRuns: 40, seed: 14 },
      );
    }, 120_000);
  }
});
