/**
 * The request, login and reply counting of each protocol bench:proxy loads: a cheap request the
 * real server answers with one small reply, so that the proxy's framing, not the server, is what
 * the figures compare.
 */
import type net from 'node:net';
import { httpCounter, lineCounter, messageCounter, type Setup, type Wire } from './loader.js';

/** A login of passthrough messages: nothing a proxy faults. */
const NO_EXCHANGES: Setup = { exchanges: 0, errors: 0 };

/** Resolves with the bytes received once `done(all bytes so far)` says the login ended. */
function until(socket: net.Socket, done: (b: Buffer) => boolean, reply?: (b: Buffer) => Buffer | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      got = Buffer.concat([got, c]);
      const answer = reply?.(got);
      if (answer) {
        got = Buffer.alloc(0);
        socket.write(answer);
        return;
      }
      if (!done(got)) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve(got);
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

export const redisWire: Wire = {
  name: 'redis',
  request: Buffer.from('*1\r\n$4\r\nPING\r\n'),
  counter: lineCounter((b0) => b0 === 0x2d /* - */),
};

export const memcacheWire: Wire = {
  name: 'memcache',
  // A miss: memcached answers END, one line.
  request: Buffer.from('get bench:missing\r\n'),
  counter: lineCounter((b0, b1) => b0 !== 0x45 /* E */ || b1 !== 0x4e /* N */),
};

export const smtpWire: Wire = {
  name: 'smtp',
  request: Buffer.from('NOOP\r\n'),
  counter: lineCounter((b0) => b0 === 0x34 || b0 === 0x35),
  handshake: async (s) => {
    await until(s, (b) => b.includes('\r\n'));
    s.write('EHLO bench\r\n');
    // The last line of a multi-line reply has a space after the code. A proxy may answer EHLO
    // with an error (it is an exchange like any other); NOOP works without it.
    const reply = (await until(s, (b) => /(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(b.toString('latin1')))).toString('latin1');
    return { exchanges: 1, errors: reply.startsWith('250') ? 0 : 1 };
  },
};

export const httpWire: Wire = {
  name: 'http',
  request: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: marteau-bench\r\n\r\n'),
  counter: httpCounter,
};

const pgLength = (b: Buffer) => 1 + b.readUInt32BE(1);
export const postgresWire: Wire = {
  name: 'postgres',
  // An empty query: EmptyQueryResponse and ReadyForQuery, no parse or plan on the server.
  request: Buffer.from([0x51, 0, 0, 0, 5, 0]),
  counter: messageCounter(5, pgLength, (m) => m[0] === 0x5a /* Z */, (m) => m[0] === 0x45 /* E */),
  handshake: async (s) => {
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    const startup = Buffer.alloc(8);
    startup.writeUInt32BE(8 + params.length, 0);
    startup.writeUInt32BE(196608, 4);
    s.write(Buffer.concat([startup, params]));
    // Trust authentication: AuthenticationOk, parameters, key data, then ReadyForQuery ends it.
    const got = await until(s, (b) => b.length >= 6 && b[b.length - 6] === 0x5a);
    if (got[0] !== 0x52) throw new Error(`postgres login: unexpected ${got.subarray(0, 40).toString('latin1')}`);
    // The startup is an exchange of the proxy's (53300 is refused there), passed at the bench's kind.
    return { exchanges: 1, errors: 0 };
  },
};

const myLength = (b: Buffer) => 4 + b.readUIntLE(0, 3);
export const mysqlWire: Wire = {
  name: 'mysql',
  // COM_QUERY 'BEGIN': one OK packet back. Not COM_PING, nor DO 1, which a server in the state
  // of any non-fatal kind answers (a DO turns even a kill into a warning), so the proxy passes
  // them untouched; a killed query (1317, the row's kind) may fail a BEGIN. In a pipeline each
  // BEGIN ends the empty transaction the one before began.
  request: Buffer.from([6, 0, 0, 0, 0x03, ...Buffer.from('BEGIN')]),
  counter: messageCounter(4, myLength, () => true, (m) => m[4] === 0xff),
  handshake: async (s) => {
    await until(s, (b) => b.length >= 4 && b.length >= myLength(b));
    // HandshakeResponse41: protocol 41, secure connection, plugin auth; user root, empty
    // password (the bench server skips grant tables).
    const caps = 0x00000200 | 0x00008000 | 0x00080000;
    const body = Buffer.concat([
      Buffer.from([caps & 0xff, (caps >> 8) & 0xff, (caps >> 16) & 0xff, (caps >> 24) & 0xff]),
      Buffer.from([0, 0, 0, 1]), // max packet 16 MiB
      Buffer.from([33]), // utf8_general_ci
      Buffer.alloc(23),
      Buffer.from('root\0'),
      Buffer.from([0]), // no auth data
      Buffer.from('mysql_native_password\0'),
    ]);
    const head = Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, 0, 1]);
    s.write(Buffer.concat([head, body]));
    const got = await until(
      s,
      (b) => b.length >= 5 && b.length >= myLength(b) && b[4] !== 0xfe,
      // An auth switch: answer with empty auth data.
      (b) => (b.length >= 5 && b.length >= myLength(b) && b[4] === 0xfe ? Buffer.from([0, 0, 0, b[3] + 1]) : undefined),
    );
    if (got[4] !== 0) throw new Error(`mysql login: ${got.subarray(7).toString('latin1')}`);
    // The login is an exchange of the proxy's (1040 is refused there), passed at the bench's kinds.
    return { exchanges: 1, errors: 0 };
  },
};
