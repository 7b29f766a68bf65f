import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { promisify } from 'node:util';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FramingError, MAX_HEAD_BYTES, type FramerSession, type Segment } from '../../src/proxy/protocol.js';
import { postgres, POSTGRES_ERRORS } from '../../src/proxy/protocols/postgres.js';
import { CommitStatements, resultsBefore } from '../../src/proxy/protocols/postgres-commit.js';
import { seededRandom } from '../../src/proxy/random.js';
import { C, expectConversation, randomCuts, runSteps, S, summary, conversationSeeds, fuzzConversation, type Step } from '../helpers/conversation.js';
import { fuzzFramer } from '../helpers/framing.js';
import { startRecordingRelay, waitFor, type Recorded } from '../helpers/recording-relay.js';
import { havePostgres, startPostgres } from '../helpers/postgres.js';
import type { RunningServer } from '../helpers/servers.js';
import { bind, cat, cc, cstr, describeP, describeS, execute, flush, i16, i32, msg, parse, query, startup, sync, untyped, Z } from '../helpers/postgres-frames.js';

// ---------------------------------------------------------------------------------------------
// Message builders

const SSL_REQUEST = 80877103, GSSENC_REQUEST = 80877104, CANCEL = 80877102;
const rowDesc = (...names: string[]) => msg('T', i16(names.length), ...names.map((n) => Buffer.concat([cstr(n), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)])));
const dataRow = (...vals: (string | null)[]) => msg('D', i16(vals.length), ...vals.map((v) => (v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]))));
const errResp = (sev: string, code: string, m: string) => msg('E', Buffer.concat([cstr(`S${sev}`), cstr(`V${sev}`), cstr(`C${code}`), cstr(`M${m}`), Buffer.from([0])]));
const notice = (m: string) => msg('N', Buffer.concat([cstr('SNOTICE'), cstr(`M${m}`), Buffer.from([0])]));
const paramStatus = (k: string, v: string) => msg('S', k, v);
const copyData = (s: string) => msg('d', Buffer.from(s));

function handshake(): Step[] {
  return [
    // The StartupMessage is a request, answered by the server's first message (a server at max_connections refuses it).
    C(startup(), 'req', 'Startup'),
    S(msg('R', i32(10), 'SCRAM-SHA-256', Buffer.from([0]))),
    C(msg('p', 'SCRAM-SHA-256', i32(3), Buffer.from('n,,')), 'pass'),
    S(msg('R', i32(11), Buffer.from('r=abc')), 'pass'),
    C(msg('p', Buffer.from('c=biws,r=abc,p=xyz')), 'pass'),
    S(msg('R', i32(12), Buffer.from('v=xyz')), 'pass'),
    S(msg('R', i32(0)), 'pass'),
    S(paramStatus('server_version', '15.18'), 'pass'),
    S(paramStatus('client_encoding', 'UTF8'), 'pass'),
    S(msg('K', i32(1234), i32(5678)), 'pass'),
    S(Z('I'), 'pass'),
  ];
}

function conversation(): Step[] {
  return [
    ...handshake(),
    C(query('SELECT a FROM t'), 'req', 'Query'),
    S(cat(rowDesc('a'), dataRow('1'), dataRow(null), cc('SELECT 2'), Z('I'))),
    // Asynchronous messages while idle.
    S(notice('hello'), 'pass'),
    S(msg('A', i32(99), 'chan', 'payload'), 'pass'),
    S(paramStatus('TimeZone', 'UTC'), 'pass'),
    C(query('BEGIN'), 'req', 'Query'),
    S(cat(cc('BEGIN'), Z('T'))),
    C(cat(parse('SELECT $1::int'), bind(), describeP(), execute(), sync()), 'req', 'Extended'),
    S(cat(msg('1'), msg('2'), rowDesc('int4'), dataRow('7'), cc('SELECT 1'), Z('T'))),
    C(cat(parse('SELECT 1', 's1'), describeS('s1'), sync()), 'req', 'Extended'),
    S(cat(msg('1'), msg('t', i16(0)), rowDesc('?column?'), Z('T'))),
    C(sync(), 'req', 'Sync'),
    S(Z('T')),
    C(query('SELEC'), 'req', 'Query'),
    S(cat(errResp('ERROR', '42601', 'syntax error'), Z('E'))),
    C(query('ROLLBACK'), 'req', 'Query'),
    S(cat(cc('ROLLBACK'), Z('I'))),
    // COPY FROM STDIN, simple query: client copy messages are passthrough.
    C(query('COPY t FROM STDIN'), 'req', 'Query'),
    S(msg('G', Buffer.from([0]), i16(1), i16(0)), 'reply-start'),
    C(copyData('1\n'), 'pass'),
    C(copyData('2\n'), 'pass'),
    C(msg('c'), 'pass'),
    S(cat(cc('COPY 2'), Z('I')), 'reply-end'),
    // COPY FROM STDIN from an extended query: libpq's Sync after CopyDone belongs to it.
    C(cat(parse('COPY t FROM STDIN'), bind(), execute(), sync()), 'req', 'Extended'),
    S(cat(msg('1'), msg('2'), msg('G', Buffer.from([0]), i16(1), i16(0))), 'reply-start'),
    C(copyData('3\n'), 'pass'),
    C(flush(), 'pass'),
    C(msg('c'), 'pass'),
    C(sync(), 'pass'),
    S(cat(cc('COPY 1'), Z('I')), 'reply-end'),
    // COPY TO STDOUT.
    C(query('COPY t TO STDOUT'), 'req', 'Query'),
    S(cat(msg('H', Buffer.from([0]), i16(1), i16(0)), copyData('1\n'), copyData('2\n'), msg('c'), cc('COPY 2'), Z('I'))),
    // A failed COPY: CopyFail.
    C(query('COPY t FROM STDIN'), 'req', 'Query'),
    S(msg('G', Buffer.from([0]), i16(1), i16(0)), 'reply-start'),
    C(msg('f', 'client gave up'), 'pass'),
    S(cat(errResp('ERROR', '57014', 'COPY from stdin failed'), Z('I')), 'reply-end'),
    // FunctionCall.
    C(msg('F', i32(2026), i16(0), i16(0), i16(0)), 'req', 'FunctionCall'),
    S(cat(msg('V', i32(4), i32(42)), Z('I'))),
    // A reply that opens with a notice: the notice passes through, the reply follows.
    C(query('DROP TABLE IF EXISTS nope'), 'req', 'Query'),
    S(notice('table "nope" does not exist, skipping'), 'pass'),
    S(cat(cc('DROP TABLE'), Z('I'))),
    C(query(''), 'req', 'Query'),
    S(cat(msg('I'), Z('I'))),
    // Portal paging with Flush: the reply starts before the request's Sync.
    C(cat(parse('SELECT generate_series(1, 3)'), bind(), describeP(), execute(2), flush()), 'req-start', 'Extended'),
    S(cat(msg('1'), msg('2'), rowDesc('g'), dataRow('1'), dataRow('2'), msg('s')), 'reply-start'),
    C(cat(execute(2), flush()), 'req-mid'),
    S(cat(dataRow('3'), cc('SELECT 1')), 'reply-mid'),
    C(sync(), 'req-end'),
    S(Z('I'), 'reply-end'),
    // An error in an extended query: the server skips to Sync.
    C(cat(parse('SELEC'), bind(), execute(), sync()), 'req', 'Extended'),
    S(cat(errResp('ERROR', '42601', 'syntax error'), Z('I'))),
    C(msg('X'), 'noreply', 'Terminate'),
  ];
}

function chunks(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}
function primed(steps: { from: 'c' | 's'; bytes: Buffer }[]): FramerSession {
  const s = postgres.createSession();
  for (const st of steps) st.from === 'c' ? s.fromClient(st.bytes) : s.fromServer(st.bytes);
  return s;
}

// ---------------------------------------------------------------------------------------------

describe('postgres framer (synthetic conversations)', () => {
  const steps = conversation();

  it('frames startup, simple and extended queries, COPY, notices, function calls, paging', () => {
    expectConversation(postgres, steps);
  });

  it('same messages whatever the chunking (every split point, 1-byte, random)', () => {
    expectConversation(postgres, steps, (b) => [...b].map((x) => Buffer.from([x])), '1-byte chunks');
    const rnd = seededRandom(5);
    for (let r = 0; r < 30; r++) expectConversation(postgres, steps, (b) => randomCuts(b, rnd), `random run ${r}`);
    steps.forEach((st, k) => {
      for (let at = 1; at < st.bytes.length; at++) {
        expectConversation(postgres, steps, (b, i) => (i === k ? [b.subarray(0, at), b.subarray(at)] : [b]), `step ${k} split at ${at}`);
      }
    });
  });

  it('pipelined queries in one chunk, replies in one chunk', () => {
    const reqs = [query('SELECT 1'), cat(parse('SELECT 2'), bind(), execute(), sync()), cat(parse('SELECT 3'), bind(), execute(), sync()), query('SELECT 4')];
    const reply = (v: string) => cat(rowDesc('x'), dataRow(v), cc('SELECT 1'), Z('I'));
    const ext = (v: string) => cat(msg('1'), msg('2'), dataRow(v), cc('SELECT 1'), Z('I'));
    const got = runSteps(postgres, [...handshake(), { from: 'c', bytes: cat(...reqs) }, { from: 's', bytes: cat(reply('1'), ext('2'), ext('3'), reply('4')) }]);
    const n = handshake().filter((s) => s.from === 'c').length;
    expect(got.c.slice(n).map((m) => m.label)).toEqual(['Query', 'Extended', 'Extended', 'Query']);
    expect(got.c.slice(n).map((m) => m.data)).toEqual(reqs);
    // The first reply is the StartupMessage's.
    expect(got.s.filter((m) => m.kind === 'reply').slice(1).map((m) => m.data)).toEqual([reply('1'), ext('2'), ext('3'), reply('4')]);
  });

  it('SSLRequest answered N goes on in clear; S or G, CancelRequest and direct TLS are opaque passthrough', () => {
    const clear = runSteps(postgres, [
      { from: 'c', bytes: untyped(SSL_REQUEST) }, { from: 's', bytes: Buffer.from('N') },
      { from: 'c', bytes: untyped(GSSENC_REQUEST) }, { from: 's', bytes: Buffer.from('N') },
      ...handshake(), { from: 'c', bytes: query('SELECT 1') }, { from: 's', bytes: cat(cc('SELECT 0'), Z('I')) },
    ]);
    expect(clear.c.at(-1)!.label).toBe('Query');
    expect(clear.s.at(-1)!.kind).toBe('reply');
    for (const answer of ['S', 'G']) {
      const s = postgres.createSession();
      expect(s.fromClient(untyped(answer === 'S' ? SSL_REQUEST : GSSENC_REQUEST))).toMatchObject([{ passthrough: true, start: true, end: true }]);
      expect(s.fromServer(Buffer.from(answer))).toMatchObject([{ passthrough: true }]);
      expect(s.fromClient(cat(Buffer.from([0x16, 3, 1, 0, 2, 1, 2]), query('SELECT 1')))).toMatchObject([{ passthrough: true }]);
      expect(s.fromServer(cat(cc('SELECT'), Z('I')))).toMatchObject([{ passthrough: true }]);
      expect(s.fromClient(query('SELECT 1'))).toMatchObject([{ passthrough: true }]);
    }
    const cancel = postgres.createSession();
    expect(cancel.fromClient(untyped(CANCEL, cat(i32(1234), i32(5678))))).toMatchObject([{ passthrough: true }]);
    expect(cancel.fromClient(query('x'))).toMatchObject([{ passthrough: true }]);
    const tls = postgres.createSession();
    expect(tls.fromClient(Buffer.from([0x16, 3, 1, 0, 200, 1, 0, 0]))).toMatchObject([{ passthrough: true }]);
  });

  it('skipped() forgets a request the engine answered itself', () => {
    const s = primed(handshake());
    const segs = s.fromClient(cat(query('SELECT 1'), query('SELECT 2')));
    expect(segs.map((x) => x.label)).toEqual(['Query', 'Query']);
    s.skipped!(1);
    const r = s.fromServer(cat(cc('SELECT 0'), Z('I'), notice('after')));
    expect(r.map((x) => [x.start, x.end, !!x.passthrough])).toEqual([[true, true, false], [true, true, true]]);
  });

  it('unknown message types and bad lengths are FramingErrors, and no byte is lost', () => {
    const s = primed(handshake());
    expect(s.fromClient(Buffer.from('Q'))).toEqual([]);
    expect(() => s.fromClient(Buffer.from([0, 0, 0, 1]))).toThrow(FramingError);
    expect(s.drain().client).toEqual(Buffer.from([0x51, 0, 0, 0, 1]));
    const s2 = primed(handshake());
    expect(() => s2.fromClient(msg('?', 'x'))).toThrow(FramingError);
    expect(s2.drain().client).toEqual(msg('?', 'x'));
    const s3 = primed(handshake());
    s3.fromClient(query('SELECT 1'));
    expect(() => s3.fromServer(msg('@'))).toThrow(FramingError);
    const s4 = postgres.createSession();
    expect(() => s4.fromClient(untyped(2 << 16))).toThrow(FramingError); // protocol 2.0
    const s5 = primed(handshake());
    s5.fromClient(cat(parse('SELECT 1'), bind()));
    expect(() => s5.fromClient(query('SELECT 2'))).toThrow(FramingError);
  });

  it('streams big rows and big queries without holding them', () => {
    const s = primed(handshake());
    const big = 'x'.repeat(3 << 20);
    const q = query(`SELECT '${big}'`);
    let emitted = 0;
    for (const piece of chunks(q, 16384)) {
      emitted += s.fromClient(piece).reduce((n, x) => n + x.data.length, 0);
      expect(s.buffered()).toBeLessThanOrEqual(5 + MAX_HEAD_BYTES);
    }
    expect(emitted).toBe(q.length);
    const reply = cat(rowDesc('x'), dataRow(big), dataRow(big), cc('SELECT 2'), Z('I'));
    const segs: Segment[] = [];
    for (const piece of chunks(reply, 65536 + 7)) {
      segs.push(...s.fromServer(piece));
      expect(s.buffered()).toBeLessThanOrEqual(6);
    }
    expect(Buffer.concat(segs.map((x) => x.data)).equals(reply)).toBe(true);
    expect(segs[0].start && segs.at(-1)!.end && segs.slice(1, -1).every((x) => !x.start && !x.end)).toBe(true);
  });

  it('fuzz: garbage, truncation and random splits only ever raise FramingError and lose no byte', () => {
    fuzzFramer(postgres, conversationSeeds(steps), 400);
    fuzzConversation(postgres, steps, 2 * (5 + MAX_HEAD_BYTES));
    // Well-framed messages of random (mostly known) types after a real startup.
    const types = fc.constantFrom(...'QPBDECHSFXdcfpZTDCEINAS123sntGHWVv?'.split(''));
    const message = fc.tuple(fc.boolean(), types, fc.uint8Array({ maxLength: 20 })).map(([fromClient, type, body]) => ({
      from: fromClient ? 'c' as const : 's' as const, bytes: msg(type, Buffer.from(body)),
    }));
    fc.assert(
      fc.property(fc.array(message, { maxLength: 30 }), fc.integer({ min: 1, max: 2 ** 31 }), (msgs, seed) => {
        const rnd = seededRandom(seed);
        const session = postgres.createSession();
        const sent = { c: [] as Buffer[], s: [] as Buffer[] };
        const got = { c: [] as Buffer[], s: [] as Buffer[] };
        try {
          for (const st of [...handshake(), ...msgs]) {
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

/** Parse an error reply into its messages and ErrorResponse fields. */
function parseReply(b: Buffer): { types: string[]; fields: Record<string, string>; status?: string } {
  const types: string[] = [];
  const fields: Record<string, string> = {};
  let status: string | undefined;
  let pos = 0;
  while (pos < b.length) {
    const type = String.fromCharCode(b[pos]);
    const len = b.readInt32BE(pos + 1);
    const body = b.subarray(pos + 5, pos + 1 + len);
    types.push(type);
    if (type === 'E') {
      let i = 0;
      while (body[i] !== 0) {
        const end = body.indexOf(0, i + 1);
        fields[String.fromCharCode(body[i])] = body.toString('utf8', i + 1, end);
        i = end + 1;
      }
      expect(i).toBe(body.length - 1);
    }
    if (type === 'Z') status = String.fromCharCode(body[0]);
    pos += 1 + len;
  }
  expect(pos).toBe(b.length);
  return { types, fields, status };
}

describe('postgres error replies', () => {
  it('ErrorResponse with severity, SQLSTATE and message; ReadyForQuery after non-fatal ones', () => {
    for (const [kind, e] of Object.entries(POSTGRES_ERRORS)) {
      const r = postgres.encodeError(kind, { label: 'Query', request: query('SELECT 1'), random: Math.random });
      const p = parseReply(r.bytes);
      expect(p.fields).toMatchObject({ S: e.severity, V: e.severity, C: kind, M: e.message });
      expect(r.close).toBe(e.severity === 'FATAL');
      expect(postgres.errorKinds[kind].fatal).toBe(r.close);
      expect(p.types).toEqual(r.close ? ['E'] : ['E', 'Z']);
      if (!r.close) expect(p.status).toBe('I');
    }
    expect(postgres.defaultError).toBe('57P01');
    for (const k of ['57P01', '53300', '57P03', '08006']) expect(postgres.errorKinds[k].fatal).toBe(true);
    for (const k of ['57014', '40001', '40P01', '53100']) expect(postgres.errorKinds[k].fatal).toBe(false);
  });

  it('53300 and 57P03 refuse a StartupMessage and nothing else; no other kind refuses one', () => {
    const s = postgres.createSession();
    const [first] = s.fromClient(startup());
    expect([first.label, !!first.passthrough]).toEqual(['Startup', false]);
    const refuses = (kind: string, label: string, request: Buffer) => postgres.refuses!(kind, label, request);
    const atStartup = ['53300', '57P03'];
    expect(postgres.standIn!(first.data, true, s, 0)).toBeUndefined();
    for (const k of atStartup) {
      expect(refuses(k, 'Startup', first.data), k).toBe(true);
      expect(postgres.encodeError(k, { request: first.data, random: Math.random, session: s, ordinal: 0 }), k).toMatchObject({ close: true });
      for (const [label, request] of [['Query', query('SELECT 1')], ['Extended', cat(parse('SELECT 1'), bind(), execute(), sync())], ['Sync', sync()]] as const) {
        expect(refuses(k, label, request), `${k} ${label}`).toBe(false);
      }
    }
    for (const k of Object.keys(POSTGRES_ERRORS).filter((k) => !atStartup.includes(k))) expect(refuses(k, 'Startup', first.data), k).toBe(false);
  });

  it('a request that begins with a Bind gets its BindComplete before a non-fatal error, as a statement failing at execution', () => {
    const reply = (kind: string, request: Buffer, message?: string) => parseReply(postgres.encodeError(kind, { request, random: Math.random, message }).bytes);
    const prepared = cat(bind('', 'stmt'), execute(), sync());
    for (const message of [undefined, 'our own text']) {
      expect(reply('40001', prepared, message)).toMatchObject({ types: ['2', 'E', 'Z'], status: 'I' });
      // A request that parses its statement fails at its Parse; a FATAL error comes alone.
      expect(reply('40001', cat(parse('SELECT 1'), bind(), execute(), sync()), message).types).toEqual(['E', 'Z']);
      expect(reply('40001', cat(parse('SELECT $1'), describeS(), flush()), message).types).toEqual(['E', 'Z']);
      expect(reply('57P01', prepared, message).types).toEqual(['E']);
    }
    expect(reply('40001', query('SELECT 1')).types).toEqual(['E', 'Z']);
  });

  it('ReadyForQuery reports the session transaction status: I stays I, T and E become E', () => {
    const s = primed(handshake());
    const ask = (sql: string) => s.fromClient(query(sql))[0].data;
    const reqIdle = ask('SELECT 1');
    expect(parseReply(postgres.encodeError('40001', { request: reqIdle, random: Math.random, session: s }).bytes).status).toBe('I');
    s.fromServer(cat(cc('SELECT'), Z('I')));
    ask('BEGIN');
    s.fromServer(cat(cc('BEGIN'), Z('T')));
    const inTx = ask('UPDATE t SET a = 1');
    expect(parseReply(postgres.encodeError('40P01', { request: inTx, random: Math.random, session: s }).bytes).status).toBe('E');
    // The session now believes the transaction failed, until the server says otherwise.
    const next = ask('SELECT 2');
    expect(parseReply(postgres.encodeError('57014', { request: next, random: Math.random, session: s }).bytes).status).toBe('E');
    s.fromServer(cat(cc('ROLLBACK'), Z('I')));
    const after = ask('SELECT 3');
    expect(parseReply(postgres.encodeError('57014', { request: after, random: Math.random, session: s }).bytes).status).toBe('I');
  });
});

// ---------------------------------------------------------------------------------------------
// Against a real PostgreSQL, through a relay that pushes every byte through the framer.

function expectConsistent(rec: Recorded): void {
  expect(rec.errors).toEqual([]);
  const reqs = rec.c.filter((m) => m.kind === 'req');
  const replies = rec.s.filter((m) => m.kind === 'reply');
  expect(replies.length).toBe(reqs.filter((m) => !m.noReply).length);
  expect(rec.openS).toBeUndefined();
  // The StartupMessage's reply is the server's first message after it, an authentication request;
  // every other reply ends with ReadyForQuery.
  expect(replies[0].data[0]).toBe(0x52);
  for (const r of replies.slice(1)) expect(r.data[r.data.length - 6]).toBe(0x5a);
  const rnd = seededRandom(reqs.length + 1);
  const total = rec.events.reduce((n, e) => n + e.bytes.length, 0);
  const cuts = total < 1 << 20
    ? [(b: Buffer) => [b], (b: Buffer) => randomCuts(b, rnd), (b: Buffer) => chunks(b, 3)]
    : [(b: Buffer) => [b], (b: Buffer) => randomCuts(b, rnd, 20_000)];
  for (const cut of cuts) {
    const again = runSteps(postgres, rec.events, cut);
    expect(summary(again.c)).toEqual(summary(rec.c));
    expect(summary(again.s)).toEqual(summary(rec.s));
  }
}

const execFileP = promisify(execFile);

describe('postgres: what the server is sent in place of a COMMIT that draws an error', () => {
  const ROLLBACK = msg('Q', 'ROLLBACK');
  /**
   * ROLLBACK as a statement of its own, bound to the unnamed portal, run, closed: a COMMIT run by
   * name (or parsed by name) leaves the unnamed statement, which a simple Query would drop.
   */
  const ROLLBACK_EXTENDED = /^P....marteau_tui_rollback\0ROLLBACK\0\0\0B....\0marteau_tui_rollback\0\0\0\0\0\0\0E....\0\0\0\0\0C....Smarteau_tui_rollback\0S\0\0\0\x04$/s;
  const sync = msg('S');
  const run = (name: string) => Buffer.concat([bind('', name), describeP(), msg('E', '', i32(0)), sync]);
  function session(): FramerSession {
    const s = postgres.createSession();
    s.fromClient(startup());
    s.fromServer(Buffer.concat([msg('R', i32(0)), Z('I')]));
    return s;
  }

  it('a batch that runs a statement parsed as COMMIT, by its name, until it is closed, parsed again or discarded', () => {
    const s = session();
    const standIn = () => postgres.standIn!(run('c'), true, s);
    // Any other statement runs up to its Execute (its Describe answered by the server).
    const rollsBack = (name = 'c') => ROLLBACK_EXTENDED.test(postgres.standIn!(run(name), true, s)?.toString('latin1') ?? '');
    expect(rollsBack()).toBe(false);
    s.fromClient(Buffer.concat([parse('commit', 'c'), sync]));
    expect(standIn()!.toString('latin1')).toMatch(ROLLBACK_EXTENDED);
    // What a real failing COMMIT sends before its error: BindComplete, NoData for its portal.
    const before = postgres.encodeError('40001', { request: run('c'), random: Math.random, session: s, standIn: standIn() }).bytes;
    expect([before.subarray(0, 10), before.subarray(-6)]).toEqual([Buffer.from('2\0\0\0\x04n\0\0\0\x04', 'latin1'), Z('I')]);
    expect(rollsBack('other')).toBe(false);
    s.fromClient(Buffer.concat([msg('C', Buffer.from('S'), 'c'), sync]));
    expect(rollsBack()).toBe(false);
    s.fromClient(Buffer.concat([parse('COMMIT', 'c'), sync]));
    s.fromClient(msg('Q', 'DISCARD ALL'));
    expect(rollsBack()).toBe(false);
    s.fromClient(Buffer.concat([parse('COMMIT', 'c'), sync, parse('SELECT 1', 'c'), sync]));
    expect(rollsBack()).toBe(false);
    // A Parse not all in one read, after the first message of its batch: nothing known is trusted.
    s.fromClient(Buffer.concat([parse('COMMIT', 'c'), sync]));
    const batch = Buffer.concat([bind(), parse('SELECT 2', 'c')]);
    s.fromClient(batch.subarray(0, batch.length - 3));
    expect(rollsBack()).toBe(false);
  });

  // Inside a block, any other request is replaced by a statement that fails, so that the server's
  // block is aborted as the client is told; outside one, or in one already failed, it is withheld.
  it('in a transaction block, any other request that draws an error: a failing statement in its place, the error says E', () => {
    const s = session();
    const insert = msg('Q', 'INSERT INTO t VALUES (1)');
    expect(postgres.standIn!(insert, true, s)).toBeUndefined();
    s.fromClient(msg('Q', 'BEGIN'));
    s.fromServer(Buffer.concat([cc('BEGIN'), Z('T')]));
    // A Query drops the unnamed statement as it starts: the failing message in its place is a Parse of it.
    const fails = postgres.standIn!(insert, true, s)!;
    expect(fails.toString('latin1')).toMatch(/^P....\0SELECT '.*marteau-tui.*'::integer\0\0\0S\0\0\0\x04$/s);
    // The first segment of a request that streams on (a big parameter) is replaced the same way.
    expect(postgres.standIn!(Buffer.concat([parse('INSERT INTO t VALUES ($1)'), bind()]).subarray(0, 20), false, s)).toBe(fails);
    // Any other first message leaves the unnamed statement and portal: a FunctionCall that fails.
    const bindRun = Buffer.concat([bind('', ''), msg('E', '', i32(0)), sync]);
    const call = postgres.standIn!(bindRun, true, s)!;
    expect(call.toString('latin1')).toMatch(/^F....\0\0\0\x2a\0\0\0\x01....an error injected by the marteau-tui .*\0\0$/s);
    for (const other of [Buffer.concat([parse('SELECT 1', 'named'), describeS('named'), sync]), msg('S')]) {
      expect(postgres.standIn!(other, true, s)).toBe(call);
    }
    // A Describe before its Execute, which only the server can answer: what comes before the
    // Execute, then a failing Parse (ranFirst); the server's answers are the client's, none made up.
    const described = postgres.standIn!(run(''), true, s)!;
    expect(described.toString('latin1')).toMatch(/^B....\0{8}D....P\0P....marteau_tui_chaos\0SELECT '.*'::integer\0\0\0S\0\0\0\x04$/s);
    // The Closes a request begins with go first, then a failing Parse (a FunctionCall cannot
    // follow them in a batch): of the unnamed statement when the request parses it next, else of
    // a statement of no use, which drops none; then Sync. Their CloseCompletes come before the error.
    const closes = Buffer.concat([msg('C', Buffer.from('S'), 'a'), msg('C', Buffer.from('P'), '')]);
    for (const [next, name] of [[bindRun, 'marteau_tui_chaos'], [Buffer.concat([parse('SELECT 1'), describeS(''), sync]), '']] as [Buffer, string][]) {
      const closing = postgres.standIn!(Buffer.concat([closes, next]), true, s)!;
      expect(closing.subarray(0, closes.length)).toEqual(closes);
      expect(closing.subarray(closes.length).toString('latin1')).toMatch(new RegExp(`^P....${name}\\0SELECT '.*marteau-tui.*'::integer\\0\\0\\0S\\0\\0\\0\\x04$`, 's'));
      const reply = postgres.encodeError('40001', { request: Buffer.concat([closes, next]), random: Math.random, session: s, standIn: closing }).bytes;
      const types: string[] = [];
      for (let pos = 0; pos < reply.length; pos += 1 + reply.readInt32BE(pos + 1)) types.push(String.fromCharCode(reply[pos]));
      expect(types.join('')).toBe(name ? '332EZ' : '33EZ');
      expect(reply.subarray(-6)).toEqual(Z('E'));
    }
    expect(postgres.standIn!(msg('Q', 'COMMIT'), true, s)).toEqual(ROLLBACK);
    const told = (standIn?: Buffer) => postgres.encodeError('40001', { request: insert, random: Math.random, session: s, standIn }).bytes;
    expect(told(fails).subarray(-6)).toEqual(Z('E'));
    expect(told(ROLLBACK).subarray(-6)).toEqual(Z('I'));
    expect(postgres.encodeError('40001', { request: run(''), random: Math.random, session: s, standIn: described }).bytes[0]).toBe(0x45);
    s.fromServer(Buffer.concat([errResp('ERROR', '40001', 'x'), Z('E')]));
    expect(postgres.standIn!(insert, true, s)).toBeUndefined();
    expect(postgres.standIn!(bindRun, true, s)).toBeUndefined();
  });

  // Whether it fails or not, a Parse of the unnamed statement drops the one prepared before: a
  // client told that its Parse failed must not have the one before run by its next Bind.
  it('a request that begins with a Parse of the unnamed statement: the failing Parse in its place, in any state', () => {
    const s = session();
    // One that runs nothing (postgres.js describes a statement first, its Execute in a later read).
    const batch = Buffer.concat([parse('INSERT INTO t VALUES ($1)'), describeS(), flush()]);
    const fails = postgres.standIn!(batch, true, s)!;
    expect(fails[0]).toBe(0x50);
    expect(postgres.standIn!(msg('Q', 'SELECT 1'), true, s)).toBeUndefined();
    expect(postgres.standIn!(Buffer.concat([parse('SELECT 1', 'named'), describeS('named'), flush()]), true, s)).toBeUndefined();
    expect(postgres.encodeError('40001', { request: batch, random: Math.random, session: s, standIn: fails }).bytes.subarray(-6)).toEqual(Z('I'));
    s.fromClient(msg('Q', 'BEGIN'));
    s.fromServer(Buffer.concat([cc('BEGIN'), errResp('ERROR', '22012', 'x'), Z('E')]));
    expect(postgres.standIn!(batch, true, s)).toBe(fails);
    expect(postgres.encodeError('40001', { request: batch, random: Math.random, session: s, standIn: fails }).bytes.subarray(-6)).toEqual(Z('E'));
  });

  // The kinds are errors a statement meets as it runs: what comes before its Execute goes to the
  // server, whose replies to it are the client's, then the injected error.
  it('a request that parses and runs a statement: what comes before its Execute in its place, its replies passed, then the error', () => {
    const s = session();
    const batch = (name: string) => Buffer.concat([parse('INSERT INTO t VALUES ($1)', name), describeS(name), bind('', name), describeP(), execute(), sync]);
    const head = (name: string) => batch(name).subarray(0, batch(name).length - execute().length - sync.length);
    for (const name of ['', 'named']) {
      const standIn = postgres.standIn!(batch(name), true, s)!;
      expect(standIn, name).toEqual(Buffer.concat([head(name), sync]));
      expect(postgres.encodeError('40001', { request: batch(name), random: Math.random, session: s, standIn }).bytes[0]).toBe(0x45);
    }
    // The server's replies up to the stand-in's ReadyForQuery are passed through; the rest is the exchange's.
    s.fromClient(batch(''));
    const standIn = postgres.standIn!(batch(''), true, s, 1)!;
    s.errored!(1, standIn);
    const replies = [msg('1'), msg('t', i16(0)), msg('n'), msg('2'), msg('n'), Z('I')];
    expect(s.fromServer(Buffer.concat(replies)).map((x) => [x.data.length, !!x.passthrough])).toEqual([...replies.slice(0, 5).map((r) => [r.length, true]), [6, false]]);
    // In a block, a failing Parse that drops nothing follows, to abort it; the error starts the exchange's reply.
    s.fromClient(msg('Q', 'BEGIN'));
    s.fromServer(Buffer.concat([cc('BEGIN'), Z('T')]));
    const inBlock = postgres.standIn!(batch('named'), true, s, 3)!;
    expect(inBlock.subarray(0, head('named').length)).toEqual(head('named'));
    expect(inBlock.subarray(head('named').length).toString('latin1')).toMatch(/^P....marteau_tui_chaos\0SELECT '.*marteau-tui.*'::integer\0\0\0S\0\0\0\x04$/s);
    s.fromClient(batch('named'));
    s.errored!(3, inBlock);
    const failed = [msg('1'), msg('t', i16(0)), msg('n'), msg('2'), msg('n'), errResp('ERROR', '22P02', 'x'), Z('E')];
    expect(s.fromServer(Buffer.concat(failed)).map((x) => !!x.passthrough)).toEqual([true, true, true, true, true, false]);
    expect(postgres.encodeError('40001', { request: batch('named'), random: Math.random, session: s, standIn: inBlock }).bytes.subarray(-6)).toEqual(Z('E'));
  });

  // A Describe of a statement that returns no rows takes no lock (postgres-locks.ts): such
  // statements are known by the Parse that names them, and forgotten when closed or parsed again.
  it('statements parsed by name as returning no rows, as long as they stay so', () => {
    const st = new CommitStatements();
    const see = (m: Buffer) => st.seen(m[0], m, 5, m.length - 5);
    const forms: [string, boolean][] = [
      ['INSERT INTO t VALUES (1)', true], ['  update t SET x = 1', true], ['/* c */ -- d\nDELETE FROM t', true], ['MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE', true],
      ['INSERT INTO t VALUES (1) RETURNING x', false], ['delete from t returning *', false], ['SELECT 1', false], ['(SELECT 1)', false],
      ['WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a', false], ['VALUES (1)', false], ['insert_row()', false], ['', false],
    ];
    forms.forEach(([sql], i) => see(parse(sql, `s${i}`)));
    expect(forms.map((_, i) => st.returnsNoRows(`s${i}`))).toEqual(forms.map(([, none]) => none));
    // The unnamed statement is not kept; a name closed, or parsed again as a SELECT, is forgotten.
    see(parse('INSERT INTO t VALUES (1)'));
    expect(st.returnsNoRows('')).toBe(false);
    see(msg('C', Buffer.from('S'), 's0'));
    see(parse('SELECT 1', 's1'));
    expect([st.returnsNoRows('s0'), st.returnsNoRows('s1'), st.returnsNoRows('s2')]).toEqual([false, false, true]);
  });

  // The server's FATAL amid the reply to a stand-in (a COMMIT's, after statements the proxy cannot
  // count: the whole reply is the one the injected error replaces) passes, from its first byte,
  // however the server's bytes are cut; the reply's bytes before it stay the reply's.
  it('a FATAL amid a reply to a stand-in passes whole, the reply before it the reply\'s, whatever the cuts', () => {
    const q = msg('Q', 'SELECT 1; DO $$BEGIN PERFORM pg_sleep(5); END$$; COMMIT');
    const before = cat(rowDesc('x'), dataRow('1'), cc('SELECT 1'));
    const fatal = errResp('FATAL', '57P01', 'terminating connection due to administrator command');
    const server = cat(before, fatal);
    for (let size = 1; size <= server.length; size++) {
      const s = session();
      s.fromClient(q);
      const standIn = postgres.standIn!(q, true, s, 1)!;
      expect(resultsBefore(standIn)).toBe(0);
      s.errored!(1, standIn);
      const segs = chunks(server, size).flatMap((c) => s.fromServer(c));
      const of = (pass: boolean) => Buffer.concat(segs.filter((x) => !!x.passthrough === pass).map((x) => x.data));
      expect(of(true), `in pieces of ${size}`).toEqual(fatal);
      expect(of(false), `in pieces of ${size}`).toEqual(before);
    }
    // No stand-in sent: a FATAL amid a reply is the reply's, passed with it.
    const s = session();
    s.fromClient(msg('Q', 'SELECT 1; SELECT pg_sleep(5)'));
    expect(s.fromServer(server).map((x) => !!x.passthrough)).toEqual([false]);
  });

  // A request behind a transaction statement still in flight may run in a block the last
  // ReadyForQuery does not know: the failing statement goes, and the error says what the server does.
  it('behind a request in flight that may begin or end a block: a failing statement, the error takes the server\'s status', () => {
    const s = session();
    const insert = msg('Q', 'INSERT INTO t VALUES (1)');
    // Ordinals 1 to 4 (0 is the StartupMessage) framed together, none answered yet.
    s.fromClient(Buffer.concat([msg('Q', 'SELECT 1'), msg('Q', 'begin  -- work'), insert, insert]));
    expect(postgres.standIn!(insert, true, s, 2)).toBeUndefined();
    const fails = postgres.standIn!(insert, true, s, 3)!;
    expect(fails.toString('latin1')).toContain('marteau-tui');
    const told = postgres.encodeError('40001', { request: insert, random: Math.random, session: s, standIn: fails, ordinal: 3 }).bytes;
    expect(told.subarray(-6)).toEqual(Z('E'));
    s.fromServer(Buffer.concat([cc('SELECT 1'), Z('I'), cc('BEGIN'), Z('T')]));
    expect(postgres.standIn!(insert, true, s, 4)).toBe(fails);
    // The server's ReadyForQuery after the stand-in is the client's: idle had a COMMIT ended the block.
    s.fromServer(Buffer.concat([errResp('ERROR', 'P0001', 'x'), Z('I')]));
    expect(told.subarray(-6)).toEqual(Z('I'));
    expect(postgres.standIn!(insert, true, s, 4)).toBeUndefined();
    // Only the words of a transaction statement count, in any case, as words of their own; a
    // Parse of one counts for the batches that bind it later, by name or not.
    const s2 = session();
    s2.fromClient(Buffer.concat([msg('Q', ''), msg('Q', "SELECT backend_start, 'ending', x.commits FROM y"), parse('SELECT 1', 'plain'), sync, parse('ROLLBACK', 'rb'), sync,
      parse('SELECT 2'), sync, run('plain'), run(''), run('rb'), msg('Q', 'SELECT CASE WHEN true THEN 1 END')]));
    const moving: number[] = [];
    for (let o = 0; o < 9; o++) {
      // Unsure behind request o, once those before it were answered: o may move the server.
      if (postgres.standIn!(insert, true, s2, o + 2) !== undefined) moving.push(o);
      s2.fromServer(Z('I'));
    }
    // A CASE's END counts (no false negative costs more than a failing statement).
    expect(moving).toEqual([3, 7, 8]);
  });

  // A failed statement ends a query: the server skips the statements after it.
  it('a simple query with a COMMIT amid its statements: those before it go, with ROLLBACK in its place; unless unsure where it stands', () => {
    const amid = (sql: string) => postgres.standIn!(msg('Q', sql), true, session())?.subarray(5).toString('latin1');
    expect(amid('COMMIT; INSERT INTO t VALUES (2)')).toBe('ROLLBACK\0');
    expect(amid(`INSERT INTO t VALUES ('a;b', 'it''s;') ; end transaction; INSERT INTO "x;" VALUES (2); COMMIT; SELECT 3`)).toBe(`INSERT INTO t VALUES ('a;b', 'it''s;') ; ROLLBACK\0`);
    expect(amid('SELECT 1 --x; COMMIT\n; SELECT /* ; */ 2; COMMIT AND NO CHAIN; SELECT 3')).toBe('SELECT 1 --x; COMMIT\n; SELECT /* ; */ 2; ROLLBACK\0');
    expect(amid('CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; COMMIT); SELECT 1')).toBeUndefined();
    expect(amid('INSERT INTO t (atomic) VALUES (1); COMMIT')).toBe('INSERT INTO t (atomic) VALUES (1); ROLLBACK\0');
    // Comments are blanks, as to the server; not '#', nor a vertical tab (PostgreSQL 15 refuses both).
    expect(amid('INSERT INTO t VALUES (1); -- done\n/* c */ END /* x */ TRANSACTION -- y')).toBe('INSERT INTO t VALUES (1); ROLLBACK\0');
    for (const refused of ['commit # x', 'commit\v', 'commit\xa0']) expect(amid(refused), refused).toBeUndefined();
    for (const unsure of [
      "SELECT E'a\\'; COMMIT; SELECT 'b'", // a backslash: an escape or not, by the string's kind and the settings
      'DO $$BEGIN PERFORM 1; END$$; COMMIT; SELECT 1', // dollar quotes
      'SELECT 1 /* /* */ ; COMMIT; */; SELECT 2', // nested
      // A function body: its statements and END are its own (this one was taken for a query ending in a COMMIT).
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END',
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; COMMIT; SELECT 1',
    ]) expect(amid(unsure), unsure).toBeUndefined();
    // The results of the statements that go before the ROLLBACK are the client's: how many, empty ones left out as the server leaves them.
    const results = (sql: string) => resultsBefore(postgres.standIn!(msg('Q', sql), true, session()));
    expect(results('COMMIT; INSERT INTO t VALUES (2)')).toBe(0);
    expect(results(`INSERT INTO t VALUES ('a;b', 'it''s;') ; end transaction; SELECT 3`)).toBe(1);
    expect(results('SELECT 1 --x; COMMIT\n; SELECT /* ; */ 2; COMMIT AND NO CHAIN; SELECT 3')).toBe(2);
    expect(results('SELECT 1;; /* c */ ; (SELECT 2); COMMIT')).toBe(2);
  });

  it('a batch that parses a COMMIT and runs it; a Parse alone does not commit', () => {
    expect(postgres.standIn!(Buffer.concat([parse('COMMIT', 'c'), run('c')]), true, session())!.toString('latin1')).toMatch(ROLLBACK_EXTENDED);
    // A Parse of the unnamed statement drops the one before, failing or not, as a Query does.
    expect(postgres.standIn!(Buffer.concat([parse('COMMIT'), run('')]), true, session())).toEqual(ROLLBACK);
    // Not a COMMIT's ROLLBACK: the failing Parse of any request that parses the unnamed statement.
    expect(postgres.standIn!(Buffer.concat([parse('COMMIT'), sync]), true, session())!.toString('latin1')).toContain('marteau-tui');
  });
});

describe.skipIf(!havePostgres())('postgres framer with a real PostgreSQL', () => {
  let db: RunningServer;
  let relay: Awaited<ReturnType<typeof startRecordingRelay>>;
  const cfg = (port: number) => ({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  beforeAll(async () => {
    db = await startPostgres();
    relay = await startRecordingRelay(postgres, db.port);
    const setup = new pg.Client(cfg(db.port));
    await setup.connect();
    await setup.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await setup.end();
  });
  afterAll(async () => {
    await relay?.close();
    await db?.stop();
  });

  it('pg: simple and extended queries, prepared statements, errors in transactions, notices, notifications, paging, big rows', async () => {
    const before = relay.conns.length;
    const client = new pg.Client(cfg(relay.port));
    const notices: string[] = [];
    const notifications: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    client.on('notification', (n) => notifications.push(n.payload ?? ''));
    await client.connect();
    await client.query("INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL)");
    expect((await client.query('SELECT id, v FROM t ORDER BY id')).rows).toEqual([{ id: 1, v: 'one' }, { id: 2, v: 'two' }, { id: 3, v: null }]);
    expect((await client.query('SELECT v FROM t WHERE id = $1', [2])).rows).toEqual([{ v: 'two' }]);
    const named = { name: 'by-id', text: 'SELECT v FROM t WHERE id = $1' };
    expect((await client.query({ ...named, values: [1] })).rows).toEqual([{ v: 'one' }]);
    expect((await client.query({ ...named, values: [2] })).rows).toEqual([{ v: 'two' }]);
    await client.query('BEGIN');
    await expect(client.query('SELECT nope FROM t')).rejects.toMatchObject({ code: '42703' });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    await expect(client.query('SELECT $1::int', ['x'])).rejects.toMatchObject({ code: '22P02' });
    await client.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
    expect(notices).toContain('hello 42');
    const multi = await client.query('SELECT 1 AS a; SELECT 2 AS b; UPDATE t SET v = v');
    expect((multi as unknown as unknown[]).length).toBe(3);
    await client.query('LISTEN chan');
    const other = new pg.Client(cfg(db.port));
    await other.connect();
    await other.query("NOTIFY chan, 'ping'");
    await other.end();
    await waitFor(() => notifications.length > 0);
    expect(notifications).toEqual(['ping']);
    // Portal paging (Execute with a row limit + Flush, Sync only at the end).
    const paged = await client.query({ text: 'SELECT generate_series(1, 25) AS n', rows: 10 } as pg.QueryConfig & { rows: number });
    expect(paged.rows.length).toBe(25);
    const big = 'b'.repeat(5 << 20);
    expect((await client.query('SELECT length($1::text) AS n, $1::text AS s', [big])).rows[0]).toEqual({ n: big.length, s: big });
    const series = await client.query('SELECT g, repeat(\'r\', g % 200) AS pad FROM generate_series(1, 20000) g');
    expect(series.rowCount).toBe(20000);
    await client.end();
    await waitFor(() => relay.conns[before]?.closed === true);
    const rec = relay.conns[before];
    expect(new Set(rec.c.filter((m) => m.kind === 'req').map((m) => m.label))).toEqual(new Set(['Startup', 'Query', 'Extended', 'Terminate']));
    // The NOTIFY arrived while idle: passthrough.
    expect(rec.s.some((m) => m.kind === 'pass' && m.data[0] === 0x41)).toBe(true);
    expectConsistent(rec);
  });

  it('psql: COPY FROM STDIN / TO STDOUT, meta-commands', async () => {
    const before = relay.conns.length;
    const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(relay.port), PGUSER: 'postgres', PGDATABASE: 'postgres', PGSSLMODE: 'disable' };
    const input = Array.from({ length: 2000 }, (_, i) => `${100 + i}\tcopied ${i}`).join('\n') + '\n\\.\n';
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      const child = execFile('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', 'COPY t FROM STDIN', '-c', 'SELECT count(*) FROM t WHERE v LIKE \'copied%\'', '-c', '\\d t'], { env, timeout: 20_000 }, (e, out) => (e ? reject(e) : resolve({ stdout: out })));
      child.stdin!.end(input);
    });
    expect(stdout).toContain('2000');
    const out = await execFileP('psql', ['-X', '-c', 'COPY (SELECT * FROM t ORDER BY id) TO STDOUT', '-c', 'SELECT 1'], { env, timeout: 20_000 });
    expect(String(out.stdout)).toContain('copied 1999');
    await waitFor(() => relay.conns.length >= before + 2 && relay.conns.slice(before).every((r) => r.closed));
    for (const rec of relay.conns.slice(before)) expectConsistent(rec);
  });

  it('pgbench: extended and prepared protocol, pipeline mode', async () => {
    const before = relay.conns.length;
    const env = { ...process.env, PGSSLMODE: 'disable' };
    const script = `${db.dir}/pipeline.sql`;
    await writeFile(script, '\\set id random(1, 3)\n\\startpipeline\nSELECT v FROM t WHERE id = :id;\nSELECT 1;\nSELECT :id + 1;\n\\endpipeline\nSELECT 2;\n');
    const base = ['-h', '127.0.0.1', '-p', String(relay.port), '-U', 'postgres', '-n', '-t', '20', '-c', '2'];
    await execFileP('pgbench', [...base, '-M', 'extended', '-f', script, 'postgres'], { env, timeout: 30_000 });
    await execFileP('pgbench', [...base, '-M', 'prepared', '-f', script, 'postgres'], { env, timeout: 30_000 });
    await execFileP('pgbench', [...base, '-M', 'simple', '-S', 'postgres'], { env, timeout: 30_000 }).catch(() => undefined); // -S needs pgbench tables: an error reply is fine too
    await waitFor(() => relay.conns.length >= before + 6 && relay.conns.slice(before).every((r) => r.closed));
    for (const rec of relay.conns.slice(before)) expectConsistent(rec);
  });

  it('raw client: COPY from an extended query (libpq adds a Sync), FunctionCall, lone Sync', async () => {
    const sock = net.connect(db.port, '127.0.0.1');
    await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
    const session = postgres.createSession();
    const done: Buffer[] = [];
    let cur: Buffer[] = [];
    const copyIn: Buffer[] = [];
    sock.on('data', (d) => {
      for (const seg of session.fromServer(d)) {
        cur.push(seg.data);
        if (seg.data.includes(Buffer.from('G'))) copyIn.push(seg.data);
        if (seg.end) { done.push(Buffer.concat(cur)); cur = []; }
      }
    });
    const send = (b: Buffer) => { for (const s of session.fromClient(b)) sock.write(s.data); };
    const waitMsgs = async (pred: () => boolean) => waitFor(pred, 5000);
    try {
      send(startup());
      await waitMsgs(() => done.some((m) => m[0] === 0x5a));
      done.length = 0;
      // Extended COPY: the Sync sent with the batch is ignored during COPY; libpq sends another.
      send(cat(parse('COPY t FROM STDIN'), bind(), execute(), sync()));
      await waitMsgs(() => cur.some((b) => b.includes(Buffer.from([0x47, 0, 0, 0]))));
      send(cat(copyData('50000\tx\n'), copyData('50001\ty\n'), msg('c'), sync()));
      await waitMsgs(() => done.length === 1);
      expect(done[0].subarray(-6)).toEqual(Z('I'));
      expect(done[0].includes(Buffer.from('COPY 2'))).toBe(true);
      // FunctionCall: pg_backend_pid() (OID 2026).
      send(msg('F', i32(2026), i16(0), i16(0), i16(0)));
      await waitMsgs(() => done.length === 2);
      expect(done[1][0]).toBe(0x56); // FunctionCallResponse
      send(sync());
      await waitMsgs(() => done.length === 3);
      expect(done[2]).toEqual(Z('I'));
      await new Promise((r) => setTimeout(r, 30));
      expect(cur).toEqual([]);
    } finally {
      sock.destroy();
    }
  });
});
