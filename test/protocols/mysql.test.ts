import net from 'node:net';
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import fc from 'fast-check';
import mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FramingError, MAX_HEAD_BYTES } from '../../src/proxy/protocol.js';
import { mysql, MYSQL_ERRORS } from '../../src/proxy/protocols/mysql.js';
import { seededRandom } from '../../src/proxy/random.js';
import { C, expectConversation, randomCuts, runSteps, S, summary, conversationSeeds, fuzzConversation, type Step } from '../helpers/conversation.js';
import { fuzzFramer } from '../helpers/framing.js';
import { startRecordingRelay, waitFor, type Recorded } from '../helpers/recording-relay.js';
import { haveMariadb, startMariadb } from '../helpers/mariadb.js';
import type { RunningServer } from '../helpers/servers.js';
import { pkt, u32 } from '../helpers/mysql-packets.js';

// ---------------------------------------------------------------------------------------------
// Packet builders

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const str0 = (s: string) => Buffer.from(`${s}\0`, 'latin1');
function lenenc(n: number): Buffer {
  if (n < 251) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.concat([Buffer.from([0xfc]), u16(n)]);
  const b = Buffer.alloc(4); b[0] = 0xfd; b.writeUIntLE(n, 1, 3); return b;
}
const lstr = (s: string | Buffer) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([lenenc(b.length), b]); };

/** Payloads as consecutive packets from `seq`. */
const pkts = (seq: number, payloads: Buffer[]) => Buffer.concat(payloads.map((p, i) => pkt(seq + i, p)));

const CAPS = 0x0000_0200 /* PROTOCOL_41 */ | 0x8000 /* SECURE_CONNECTION */ | 0x0008_0000 /* PLUGIN_AUTH */ |
  0x0002_0000 /* MULTI_RESULTS */ | 0x0001_0000 /* MULTI_STATEMENTS */ | 0x80 /* LOCAL_FILES */ | 0x0080_0000 /* SESSION_TRACK */;
const DEPRECATE_EOF = 0x0100_0000;
const SSL = 0x800;
const COMPRESS = 0x20;

function greeting(caps: number): Buffer {
  return Buffer.concat([
    Buffer.from([10]), str0('5.5.5-10.11.19-MariaDB'), u32(42), Buffer.from('abcdefgh'), Buffer.from([0]),
    u16(caps & 0xffff), Buffer.from([0x21]), u16(2), u16(caps >>> 16), Buffer.from([21]), Buffer.alloc(6), u32(0),
    Buffer.from('ijklmnopqrst\0'), str0('mysql_native_password'),
  ]);
}
function handshakeResponse(caps: number): Buffer {
  return Buffer.concat([u32(caps), u32(1 << 24), Buffer.from([0x21]), Buffer.alloc(23), str0('root'), Buffer.from([0]), str0('mysql_native_password')]);
}
const sslRequest = (caps: number) => Buffer.concat([u32(caps | SSL), u32(1 << 24), Buffer.from([0x21]), Buffer.alloc(23)]);
const ok = (status = 2, header = 0x00, affected = 0) => Buffer.concat([Buffer.from([header]), lenenc(affected), lenenc(0), u16(status), u16(0)]);
const eof = (status = 2) => Buffer.concat([Buffer.from([0xfe]), u16(0), u16(status)]);
const err = (code: number, state: string, msg: string) => Buffer.concat([Buffer.from([0xff]), u16(code), Buffer.from(`#${state}${msg}`)]);
const colDef = (name: string) => Buffer.concat([
  lstr('def'), lstr('db'), lstr('t'), lstr('t'), lstr(name), lstr(name), Buffer.from([0x0c]), u16(0x21), u32(255), Buffer.from([0xfd]), u16(0), Buffer.from([0]), u16(0),
]);
const textRow = (...vals: (string | null)[]) => Buffer.concat(vals.map((v) => (v === null ? Buffer.from([0xfb]) : lstr(v))));
const binRow = (n: number) => Buffer.concat([Buffer.from([0x00, 0x00]), u32(n)]);
const cmd = (code: number, body: Buffer | string = Buffer.alloc(0)) => Buffer.concat([Buffer.from([code]), typeof body === 'string' ? Buffer.from(body) : body]);
const prepareOk = (stmt: number, cols: number, params: number) => Buffer.concat([Buffer.from([0]), u32(stmt), u16(cols), u16(params), Buffer.from([0]), u16(0)]);
const execute = (stmt: number, flags = 0) => Buffer.concat([Buffer.from([0x17]), u32(stmt), Buffer.from([flags]), u32(1)]);

const MORE = 0x0008;
const CURSOR_EXISTS = 0x0040;
const LAST_ROW_SENT = 0x0080;

// ---------------------------------------------------------------------------------------------
// Conversations: steps with the message kind each one is expected to be


function resultSet(seq: number, deprecate: boolean, cols: string[], rows: Buffer[], status = 2): { bytes: Buffer; next: number } {
  const payloads = [lenenc(cols.length), ...cols.map(colDef), ...(deprecate ? [] : [eof()]), ...rows, deprecate ? ok(status, 0xfe) : eof(status)];
  return { bytes: pkts(seq, payloads), next: seq + payloads.length };
}

function conversation(deprecate: boolean): Step[] {
  const caps = CAPS | (deprecate ? DEPRECATE_EOF : 0);
  const end = (status = 2) => (deprecate ? ok(status, 0xfe) : eof(status));
  const metaEof = (status = 2) => (deprecate ? [] : [eof(status)]);
  const rs1 = resultSet(1, deprecate, ['a'], [textRow('1'), textRow(null)]);
  // Multi-statement: result set (more), OK (more), result set.
  const multiA = resultSet(1, deprecate, ['x', 'y'], [textRow('1', 'two')], 2 | MORE);
  const multiB = pkt(multiA.next, ok(2 | MORE));
  const multiC = resultSet(multiA.next + 1, deprecate, ['z'], [textRow('3')]);
  return [
    S(pkt(0, greeting(caps | 0x8000_0000)), 'pass'),
    // The login: a request, answered by the server's next packet (an auth switch); the rest of the exchange passes.
    C(pkt(1, handshakeResponse(caps)), 'req', 'HandshakeResponse'),
    S(pkt(2, Buffer.concat([Buffer.from([0xfe]), str0('mysql_native_password'), Buffer.from('0123456789abcdefghij\0')]))),
    C(pkt(3, Buffer.alloc(20, 7)), 'pass'),
    S(pkt(4, ok()), 'pass'),
    C(pkt(0, cmd(0x03, 'SELECT a FROM t')), 'req', 'COM_QUERY'),
    S(rs1.bytes),
    C(pkt(0, cmd(0x03, 'SELECT 1,2; DO 1; SELECT 3')), 'req', 'COM_QUERY'),
    S(Buffer.concat([multiA.bytes, multiB, multiC.bytes])),
    C(pkt(0, cmd(0x03, 'SELEC')), 'req', 'COM_QUERY'),
    S(pkt(1, err(1064, '42000', 'You have an error in your SQL syntax'))),
    C(pkt(0, cmd(0x16, 'SELECT a, b FROM t WHERE c = ?')), 'req', 'COM_STMT_PREPARE'),
    S(pkts(1, [prepareOk(1, 2, 1), colDef('?'), ...metaEof(), colDef('a'), colDef('b'), ...metaEof()])),
    C(pkt(0, cmd(0x16, 'DO 1')), 'req', 'COM_STMT_PREPARE'),
    S(pkt(1, prepareOk(2, 0, 0))),
    C(pkt(0, cmd(0x16, 'SELECT ?')), 'req', 'COM_STMT_PREPARE'),
    S(pkts(1, [prepareOk(3, 1, 1), colDef('?'), ...metaEof(), colDef('?'), ...metaEof()])),
    C(pkt(0, execute(1)), 'req', 'COM_STMT_EXECUTE'),
    S(pkts(1, [lenenc(2), colDef('a'), colDef('b'), ...metaEof(), binRow(1), binRow(2), binRow(3), end()])),
    C(pkt(0, execute(2)), 'req', 'COM_STMT_EXECUTE'),
    S(pkt(1, ok(2, 0, 3))),
    C(pkt(0, Buffer.concat([Buffer.from([0x18]), u32(1), u16(0), Buffer.from('long data')])), 'noreply', 'COM_STMT_SEND_LONG_DATA'),
    C(pkt(0, Buffer.concat([Buffer.from([0x19]), u32(2)])), 'noreply', 'COM_STMT_CLOSE'),
    C(pkt(0, cmd(0x0e)), 'req', 'COM_PING'),
    S(pkt(1, ok())),
    // LOAD DATA LOCAL INFILE: the server asks for the file, the client streams it, then OK.
    C(pkt(0, cmd(0x03, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t")), 'req', 'COM_QUERY'),
    S(pkt(1, Buffer.concat([Buffer.from([0xfb]), Buffer.from('f')])), 'reply-start'),
    C(pkt(2, Buffer.from('1\n2\n3\n')), 'pass'),
    C(pkt(3, Buffer.alloc(0)), 'pass'),
    S(pkt(4, ok(2, 0, 3)), 'reply-end'),
    C(pkt(0, cmd(0x04, 't\0')), 'req', 'COM_FIELD_LIST'),
    S(pkts(1, [colDef('a'), colDef('b'), end()])),
    C(pkt(0, cmd(0x09)), 'req', 'COM_STATISTICS'),
    S(pkt(1, Buffer.from('Uptime: 5  Threads: 1  Questions: 9'))),
    C(pkt(0, cmd(0x02, 'db')), 'req', 'COM_INIT_DB'),
    S(pkt(1, ok())),
    C(pkt(0, Buffer.concat([Buffer.from([0x11]), str0('root'), Buffer.from([0]), str0('db')])), 'req', 'COM_CHANGE_USER'),
    S(pkt(1, Buffer.concat([Buffer.from([0xfe]), str0('client_ed25519')])), 'reply-start'),
    C(pkt(2, Buffer.alloc(64, 1)), 'pass'),
    S(pkt(3, Buffer.from([0x01, 0x03])), 'reply-mid'),
    S(pkt(4, ok()), 'reply-end'),
    // MariaDB progress report before the real answer.
    C(pkt(0, cmd(0x03, 'ALTER TABLE t ENGINE=InnoDB')), 'req', 'COM_QUERY'),
    S(pkts(1, [Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 1, 1, 0, 0x10, 0x27, 0]), lstr('copy')]), ok()])),
    // A cursor: metadata, then the rows come with COM_STMT_FETCH.
    C(pkt(0, execute(1, 0x01)), 'req', 'COM_STMT_EXECUTE'),
    S(pkts(1, [lenenc(2), colDef('a'), colDef('b'), ...(deprecate ? [ok(2 | CURSOR_EXISTS, 0xfe)] : [eof(2 | CURSOR_EXISTS)])])),
    C(pkt(0, Buffer.concat([Buffer.from([0x1c]), u32(1), u32(2)])), 'req', 'COM_STMT_FETCH'),
    S(pkts(1, [binRow(1), binRow(2), end(2 | CURSOR_EXISTS)])),
    C(pkt(0, Buffer.concat([Buffer.from([0x1c]), u32(1), u32(2)])), 'req', 'COM_STMT_FETCH'),
    S(pkts(1, [binRow(3), end(2 | LAST_ROW_SENT)])),
    // An error in the middle of the rows ends the reply.
    C(pkt(0, cmd(0x03, 'SELECT slow()')), 'req', 'COM_QUERY'),
    S(pkts(1, [lenenc(1), colDef('s'), ...metaEof(), textRow('1'), err(1317, '70100', 'Query execution was interrupted')])),
    C(pkt(0, cmd(0x1f)), 'req', 'COM_RESET_CONNECTION'),
    S(pkt(1, ok())),
    C(pkt(0, cmd(0x1b, u16(1))), 'req', 'COM_SET_OPTION'),
    S(pkt(1, eof())),
    C(pkt(0, cmd(0x00)), 'req', 'COM_SLEEP'),
    S(pkt(1, err(1047, '08S01', 'Unknown command'))),
    // An unsolicited ERR while nothing is pending (server shutdown), then quit.
    S(pkt(0, err(1053, '08S01', 'Server shutdown in progress')), 'pass'),
    C(pkt(0, cmd(0x01)), 'noreply', 'COM_QUIT'),
  ];
}


// ---------------------------------------------------------------------------------------------

describe('mysql framer (synthetic conversations)', () => {
  for (const deprecate of [false, true]) {
    const name = deprecate ? 'with CLIENT_DEPRECATE_EOF' : 'with EOF packets';
    const steps = conversation(deprecate);

    it(`${name}: frames every request and reply`, () => {
      expectConversation(mysql, steps);
    });

    it(`${name}: same messages whatever the chunking (every split point, 1-byte, random)`, () => {
      expectConversation(mysql, steps, (b) => [...b].map((x) => Buffer.from([x])), '1-byte chunks');
      const rnd = seededRandom(deprecate ? 7 : 3);
      for (let r = 0; r < 30; r++) expectConversation(mysql, steps, (b) => randomCuts(b, rnd), `random run ${r}`);
      // Every split point of every step.
      steps.forEach((st, k) => {
        for (let at = 1; at < st.bytes.length; at++) {
          expectConversation(mysql, steps, (b, i) => (i === k ? [b.subarray(0, at), b.subarray(at)] : [b]), `step ${k} split at ${at}`);
        }
      });
    });

    it(`${name}: pipelined requests and replies in one chunk each`, () => {
      // Everything the client sends in one write, then every reply in one chunk.
      const handshake = steps.slice(0, 5);
      const reqs = [pkt(0, cmd(0x03, 'SELECT a FROM t')), pkt(0, cmd(0x0e)), pkt(0, Buffer.concat([Buffer.from([0x19]), u32(1)])), pkt(0, cmd(0x03, 'SELECT a FROM t'))];
      const rs = resultSet(1, deprecate, ['a'], [textRow('1')]).bytes;
      const got = runSteps(mysql, [...handshake, { from: 'c', bytes: Buffer.concat(reqs) }, { from: 's', bytes: Buffer.concat([rs, pkt(1, ok()), rs]) }]);
      expect(got.c.slice(2).map((m) => m.label)).toEqual(['COM_QUERY', 'COM_PING', 'COM_STMT_CLOSE', 'COM_QUERY']);
      expect(got.c.slice(2).map((m) => m.data)).toEqual(reqs);
      expect(got.s.slice(3).map((m) => m.data)).toEqual([rs, pkt(1, ok()), rs]);
    });
  }

  it('skipped() forgets a request the engine answered itself', () => {
    const steps = conversation(false).slice(0, 5);
    const session = mysql.createSession();
    for (const st of steps) st.from === 'c' ? session.fromClient(st.bytes) : session.fromServer(st.bytes);
    const a = session.fromClient(Buffer.concat([pkt(0, cmd(0x03, 'SELECT 1')), pkt(0, cmd(0x0e))]));
    expect(a.map((x) => x.label)).toEqual(['COM_QUERY', 'COM_PING']);
    session.skipped!(0); // ordinal 0 = the SELECT, never forwarded
    const r = session.fromServer(pkt(1, ok()));
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ start: true, end: true });
    expect(r[0].passthrough).toBeFalsy();
  });

  it('a reply numbered out of sequence is a FramingError, and no byte is lost', () => {
    const session = mysql.createSession();
    for (const st of conversation(false).slice(0, 5)) st.from === 'c' ? session.fromClient(st.bytes) : session.fromServer(st.bytes);
    session.fromClient(pkt(0, cmd(0x0e)));
    expect(() => session.fromServer(pkt(7, ok()))).toThrow(FramingError);
    expect(session.drain().server).toEqual(pkt(7, ok()));
    // Held bytes from before the failing chunk come back too.
    const s2 = mysql.createSession();
    for (const st of conversation(false).slice(0, 5)) st.from === 'c' ? s2.fromClient(st.bytes) : s2.fromServer(st.bytes);
    s2.fromClient(pkt(0, cmd(0x0e)));
    const held = Buffer.from([7, 0, 0]);
    const bad = Buffer.concat([Buffer.from([3]), ok(), pkt(9, ok())]); // the reply, then a stray packet
    expect(s2.fromServer(held)).toEqual([]);
    expect(s2.buffered()).toBe(3);
    expect(() => s2.fromServer(bad)).toThrow(FramingError);
    expect(s2.drain().server).toEqual(Buffer.concat([held, bad]));
  });

  it('malformed replies (short column count, odd prepare answer) are FramingErrors, not crashes', () => {
    for (const bad of [Buffer.from([0xfc]), Buffer.from([0xfd, 1]), Buffer.from([0])]) {
      const session = mysql.createSession();
      for (const st of conversation(false).slice(0, 5)) st.from === 'c' ? session.fromClient(st.bytes) : session.fromServer(st.bytes);
      session.fromClient(pkt(0, cmd(bad[0] === 0 ? 0x16 : 0x03, 'SELECT 1')));
      const reply = bad[0] === 0 ? pkt(1, Buffer.from([0x05, 1])) : pkt(1, bad);
      expect(() => session.fromServer(reply)).toThrow(FramingError);
      expect(session.drain().server).toEqual(reply);
    }
  });

  it('replication and clone commands are FramingErrors (their streams are not framed)', () => {
    for (const code of [0x12, 0x1e, 0x20]) {
      const session = mysql.createSession();
      for (const st of conversation(false).slice(0, 5)) st.from === 'c' ? session.fromClient(st.bytes) : session.fromServer(st.bytes);
      const b = pkt(0, cmd(code, Buffer.alloc(10)));
      expect(() => session.fromClient(b)).toThrow(FramingError);
      expect(session.drain().client).toEqual(b);
    }
  });

  it('an SSL request turns the rest of the connection into passthrough', () => {
    const session = mysql.createSession();
    const g = pkt(0, greeting(CAPS | SSL));
    expect(session.fromServer(g)).toEqual([{ data: g, start: true, end: true, passthrough: true }]);
    const tls = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    const segs = session.fromClient(Buffer.concat([pkt(1, sslRequest(CAPS)), tls]));
    expect(segs.every((s) => s.passthrough)).toBe(true);
    expect(Buffer.concat(segs.map((s) => s.data))).toEqual(Buffer.concat([pkt(1, sslRequest(CAPS)), tls]));
    // Server TLS records, then client records that look like a command: all passthrough.
    expect(session.fromServer(Buffer.from([0x16, 3, 3, 0, 1, 0]))).toMatchObject([{ passthrough: true }]);
    expect(session.fromClient(pkt(0, cmd(0x03, 'SELECT 1')))).toMatchObject([{ passthrough: true }]);
  });

  it('negotiated compression turns the command phase into passthrough', () => {
    const session = mysql.createSession();
    session.fromServer(pkt(0, greeting(CAPS | COMPRESS)));
    session.fromClient(pkt(1, handshakeResponse(CAPS | COMPRESS)));
    session.fromServer(pkt(2, ok()));
    expect(session.fromClient(pkt(0, cmd(0x03, 'SELECT 1')))).toMatchObject([{ passthrough: true }]);
    expect(session.fromServer(pkt(1, ok()))).toMatchObject([{ passthrough: true }]);
  });

  it('streams packets over 16 MiB (continuations) in both directions without holding them', () => {
    const steps = conversation(false).slice(0, 5);
    const big = Buffer.alloc(0xffffff + 10, 0x61);
    // A 16 MiB + 10 query: one 0xFFFFFF packet, then a 10-byte one.
    const q = Buffer.concat([Buffer.from([0x03]), big.subarray(1)]);
    const request = Buffer.concat([pkt(0, q.subarray(0, 0xffffff)), pkt(1, q.subarray(0xffffff))]);
    // A row with a 16 MiB + 10 value, continued likewise, then the end of the rows.
    const lenPrefix = Buffer.alloc(9);
    lenPrefix[0] = 0xfe;
    lenPrefix.writeBigUInt64LE(BigInt(big.length), 1);
    const row = Buffer.concat([lenPrefix, big]);
    const reply = Buffer.concat([pkts(2, [lenenc(1), colDef('big'), eof()]), pkt(5, row.subarray(0, 0xffffff)), pkt(6, row.subarray(0xffffff)), pkt(7, eof())]);
    for (const cut of [(b: Buffer) => [b], (b: Buffer) => chunks(b, 65536), (b: Buffer) => chunks(b, 65536 + 3)]) {
      const got = runSteps(mysql, [...steps, { from: 'c', bytes: request }, { from: 's', bytes: reply }], cut);
      expect(got.c.at(-1)!.label).toBe('COM_QUERY');
      expect(got.c.at(-1)!.data.equals(request)).toBe(true);
      expect(got.s.at(-1)!.kind).toBe('reply');
      expect(got.s.at(-1)!.data.equals(reply)).toBe(true);
      expect(got.openS).toBeUndefined();
    }
  });

  it('holds at most one header plus the head of a message', () => {
    const session = mysql.createSession();
    for (const st of conversation(false).slice(0, 5)) st.from === 'c' ? session.fromClient(st.bytes) : session.fromServer(st.bytes);
    // A 1 MiB query arriving in 4 KiB pieces: nothing is emitted until the head is complete,
    // then bytes flow as they come.
    const q = pkt(0, cmd(0x03, Buffer.alloc(1 << 20, 0x20)));
    let emitted = 0;
    for (const piece of chunks(q, 4096)) {
      emitted += session.fromClient(piece).reduce((n, s) => n + s.data.length, 0);
      expect(session.buffered()).toBeLessThanOrEqual(4 + MAX_HEAD_BYTES);
    }
    expect(emitted).toBe(q.length);
  });

  it('fuzz: garbage, truncation and random splits only ever raise FramingError and lose no byte', () => {
    const steps = conversation(false);
    fuzzFramer(mysql, conversationSeeds(steps), 400);
    // Our own version with a real conversation cut short and garbage spliced in.
    fuzzConversation(mysql, steps, 2 * (4 + MAX_HEAD_BYTES));
    // Well-framed packets with random contents and numbering, after a real handshake: the deep
    // paths of the reply state machine (odd column counts, stray EOFs, bad numbering).
    const interesting = fc.constantFrom(0x00, 0x01, 0x03, 0x16, 0x17, 0x1c, 0x04, 0x11, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x0e);
    const packet = fc.tuple(fc.boolean(), fc.nat(3), interesting, fc.uint8Array({ maxLength: 30 })).map(([fromClient, seq, first, rest]) => ({
      from: fromClient ? 'c' as const : 's' as const, bytes: pkt(seq, Buffer.concat([Buffer.from([first]), Buffer.from(rest)])),
    }));
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 30 }), fc.integer({ min: 1, max: 2 ** 31 }), (packets, seed) => {
        const rnd = seededRandom(seed);
        const session = mysql.createSession();
        const sent = { c: [] as Buffer[], s: [] as Buffer[] };
        const got = { c: [] as Buffer[], s: [] as Buffer[] };
        try {
          for (const st of [...steps.slice(0, 5), ...packets]) {
            for (const piece of randomCuts(st.bytes, rnd)) {
              sent[st.from].push(piece);
              got[st.from].push(...(st.from === 'c' ? session.fromClient(piece) : session.fromServer(piece)).map((x) => x.data));
            }
          }
        } catch (e) {
          if (!(e instanceof FramingError)) throw e;
        }
        const rest = session.drain();
        expect(Buffer.concat([...got.c, rest.client]).equals(Buffer.concat(sent.c))).toBe(true);
        expect(Buffer.concat([...got.s, rest.server]).equals(Buffer.concat(sent.s))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

function chunks(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

describe('mysql error replies', () => {
  it('encodes an ERR packet numbered after the request, with code, SQLSTATE and message', () => {
    const request = pkt(0, cmd(0x03, 'SELECT 1'));
    for (const [kind, e] of Object.entries(MYSQL_ERRORS)) {
      const r = mysql.encodeError(kind, { label: 'COM_QUERY', request, random: Math.random });
      expect(r.close).toBe(e.fatal);
      expect(mysql.errorKinds[kind].fatal).toBe(e.fatal);
      const b = r.bytes;
      expect(b.readUIntLE(0, 3)).toBe(b.length - 4);
      expect(b[3]).toBe(1);
      expect(b[4]).toBe(0xff);
      expect(b.readUInt16LE(5)).toBe(Number(kind));
      expect(b.toString('latin1', 7, 13)).toBe(`#${e.state}`);
      expect(b.toString('utf8', 13)).toBe(e.message);
    }
    expect(mysql.errorKinds[mysql.defaultError]).toBeDefined();
    expect(mysql.defaultError).toBe('1205');
    expect(mysql.encodeError('1213', { request, random: Math.random }).bytes.toString('latin1', 8, 13)).toBe('40001');
    expect(mysql.errorKinds['1040'].fatal && mysql.errorKinds['1053'].fatal).toBe(true);
  });

  it('the error reply is a valid reply in the session (framed like a server ERR)', () => {
    const request = pkt(0, cmd(0x03, 'SELECT 1'));
    const session = mysql.createSession();
    for (const st of conversation(false).slice(0, 5)) st.from === 'c' ? session.fromClient(st.bytes) : session.fromServer(st.bytes);
    session.fromClient(request);
    const segs = session.fromServer(mysql.encodeError('1205', { request, random: Math.random }).bytes);
    expect(segs).toMatchObject([{ start: true, end: true }]);
    expect(segs[0].passthrough).toBeFalsy();
  });
});

// ---------------------------------------------------------------------------------------------
// Against a real MariaDB: a relay that pushes every byte through the framer, records what the
// framer made of it, and checks the framing on the way.

/** A connection's framing is consistent: one reply per request that expects one, in order. */
function expectConsistent(rec: Recorded): void {
  expect(rec.errors).toEqual([]);
  const reqs = rec.c.filter((m) => m.kind === 'req');
  const replies = rec.s.filter((m) => m.kind === 'reply');
  expect(replies.length).toBe(reqs.filter((m) => !m.noReply).length);
  expect(rec.openS).toBeUndefined();
  // Replaying the recorded chunks cut differently gives the same framing.
  const rnd = seededRandom(reqs.length + 1);
  const total = rec.events.reduce((n, e) => n + e.bytes.length, 0);
  const cuts = total < 1 << 20
    ? [(b: Buffer) => [b], (b: Buffer) => randomCuts(b, rnd), (b: Buffer) => chunks(b, 3)]
    : [(b: Buffer) => [b], (b: Buffer) => randomCuts(b, rnd, 20_000)];
  for (const cut of cuts) {
    const again = runSteps(mysql, rec.events, cut);
    expect(summary(again.c)).toEqual(summary(rec.c));
    expect(summary(again.s)).toEqual(summary(rec.s));
  }
}

const execFileP = promisify(execFile);

// MySQL 8.0.23+ with CLIENT_QUERY_ATTRIBUTES (which mysql2 asks for) prefixes every COM_QUERY
// with its attribute count and set count; MariaDB has no such capability, and no MySQL server
// runs here, so the stand-in is checked on the packets mysql2 sends either way.
describe('mysql: what the server is sent in place of a COMMIT that draws an error', () => {
  const query = (head: number[], sql: string) => pkt(0, Buffer.concat([Buffer.from([0x03, ...head]), Buffer.from(sql, 'latin1')]));
  const rollback = (head: number[]) => query(head, 'ROLLBACK AND NO CHAIN NO RELEASE');

  it('a ROLLBACK numbered as the COMMIT, its query attributes header kept', () => {
    expect(mysql.standIn!(query([], 'COMMIT'), true)).toEqual(rollback([]));
    expect(mysql.standIn!(query([0, 1], 'commit work and chain;'), true)).toEqual(rollback([0, 1]));
    // Attributes given with the COMMIT (count 1): not looked into, the request is withheld as before.
    expect(mysql.standIn!(query([1, 1, 0, 1, 0xfe, 0, 1, 0x61, 1, 0x62], 'COMMIT'), true)).toBeUndefined();
    expect(mysql.standIn!(query([0, 1], 'SELECT 1'), true)).toBeUndefined();
  });

  /** Sessions past their login, on MariaDB (no query attributes) and on MySQL 8 (CLIENT_QUERY_ATTRIBUTES). */
  function loggedInSessions() {
    const session = (caps: number) => {
      const s = mysql.createSession();
      s.fromServer(pkt(0, greeting(caps)));
      s.fromClient(pkt(1, handshakeResponse(caps)));
      s.fromServer(pkt(2, ok()));
      return s;
    };
    return { mariadb: session(CAPS), mysql8: session(CAPS | 0x0800_0000) };
  }

  // A real deadlock rolls its transaction back: a statement that draws one goes as ROLLBACK, with
  // the attributes header when both sides speak CLIENT_QUERY_ATTRIBUTES (a COM_STMT_EXECUTE has none to copy).
  it('a statement that draws a deadlock (1213): a ROLLBACK in its place; other kinds and commands withheld', () => {
    const { mariadb, mysql8 } = loggedInSessions();
    expect(mysql.standIn!(query([], 'INSERT INTO t VALUES (1)'), true, mariadb, 3, '1213')).toEqual(rollback([]));
    expect(mysql.standIn!(pkt(0, execute(1)), true, mariadb, 3, '1213')).toEqual(rollback([]));
    expect(mysql.standIn!(pkt(0, execute(1)), true, mysql8, 3, '1213')).toEqual(rollback([0, 1]));
    // MariaDB's bulk execute (the MariaDB connector's batch()) is a statement too.
    expect(mysql.standIn!(pkt(0, Buffer.concat([Buffer.from([0xfa]), u32(1), u16(0)])), true, mariadb, 3, '1213')).toEqual(rollback([]));
    expect(mysql.standIn!(query([0, 1], 'INSERT INTO t VALUES (1)'), false, mysql8, 3, '1213')).toEqual(rollback([0, 1]));
    expect(mysql.standIn!(query([], 'INSERT INTO t VALUES (1)'), true, mariadb, 3, '1205')).toBeUndefined();
    expect(mysql.standIn!(pkt(0, cmd(0x0e, '')), true, mariadb, 3, '1213')).toBeUndefined();
  });

  // A read-only server answers a statement on accounts 1227 to a user without CREATE USER: the
  // server behind is asked by one of the same check that changes nothing, and its 1227 is the
  // client's (test/proxy-mysql-refusals checks it against a read-only MariaDB).
  it('a statement on accounts that draws 1290: a probe of the privilege in its place, whose 1227 becomes the reply', () => {
    const { mariadb, mysql8 } = loggedInSessions();
    const probe = (s: typeof mariadb, sql: string, attributes: number[] = []) => mysql.standIn!(query(attributes, sql), true, s, 3, '1290')?.subarray(4).toString('latin1');
    expect(probe(mariadb, "CREATE USER x@'%'")).toBe('\x03CREATE USER CURRENT_USER');
    expect(probe(mariadb, 'create or replace role r')).toBe('\x03CREATE USER CURRENT_USER');
    expect(probe(mysql8, '/* c */ DROP ROLE r', [0, 1])).toBe("\x03\0\x01DROP USER 'marteau-tui probe'@'marteau-tui.invalid'");
    expect(probe(mariadb, 'ALTER USER x ACCOUNT LOCK')).toBe("\x03ALTER USER 'marteau-tui probe'@'marteau-tui.invalid' ACCOUNT LOCK");
    expect(probe(mariadb, 'RENAME USER x TO y')).toMatch(/^\x03RENAME USER /);
    for (const sql of ['ALTER ROLE r', 'CREATE TABLE user (a INT)', 'CREATE USER x; SELECT 1', 'GRANT SELECT ON t TO x']) expect(probe(mariadb, sql), sql).toBeUndefined();
    expect(mysql.standIn!(query([], 'CREATE USER x'), true, mariadb, 3, '1205')).toBeUndefined();
    expect(mysql.standIn!(query([], 'CREATE USER x'), false, mariadb, 3, '1290')).toBeUndefined();

    const standIn = mysql.standIn!(query([], 'CREATE USER x'), true, mariadb, 3, '1290')!;
    const given = (ordinal: number, reply: Buffer) => {
      const injected = mysql.encodeError('1290', { request: query([], 'CREATE USER x'), random: Math.random, session: mariadb, standIn, ordinal });
      expect(mariadb.errorFate!(ordinal)).toBe('held');
      mariadb.fromClient(query([], 'CREATE USER x'));
      mariadb.errored!(ordinal, standIn);
      mariadb.fromServer(pkt(1, reply));
      return [injected.bytes.subarray(4, 7), mariadb.errorFate!(ordinal)];
    };
    const err = (code: number, text: string) => Buffer.concat([Buffer.from([0xff]), u16(code), Buffer.from(text, 'latin1')]);
    expect(given(1, err(1227, '#42000Access denied'))).toEqual([Buffer.from([0xff, 0xcb, 0x04]), 'withdrawn']);
    expect(mariadb.errorFate!(1)).toBe('given');
    expect(given(2, err(1396, '#HY000Operation CREATE USER failed for CURRENT_USER'))).toEqual([Buffer.from([0xff, 0x0a, 0x05]), 'given']);
  });

  // SET PASSWORD FOR another account: 1044 to a user who may not update the mysql database, 1290
  // to one who may and for one's own account; which it is, the server behind says, asked SET
  // PASSWORD FOR the same account of a hash that is none (refused after both checks).
  it('a SET PASSWORD FOR an account that draws 1290: a probe of the same account, whose 1044, the server\'s own bytes, becomes the reply', () => {
    const { mariadb, mysql8 } = loggedInSessions();
    const probe = (s: typeof mariadb, sql: string, attributes: number[] = []) => mysql.standIn!(query(attributes, sql), true, s, 3, '1290')?.subarray(4).toString('latin1');
    expect(probe(mariadb, "SET PASSWORD FOR other = PASSWORD('x')")).toBe("\x03SET PASSWORD FOR other = 'marteau-tui probe'");
    expect(probe(mysql8, "set password for 'o''x'@\"%\"=''", [0, 1])).toBe("\x03\0\x01SET PASSWORD FOR 'o''x'@\"%\" = 'marteau-tui probe'");
    expect(probe(mariadb, 'SET PASSWORD FOR `a b` @ localhost = PASSWORD(1)')).toBe("\x03SET PASSWORD FOR `a b` @ localhost = 'marteau-tui probe'");
    expect(probe(mariadb, 'SET PASSWORD FOR CURRENT_USER ( ) = 1')).toBe("\x03SET PASSWORD FOR CURRENT_USER ( ) = 'marteau-tui probe'");
    // An account of 80 and 255 bytes: the probe's length takes its three bytes.
    const long = mysql.standIn!(query([], `SET PASSWORD FOR '${'u'.repeat(80)}'@'${'h'.repeat(255)}' = ''`), true, mariadb, 3, '1290')!;
    expect(long.readUIntLE(0, 3)).toBe(long.length - 4);
    // One's own (no FOR), another SET, a backslash in a quote, a comment before it: 1290 as drawn.
    for (const sql of ["SET PASSWORD = PASSWORD('x')", 'SET @a = 1', "SET PASSWORD FOR 'a\\'b' = ''", "/* c */ SET PASSWORD FOR x = ''"]) expect(probe(mariadb, sql), sql).toBeUndefined();

    const sql = "SET PASSWORD FOR other = PASSWORD('x')";
    const standIn = mysql.standIn!(query([], sql), true, mariadb, 3, '1290')!;
    const denied = Buffer.concat([Buffer.from([0xff]), u16(1044), Buffer.from("#42000Access denied for user 'app'@'%' to database 'mysql'", 'latin1')]);
    const injected = mysql.encodeError('1290', { request: query([], sql), random: Math.random, session: mariadb, standIn, ordinal: 1 });
    mariadb.fromClient(query([], sql));
    mariadb.errored!(1, standIn);
    // The answer cut after its first 40 bytes (past what a reply's first packet shows): read whole all the same.
    const answer = pkt(1, denied);
    expect(mariadb.fromServer(answer.subarray(0, 40))).toEqual([]);
    expect(mariadb.fromServer(answer.subarray(40))).toMatchObject([{ start: true, end: true }]);
    expect([injected.bytes, mariadb.errorFate!(1)]).toEqual([answer, 'withdrawn']);
    // One's own account: the server's 1372 (no such hash) leaves the 1290.
    const own = mysql.standIn!(query([], sql), true, mariadb, 3, '1290')!;
    const kept = mysql.encodeError('1290', { request: query([], sql), random: Math.random, session: mariadb, standIn: own, ordinal: 2 });
    mariadb.fromClient(query([], sql));
    mariadb.errored!(2, own);
    mariadb.fromServer(pkt(1, Buffer.concat([Buffer.from([0xff]), u16(1372), Buffer.from('#HY000Password hash should be a 41-digit hexadecimal number', 'latin1')])));
    expect([kept.bytes.readUInt16LE(5), mariadb.errorFate!(2)]).toEqual([1290, 'given']);
  });

  // A prepare that draws an error goes as one that fails (of an empty statement): a server whose
  // prepare fails forgets the statement prepared before it, which an execute of statement id
  // 0xFFFFFFFF sent behind the prepare (the MariaDB connector's) would run. A deadlock's
  // ROLLBACK goes first; the two replies are the exchange's one.
  it('a prepare that draws an error: a failing prepare in its place, after a ROLLBACK for a deadlock, two replies framed as one', () => {
    const { mariadb, mysql8 } = loggedInSessions();
    const prepare = pkt(0, cmd(0x16, 'INSERT INTO t VALUES (?)'));
    const failing = pkt(0, Buffer.from([0x16]));
    expect(mysql.standIn!(prepare, true, mariadb, 3, '1205')).toEqual(failing);
    expect(mysql.standIn!(prepare, false, mariadb, 3, '1317')).toEqual(failing);
    expect(mysql.standIn!(prepare, true, mariadb, 3, '1213')).toEqual(Buffer.concat([rollback([]), failing]));
    expect(mysql.standIn!(prepare, true, mysql8, 3, '1213')).toEqual(Buffer.concat([rollback([0, 1]), failing]));

    // Request 0 was the login.
    mariadb.fromClient(prepare);
    mariadb.errored!(1, Buffer.concat([rollback([]), failing]));
    // The ROLLBACK's OK, with a warning (1196: a non-transactional table's changes stay), as a prepare OK it would announce a column.
    const first = mariadb.fromServer(pkt(1, Buffer.concat([ok().subarray(0, 5), u16(1)])));
    expect(first).toMatchObject([{ start: true, end: false }]);
    expect(first[0].passthrough).toBeFalsy();
    expect(mariadb.fromServer(pkt(1, err(1065, '42000', 'Query was empty')))).toMatchObject([{ start: false, end: true }]);
    // The next request's reply is its own.
    mariadb.fromClient(pkt(0, cmd(0x0e, '')));
    expect(mariadb.fromServer(pkt(1, ok()))).toMatchObject([{ start: true, end: true }]);

    mysql8.fromClient(prepare);
    mysql8.errored!(1, failing);
    expect(mysql8.fromServer(pkt(1, err(1065, '42000', 'Query was empty')))).toMatchObject([{ start: true, end: true }]);
  });

  // A real ROLLBACK ends the transaction whatever it answers: one that draws an error goes on.
  // The login stays an exchange of its own, which a blackout or a hang meets (1040 comes in place of the greeting: connectError).
  it('the login is a request answered by one packet', () => {
    const s = mysql.createSession();
    s.fromServer(pkt(0, greeting(CAPS)));
    const login = pkt(1, handshakeResponse(CAPS));
    const [segment, ...more] = s.fromClient(login);
    expect(more).toEqual([]);
    expect(segment).toMatchObject({ data: login, start: true, end: true, label: 'HandshakeResponse' });
    expect(segment.passthrough).toBeFalsy();
    // The server's answer, an auth switch here, is the login's reply; the auth data after it passes.
    expect(s.fromServer(pkt(2, Buffer.concat([Buffer.from([0xfe]), str0('mysql_native_password')])))).toMatchObject([{ start: true, end: true }]);
    expect(s.fromClient(pkt(3, Buffer.alloc(20, 7)))).toMatchObject([{ passthrough: true }]);
    expect(s.fromServer(pkt(4, ok()))).toMatchObject([{ passthrough: true }]);
    expect(s.fromClient(pkt(0, cmd(0x0e)))).toMatchObject([{ label: 'COM_PING' }]);
  });

  // A real ROLLBACK is served whatever the server's state (checked on MariaDB 10.11: behind
  // others' locks, and killed as it ran): no non-fatal kind meets one, and none has a stand-in.
  it('a ROLLBACK, in any of its forms, passes every kind but a server shutting down', () => {
    for (const sql of ['ROLLBACK', 'rollback;', ' Rollback Work ; ', 'ROLLBACK AND CHAIN', 'rollback release', 'ROLLBACK /* why */ WORK', 'ROLLBACK TO SAVEPOINT a']) {
      for (const kind of ['1205', '1213', '1317', '1290']) expect(mysql.refuses!(kind, 'COM_QUERY', query([], sql)), `${kind} ${sql}`).toBe(false);
      expect(mysql.refuses!('1053', 'COM_QUERY', query([], sql)), sql).toBe(true);
      expect(mysql.standIn!(query([], sql), true, undefined, 3, '1205'), sql).toBeUndefined();
    }
  });

  it('statements ending in a COMMIT go with ROLLBACK in its place, unless a comment may hide it', () => {
    expect(mysql.standIn!(query([0, 1], 'INSERT INTO t VALUES (1); commit ;\n'), true)).toEqual(query([0, 1], 'INSERT INTO t VALUES (1); ROLLBACK AND NO CHAIN NO RELEASE'));
    expect(mysql.standIn!(query([], 'DELETE FROM t;\nCOMMIT'), true)).toEqual(query([], 'DELETE FROM t; ROLLBACK AND NO CHAIN NO RELEASE'));
    expect(mysql.standIn!(query([], 'SELECT 1 -- done; COMMIT'), true)).toBeUndefined();
    expect(mysql.standIn!(query([], 'SELECT 1 # done; COMMIT'), true)).toBeUndefined();
  });

  // A failed statement ends a query: the server skips the statements after it.
  it('a COMMIT amid statements: those before it go, with ROLLBACK in its place, those after it not; unless unsure where it stands', () => {
    const amid = (sql: string) => mysql.standIn!(query([0, 1], sql), true)?.subarray(7).toString('latin1');
    expect(amid('COMMIT; SELECT 1')).toBe('ROLLBACK AND NO CHAIN NO RELEASE');
    expect(amid("INSERT INTO t VALUES ('a;b', \"c;\", `d;`, 'it''s;'); COMMIT WORK ; INSERT INTO t VALUES (2); COMMIT AND CHAIN; SELECT 3"))
      .toBe("INSERT INTO t VALUES ('a;b', \"c;\", `d;`, 'it''s;'); ROLLBACK AND NO CHAIN NO RELEASE");
    expect(amid('SELECT 1 -- done; COMMIT\n; COMMIT; SELECT 2')).toBe('SELECT 1 -- done; COMMIT\n; ROLLBACK AND NO CHAIN NO RELEASE');
    expect(amid('SELECT 1 /* ; */; commit /* x */; SELECT 2')).toBe('SELECT 1 /* ; */; ROLLBACK AND NO CHAIN NO RELEASE');
    // Comments are blanks, as to the server; not '--' without a blank after it, nor 0xA0.
    expect(amid('INSERT INTO t VALUES (1); # done\n/* c */ COMMIT -- x\n')).toBe('INSERT INTO t VALUES (1); ROLLBACK AND NO CHAIN NO RELEASE');
    for (const refused of ['commit--x', 'commit\xa0', 'end', 'commit /*M! work */']) expect(amid(refused), refused).toBeUndefined();
    expect(amid('SELECT 1--1; COMMIT; SELECT 2')).toBe('SELECT 1--1; ROLLBACK AND NO CHAIN NO RELEASE');
    expect(amid('CREATE TABLE event (id INT); INSERT INTO event VALUES (1); COMMIT')).toBe('CREATE TABLE event (id INT); INSERT INTO event VALUES (1); ROLLBACK AND NO CHAIN NO RELEASE');
    for (const unsure of [
      "SELECT 'a\\'; COMMIT; SELECT 'b'", // a backslash: an escape or not, by sql_mode
      "SELECT 'a; COMMIT; SELECT 'b", // a quote that does not end
      'SELECT 1 /*! ; COMMIT; */; SELECT 2', // an executable comment
      'SELECT 1 /* /* */ ; COMMIT; SELECT 2 */', // nested, in no dialect the same
      'CREATE PROCEDURE p() BEGIN INSERT INTO t VALUES (1); COMMIT; END', // a routine's body
      'BEGIN NOT ATOMIC INSERT INTO t VALUES (1); COMMIT; END', // MariaDB's anonymous block
      'ALTER DEFINER = CURRENT_USER EVENT e DO BEGIN INSERT INTO t VALUES (1); COMMIT; END',
      'SELECT 1 -- x\r; COMMIT; SELECT 2', // a lone CR
      'SELECT 1; SELECT 2',
    ]) expect(amid(unsure), unsure).toBeUndefined();
  });
});

describe.skipIf(!haveMariadb())('mysql framer with a real MariaDB', () => {
  let db: RunningServer;
  let relay: Awaited<ReturnType<typeof startRecordingRelay>>;
  beforeAll(async () => {
    db = await startMariadb();
    relay = await startRecordingRelay(mysql, db.port);
    const setup = await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', multipleStatements: true });
    await setup.query('CREATE DATABASE t; CREATE TABLE t.x (id INT PRIMARY KEY, v VARCHAR(100), b LONGBLOB) ENGINE=InnoDB');
    await setup.end();
  });
  afterAll(async () => {
    await relay?.close();
    await db?.stop();
  });

  it('mysql2: text and binary protocol, multi-statements, errors, LOCAL INFILE, ping, change user, big rows', async () => {
    const before = relay.conns.length;
    const conn = await mysql2.createConnection({
      host: '127.0.0.1', port: relay.port, user: 'root', database: 't', multipleStatements: true,
      infileStreamFactory: () => Readable.from([Buffer.from('100\tfrom-file\n101\tfrom-file\n')]),
    });
    await conn.query('INSERT INTO x (id, v) VALUES (1, ?), (2, ?), (3, NULL)', ['one', 'two']);
    const [rows] = await conn.query('SELECT id, v FROM x ORDER BY id');
    expect(rows).toEqual([{ id: 1, v: 'one' }, { id: 2, v: 'two' }, { id: 3, v: null }]);
    const [multi] = await conn.query('SELECT 1 AS a; UPDATE x SET v = v WHERE id = 1; SELECT 2 AS b');
    expect((multi as unknown[]).length).toBe(3);
    await expect(conn.query('SELEKT 1')).rejects.toMatchObject({ errno: 1064 });
    const [exec] = await conn.execute('SELECT id, v FROM x WHERE id >= ? ORDER BY id', [2]);
    expect(exec).toEqual([{ id: 2, v: 'two' }, { id: 3, v: null }]);
    await conn.execute('UPDATE x SET v = ? WHERE id = ?', ['uno', 1]);
    await expect(conn.execute('SELECT nope FROM x WHERE id = ?', [1])).rejects.toMatchObject({ errno: 1054 });
    await conn.ping();
    const [load] = await conn.query("LOAD DATA LOCAL INFILE 'whatever.tsv' INTO TABLE x (id, v)");
    expect((load as { affectedRows: number }).affectedRows).toBe(2);
    await conn.changeUser({ user: 'root', database: 't' });
    // A value over 16 MiB in both directions (continuation packets).
    const big = 'z'.repeat(17 * 1024 * 1024);
    await conn.query('INSERT INTO x (id, b) VALUES (9, ?)', [big]);
    const [bigRows] = await conn.query('SELECT LENGTH(b) AS n, b FROM x WHERE id = 9');
    expect((bigRows as { n: number; b: Buffer }[])[0].n).toBe(big.length);
    expect((bigRows as { n: number; b: Buffer }[])[0].b.toString()).toBe(big);
    const [many] = await conn.query('SELECT seq, REPEAT("r", seq % 300) AS pad FROM seq_1_to_5000');
    expect((many as unknown[]).length).toBe(5000);
    await conn.end();
    await waitFor(() => relay.conns.length > before && relay.conns[before].c.some((m) => m.label === 'COM_QUIT'));
    const rec = relay.conns[before];
    const labels = rec.c.filter((m) => m.kind === 'req').map((m) => m.label);
    expect(labels).toEqual(expect.arrayContaining(['COM_QUERY', 'COM_STMT_PREPARE', 'COM_STMT_EXECUTE', 'COM_PING', 'COM_CHANGE_USER', 'COM_QUIT']));
    expect(rec.c.some((m) => m.kind === 'pass' && m.data.includes('from-file'))).toBe(true);
    expectConsistent(rec);
  });

  it('mysql2: a pool under concurrent load keeps consistent framing', async () => {
    const before = relay.conns.length;
    const pool = mysql2.createPool({ host: '127.0.0.1', port: relay.port, user: 'root', database: 't', connectionLimit: 4 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? pool.query('SELECT ? AS n', [i]) : pool.execute('SELECT ? AS n', [i]))));
    results.forEach(([r], i) => expect(Number((r as { n: number }[])[0].n)).toBe(i));
    await pool.end();
    await waitFor(() => relay.conns.length >= before + 1);
    for (const rec of relay.conns.slice(before)) expectConsistent(rec);
  });

  it('mariadb CLI and mariadb-admin (another client library)', async () => {
    const before = relay.conns.length;
    const args = ['--no-defaults', '-h127.0.0.1', `-P${relay.port}`, '-uroot', '--protocol=tcp', '--skip-ssl'];
    const { stdout } = await execFileP('mariadb', [...args, 't', '-e',
      'SELECT id, v FROM x ORDER BY id; SELECT 1; SHOW WARNINGS; SELECT nope; '].concat(), { timeout: 20_000 }).catch((e) => e);
    expect(String(stdout)).toContain('uno');
    await execFileP('mariadb', [...args, 't', '-e', 'SELECT COUNT(*) FROM x; CREATE TABLE y (a INT); ALTER TABLE y ENGINE=InnoDB; DROP TABLE y; SELECT 2'], { timeout: 20_000 });
    await execFileP('mariadb-admin', [...args, 'ping', 'status', 'processlist', 'variables'], { timeout: 20_000 });
    await waitFor(() => relay.conns.length >= before + 3 && relay.conns.slice(before).every((r) => r.events.length > 0));
    await new Promise((r) => setTimeout(r, 100));
    const recs = relay.conns.slice(before);
    for (const rec of recs) expectConsistent(rec);
    const labels = recs.flatMap((r) => r.c.filter((m) => m.kind === 'req').map((m) => m.label));
    expect(labels).toEqual(expect.arrayContaining(['COM_QUERY', 'COM_PING', 'COM_STATISTICS']));
  });

  it('raw client: binary results with CLIENT_DEPRECATE_EOF, cursors and COM_STMT_FETCH, COM_FIELD_LIST, unknown commands', async () => {
    for (const deprecate of [false, true]) {
      const raw = await RawClient.connect(db.port, CAPS | (deprecate ? DEPRECATE_EOF : 0));
      try {
        await raw.command(cmd(0x02, 't'));
        const sel = await raw.command(cmd(0x03, 'SELECT id, v FROM x WHERE id < 5 ORDER BY id'));
        // The server honours the capability: the rows end with an OK packet (0xFE header, 7+
        // bytes) instead of a 5-byte EOF, and no EOF follows the column definitions.
        const last = lastPacket(sel);
        expect(last[4]).toBe(0xfe);
        expect(last.readUIntLE(0, 3) >= 7).toBe(deprecate);
        const prep = await raw.command(cmd(0x16, 'SELECT id, v FROM x WHERE id < ? ORDER BY id'));
        const stmt = prep.readUInt32LE(5);
        const param = Buffer.concat([u32(stmt), Buffer.from([0]), u32(1), Buffer.from([0, 1, 0x03, 0]), u32(50)]);
        await raw.command(Buffer.concat([Buffer.from([0x17]), param]));
        // With a read-only cursor: metadata only, rows come with COM_STMT_FETCH.
        const cursor = Buffer.from(Buffer.concat([Buffer.from([0x17]), param]));
        cursor[5] = 0x01;
        const meta = lastPacket(await raw.command(cursor));
        // The metadata ends with SERVER_STATUS_CURSOR_EXISTS: no rows in this reply.
        expect(meta[4]).toBe(0xfe);
        expect(meta.readUInt16LE(7) & CURSOR_EXISTS).toBe(CURSOR_EXISTS);
        await raw.command(Buffer.concat([Buffer.from([0x1c]), u32(stmt), u32(1)]));
        await raw.command(Buffer.concat([Buffer.from([0x1c]), u32(stmt), u32(100)]));
        await raw.command(Buffer.concat([Buffer.from([0x1a]), u32(stmt)])); // COM_STMT_RESET
        await raw.command(cmd(0x04, 'x\0')); // COM_FIELD_LIST
        await raw.command(cmd(0x09)); // COM_STATISTICS
        await raw.command(cmd(0x0a)); // COM_PROCESS_INFO
        await raw.command(cmd(0x1b, u16(0))); // COM_SET_OPTION
        await raw.command(cmd(0x1f)); // COM_RESET_CONNECTION
        await raw.command(cmd(0x00)); // COM_SLEEP: unknown command error
        await raw.command(cmd(0x03, 'SELECT 1; SELECT 2, 3; DO 1')); // needs MULTI_STATEMENTS
        await raw.command(cmd(0x03, "SELECT SLEEP(0), 'after'"));
        await raw.command(cmd(0x0e));
        // Pipelined: three commands in one write, three replies.
        const replies = await raw.pipeline([cmd(0x03, 'SELECT 1'), cmd(0x0e), Buffer.concat([Buffer.from([0x19]), u32(stmt)]), cmd(0x03, 'SELECT 2, 3')]);
        expect(replies).toHaveLength(3);
      } finally {
        raw.close();
      }
    }
  });
});

/** The last packet of a run of whole packets. */
function lastPacket(b: Buffer): Buffer {
  let pos = 0;
  let last = b;
  while (pos + 4 <= b.length) {
    const len = b.readUIntLE(pos, 3);
    last = b.subarray(pos, pos + 4 + len);
    pos += 4 + len;
  }
  return last;
}

/**
 * A minimal MySQL client that lets the framer tell when a reply is over, then checks that the
 * server sent nothing more (a reply ended too late would time out, one ended too early would
 * leave bytes behind).
 */
class RawClient {
  private session = mysql.createSession();
  private cur: Buffer[] = [];
  private done: Buffer[] = [];
  private waiter?: () => void;
  private constructor(private sock: net.Socket) {
    sock.on('data', (d) => {
      for (const seg of this.session.fromServer(d)) {
        this.cur.push(seg.data);
        if (seg.end) { this.done.push(Buffer.concat(this.cur)); this.cur = []; }
      }
      this.waiter?.();
    });
  }

  static async connect(port: number, caps: number): Promise<RawClient> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
    const c = new RawClient(sock);
    await c.next(1); // greeting
    c.send(pkt(1, handshakeResponse(caps)));
    const [okPacket] = await c.next(1);
    expect(okPacket[4]).toBe(0);
    return c;
  }

  private send(b: Buffer): void {
    this.sock.write(Buffer.concat(this.session.fromClient(b).map((s) => s.data)));
  }

  /** Wait for `n` whole messages from the server. */
  private async next(n: number): Promise<Buffer[]> {
    const deadline = Date.now() + 5000;
    while (this.done.length < n) {
      if (Date.now() > deadline) throw new Error('reply did not end (the framer waits for more)');
      await new Promise<void>((r) => { this.waiter = r; setTimeout(r, 100); });
    }
    return this.done.splice(0, n);
  }

  /** Send commands in one write, wait for the framer's end of each reply, check nothing follows. */
  async pipeline(payloads: Buffer[]): Promise<Buffer[]> {
    const labels = payloads.map((p) => p[0]);
    this.send(Buffer.concat(payloads.map((p) => pkt(0, p))));
    const expectReplies = labels.filter((c) => c !== 0x19 && c !== 0x18 && c !== 0x01).length;
    const replies = await this.next(expectReplies);
    await new Promise((r) => setTimeout(r, 30));
    expect(this.done.length + this.cur.length, `bytes after the end of the reply to 0x${labels.map((l) => l.toString(16))}`).toBe(0);
    return replies;
  }

  async command(payload: Buffer): Promise<Buffer> {
    return (await this.pipeline([payload]))[0];
  }

  close(): void {
    this.sock.destroy();
  }
}
