/**
 * PostgreSQL: an injected error that waits for its request's Execute, in a later read
 * (postgres-later.ts), message by message through the framing session: what goes to the server
 * (passed through), what goes nowhere (the request's own frames), and which of the server's
 * messages are the reply the injected error replaces. The same against a real server:
 * proxy-postgres-extended.
 */
import { describe, expect, it } from 'vitest';
import type { FramerSession, Segment } from '../../src/proxy/protocol.js';
import { postgres } from '../../src/proxy/protocols/postgres.js';
import { bind, cat, cc, cstr, describeP, describeS, execute, flush, i16, i32, msg, parse, startup, sync, Z } from '../helpers/postgres-frames.js';

const errResp = (code: string) => msg('E', Buffer.concat([cstr('SERROR'), cstr(`C${code}`), cstr('Mx'), Buffer.from([0])]));
const rowDesc = () => msg('T', i16(1), cstr('x'), i32(0), i16(0), i32(23), i16(4), i32(-1), i16(0));

/** The failing Parse sent in an Execute's place, and the ROLLBACK of a COMMIT's. */
const FAILING_PARSE = /^P....marteau_tui_chaos\0SELECT '.*marteau-tui.*'::integer\0\0\0$/s;
const ROLLBACK_RUN = /^P....marteau_tui_rollback\0ROLLBACK\0\0\0B....\0marteau_tui_rollback\0\0\0\0\0\0\0E....\0\0\0\0\0C....Smarteau_tui_rollback\0H\0\0\0\x04$/s;

/** The types of the whole messages in `b`, or its length when it is not whole messages. */
function types(b: Buffer): string {
  let out = '';
  let pos = 0;
  while (pos + 5 <= b.length && pos + 1 + b.readInt32BE(pos + 1) <= b.length) {
    out += b.toString('latin1', pos, pos + 1);
    pos += 1 + b.readInt32BE(pos + 1);
  }
  return pos === b.length ? out : `${b.length} bytes`;
}

/**
 * Segments as words: `>` passed through (to the server, or to the client), `=` the request's or
 * the reply's own (nowhere, or replaced by the injected error), `[` its start, `]` its end, then
 * the types of its messages.
 */
const words = (segs: Segment[]) => segs.map((s) => `${s.passthrough ? '>' : '='}${s.start && !s.passthrough ? '[' : ''}${types(s.data)}${s.end && !s.passthrough ? ']' : ''}`);

function session(status: 'I' | 'T' = 'I'): FramerSession {
  const s = postgres.createSession();
  s.fromClient(startup());
  s.fromServer(cat(msg('R', i32(0)), Z('I')));
  if (status === 'T') {
    s.fromClient(msg('Q', 'BEGIN'));
    s.fromServer(cat(cc('BEGIN'), Z('T')));
  }
  return s;
}

/** Request `ordinal`'s first read, framed, drawing an error as the engine draws it: the stand-in and the error's bytes. */
function draw(s: FramerSession, first: Buffer, ordinal: number, kind = '57014'): { framed: string[]; standIn: Buffer | undefined; error: Buffer } {
  const framed = words(s.fromClient(first));
  const standIn = postgres.standIn!(first, false, s, ordinal);
  const error = postgres.encodeError(kind, { request: first, random: Math.random, session: s, standIn, ordinal }).bytes;
  s.errored!(ordinal, standIn);
  return { framed, standIn, error };
}

describe('postgres: an error that waits for its request\'s Execute, in a later read', () => {
  it('what comes before the Execute goes to the server, a failing Parse in its place, the rest nowhere, the Sync on its own', () => {
    for (const status of ['I', 'T'] as const) {
      const s = session(status);
      const ordinal = status === 'T' ? 2 : 1;
      const first = cat(parse('SELECT 1 AS x', 's1'), describeS('s1'), flush());
      const { framed, standIn, error } = draw(s, first, ordinal);
      expect(framed).toEqual(['=[PDH']);
      // The first read as it is (in a block too: the failing Parse waits for the Execute).
      expect(standIn).toEqual(first);
      // The error alone: the server's ReadyForQuery to the Sync follows it.
      expect(types(error)).toBe('E');
      expect(words(s.fromServer(cat(msg('1'), msg('t', i16(0)), rowDesc()))), status).toEqual(['>1', '>t', '>T']);
      // A Bind, a portal's Describe and a Flush in a later read, each passed to the server.
      expect(words(s.fromClient(cat(bind('', 's1'), describeP(), flush())))).toEqual(['>B', '>D', '>H']);
      expect(words(s.fromServer(cat(msg('2'), rowDesc())))).toEqual(['>2', '>T']);
      // The Execute: a failing Parse in its place; it and what follows go nowhere.
      const at = s.fromClient(cat(execute(), bind('', 's1'), flush()));
      expect(words(at)).toEqual(['>P', '=EBH']);
      expect(at[0].data.toString('latin1')).toMatch(FAILING_PARSE);
      // The Sync ends the request and goes on its own.
      expect(words(s.fromClient(sync()))).toEqual(['=]', '>S']);
      // The failing Parse's error is the reply (replaced by the injected one), the ReadyForQuery passes.
      expect(words(s.fromServer(errResp('22P02')))).toEqual(['=[E]']);
      expect(words(s.fromServer(Z(status === 'T' ? 'E' : 'I')))).toEqual(['>Z']);
      // The next request is framed as ever.
      s.fromClient(msg('Q', 'SELECT 2'));
      expect(words(s.fromServer(cat(cc('SELECT 1'), Z('I'))))).toEqual(['=[CZ]']);
    }
  });

  it('a message that goes to the server split across reads passes in pieces; whole messages are forwarded the same at every split', () => {
    const later = cat(bind('', 's1'), describeP(), flush(), execute(), sync());
    const whole = session();
    draw(whole, cat(parse('SELECT 1', 's1'), describeS('s1'), flush()), 1);
    const expected = whole.fromClient(later);
    const sent = (segs: Segment[]) => Buffer.concat(segs.filter((x) => x.passthrough).map((x) => x.data));
    for (let cut = 1; cut < later.length; cut++) {
      const s = session();
      draw(s, cat(parse('SELECT 1', 's1'), describeS('s1'), flush()), 1);
      const segs = [...s.fromClient(later.subarray(0, cut)), ...s.fromClient(later.subarray(cut))];
      expect(sent(segs), `cut at ${cut}`).toEqual(sent(expected));
      expect(segs.filter((x) => x.end && !x.passthrough).length, `cut at ${cut}`).toBe(1);
    }
    expect(types(sent(expected))).toMatch(/^BDHPS$/);
  });

  it('a Sync with no Execute before it: the failing Parse goes ahead of it, or of the first message of its read', () => {
    const s = session('T');
    draw(s, cat(parse('SELECT 1', 's1'), describeS('s1'), flush()), 2);
    // A statement timeout may meet it at its Sync: given, whatever comes.
    expect(s.errorFate!(2)).toBe('given');
    expect(words(s.fromClient(cat(bind('', 's1'), flush())))).toEqual(['>B', '>H']);
    const segs = s.fromClient(sync());
    expect(words(segs)).toEqual(['=]', '>P', '>S']);
    expect(segs[1].data.toString('latin1')).toMatch(FAILING_PARSE);
    // In a read with a Sync after it, a message is where the timeout fails the request.
    const t = session();
    draw(t, cat(parse('SELECT 1', 's2'), describeS('s2'), flush()), 1);
    const at = t.fromClient(cat(bind('', 's2'), describeP(), flush(), sync()));
    expect(words(at)).toEqual(['>P', '=BDH]', '>S']);
    expect(at[0].data.toString('latin1')).toMatch(FAILING_PARSE);
  });

  it('a deadlock comes at a later Bind of a statement the first read did not parse nor bind, or a Parse, not at a Bind of its own', () => {
    const s = session();
    draw(s, cat(parse('SELECT 1', 's1'), describeS('s1'), flush()), 1, '40P01');
    expect(s.errorFate!(1)).toBe('held');
    s.fromServer(cat(msg('1'), msg('t', i16(0)), rowDesc()));
    expect(words(s.fromClient(cat(bind('', 's1'), describeP(), flush())))).toEqual(['>B', '>D', '>H']);
    const at = s.fromClient(cat(bind('', 'other'), describeP(), flush()));
    expect(words(at)).toEqual(['>P', '=BDH']);
    expect(at[0].data.toString('latin1')).toMatch(FAILING_PARSE);
    // Given: the server serves the request no more.
    expect(s.errorFate!(1)).toBe('given');
    expect(words(s.fromClient(sync()))).toEqual(['=]', '>S']);
    s.fromServer(cat(msg('2'), rowDesc(), errResp('42P01'), Z('I')));
    draw(s, cat(parse('SELECT 1', 's3'), describeS('s3'), flush()), 2, '40P01');
    expect(words(s.fromClient(cat(parse('SELECT 2', 's4'), flush())))).toEqual(['>P', '=PH']);
    // A first read that binds a statement prepared before holds its locks too.
    const b = session();
    draw(b, cat(bind('', 's9'), describeP(), flush()), 1, '40P01');
    b.fromServer(cat(msg('2'), rowDesc()));
    expect(words(b.fromClient(cat(bind('', 's9'), flush())))).toEqual(['>B', '>H']);
    expect(words(b.fromClient(cat(bind('', 'other'), flush())))).toEqual(['>P', '=BH']);
    // A Describe of another statement goes, the failing Parse behind it: its ParameterDescription
    // passes, its RowDescription begins the reply, which the failing Parse's error ends.
    const d = session();
    draw(d, cat(parse('SELECT 1', 's1'), describeS('s1'), flush()), 1, '40P01');
    d.fromServer(cat(msg('1'), msg('t', i16(0)), rowDesc()));
    const described = d.fromClient(cat(bind('', 's1'), describeS('other'), flush()));
    expect(words(described)).toEqual(['>B', '>DP', '=DH']);
    expect(described[1].data.subarray(0, 12)).toEqual(describeS('other'));
    expect(d.errorFate!(1)).toBe('given');
    expect(words(d.fromServer(cat(msg('2'), msg('t', i16(0)), rowDesc(), errResp('40P01'))))).toEqual(['>2', '>t', '=[TE]']);
    expect(words(d.fromClient(sync()))).toEqual(['=]', '>S']);
    expect(words(d.fromServer(Z('I')))).toEqual(['>Z']);
    // Of a portal, or of a statement the first read parsed: served.
    draw(d, cat(parse('SELECT 1', 's2'), describeS('s2'), flush()), 2, '40P01');
    expect(words(d.fromClient(cat(bind('', 's2'), describeP(), describeS('s2'), flush())))).toEqual(['>B', '>D', '>D', '>H']);
  });

  // A real server serves a request that runs nothing at a kind that comes as a statement runs.
  it('a Sync with no Execute before it, at a kind that comes as a statement runs: nothing more goes, the ReadyForQuery is the reply', () => {
    for (const [status, first] of [['I', cat(parse('SELECT 1', 's1'), describeS('s1'), flush())], ['T', cat(parse('COMMIT', 'c'), describeS('c'), flush())]] as const) {
      const s = session(status);
      const ordinal = status === 'T' ? 2 : 1;
      s.fromClient(first);
      const standIn = postgres.standIn!(first, false, s, ordinal);
      const reply = postgres.encodeError('25006', { request: first, random: Math.random, session: s, standIn, ordinal });
      s.errored!(ordinal, standIn);
      expect(types(reply.bytes)).toBe('E');
      // Its error may yet be withdrawn: the connection waits to count it (held-counts.ts).
      expect(s.errorFate!(ordinal)).toBe('held');
      expect(words(s.fromServer(cat(msg('1'), msg('t', i16(0)), rowDesc()))), status).toEqual(['>1', '>t', '>T']);
      expect(words(s.fromClient(cat(bind('', 's1'), sync()))), status).toEqual(['>B', '=]', '>S']);
      expect(s.errorFate!(ordinal)).toBe('held');
      expect(words(s.fromServer(cat(msg('2'), Z(status)))), status).toEqual(['>2', '=[Z]']);
      // The injected reply is now the server's ReadyForQuery: the error was withdrawn (told once).
      expect(reply.bytes, status).toEqual(Z(status));
      expect(s.errorFate!(ordinal)).toBe('withdrawn');
      expect(s.errorFate!(ordinal)).toBe('given');
      s.fromClient(msg('Q', 'SELECT 1'));
      expect(words(s.fromServer(cat(cc('SELECT 1'), Z(status)))), status).toEqual(['=[CZ]']);
    }
  });

  it('the server fails a message before the Execute: its error is the reply, nothing more goes', () => {
    const s = session();
    draw(s, cat(parse('SELECT $1::int', 's2'), describeS('s2'), flush()), 1);
    s.fromServer(cat(msg('1'), msg('t', i16(0)), rowDesc()));
    expect(words(s.fromClient(cat(bind('', 's2'), describeP(), flush())))).toEqual(['>B', '>D', '>H']);
    // The Bind refused (its parameters): the error goes now, in the injected one's place.
    expect(words(s.fromServer(errResp('08P01')))).toEqual(['=[E]']);
    // The server ignores what follows up to the Sync: the Execute goes nowhere, no failing Parse.
    expect(words(s.fromClient(cat(execute(), sync())))).toEqual(['=E]', '>S']);
    expect(words(s.fromServer(Z('I')))).toEqual(['>Z']);
  });

  // postgres.js pipelines: the next query's first read comes behind an Execute whose error the
  // server has not sent yet, and draws an error of its own.
  it('a request drawing its error before the one ahead of it has its reply: each error is its own request\'s', () => {
    const s = session();
    draw(s, cat(parse('SELECT $1::int', 'a'), describeS('a'), flush()), 1);
    s.fromServer(cat(msg('1'), msg('t', i16(0)), rowDesc()));
    const framed = words(s.fromClient(cat(bind('', 'a'), execute(), sync(), parse('SELECT $1::text', 'b'), describeS('b'), flush())));
    expect(framed).toEqual(['>B', '>P', '=E]', '>S', '=[PDH']);
    postgres.encodeError('57014', { request: cat(parse('SELECT $1::text', 'b'), describeS('b'), flush()), random: Math.random, session: s,
      standIn: postgres.standIn!(cat(parse('SELECT $1::text', 'b'), describeS('b'), flush()), false, s, 2), ordinal: 2 });
    s.errored!(2, postgres.standIn!(cat(parse('SELECT $1::text', 'b'), describeS('b'), flush()), false, s, 2));
    expect(words(s.fromServer(cat(msg('2'), errResp('22P02'), Z('I'), msg('1'), msg('t', i16(0)), rowDesc())))).toEqual(['>2', '=[E]', '>Z', '>1', '>t', '>T']);
    expect(words(s.fromClient(cat(bind('', 'b'), execute(), sync())))).toEqual(['>B', '>P', '=E]', '>S']);
    expect(words(s.fromServer(cat(msg('2'), errResp('22P02'), Z('I'))))).toEqual(['>2', '=[E]', '>Z']);
  });

  it('a COMMIT in a block: a ROLLBACK and a Flush in its Execute\'s place, whose answers are the reply, the ReadyForQuery to the Sync passing', () => {
    for (const name of ['c', '']) {
      const s = session('T');
      const { standIn, error } = draw(s, cat(parse('COMMIT', name), describeS(name), flush()), 2, '40001');
      expect(standIn).toEqual(cat(parse('COMMIT', name), describeS(name), flush()));
      // A failing COMMIT ends the block: its error alone, the server's ReadyForQuery (idle) to come.
      expect(types(error)).toBe('E');
      expect(words(s.fromServer(cat(msg('1'), msg('t', i16(0)), msg('n'))))).toEqual(['>1', '>t', '>n']);
      expect(words(s.fromClient(cat(bind('', name), describeP(), flush())))).toEqual(['>B', '>D', '>H']);
      expect(words(s.fromServer(cat(msg('2'), msg('n'))))).toEqual(['>2', '>n']);
      const at = s.fromClient(cat(execute(), sync()));
      expect(words(at)).toEqual(['>PBECH', '=E]', '>S']);
      expect(at[0].data.toString('latin1')).toMatch(ROLLBACK_RUN);
      // The ROLLBACK's answers are the reply, the ReadyForQuery to the client's Sync passes.
      expect(words(s.fromServer(cat(msg('1'), msg('2'), cc('ROLLBACK'), msg('3'))))).toEqual(['=[12C3]']);
      expect(words(s.fromServer(Z('I')))).toEqual(['>Z']);
      s.fromClient(msg('Q', 'SELECT 1'));
      expect(words(s.fromServer(cat(cc('SELECT 1'), Z('I'))))).toEqual(['=[CZ]']);
    }
    // A statement's Describe in a later read, its body in the read after its header's: its
    // ParameterDescription and RowDescription pass all the same, and the ROLLBACK's begin the reply.
    const cut = session('T');
    draw(cut, cat(parse('COMMIT', 'c'), flush()), 2, '40001');
    cut.fromServer(msg('1'));
    const later = cat(describeS('c'), flush());
    expect(words([...cut.fromClient(later.subarray(0, 5)), ...cut.fromClient(later.subarray(5))])).toEqual(['>5 bytes', '>3 bytes', '>H']);
    expect(words(cut.fromServer(cat(msg('t', i16(0)), msg('n'))))).toEqual(['>t', '>n']);
    cut.fromClient(cat(execute(), sync()));
    expect(words(cut.fromServer(cat(msg('1'), msg('2'), cc('ROLLBACK'), msg('3'), Z('I'))))).toEqual(['=[12C3]', '>Z']);
    // Outside a block, a COMMIT's error is as any other's: the failing Parse.
    const s = session();
    const { error } = draw(s, cat(parse('COMMIT', 'c'), describeS('c'), flush()), 1, '40001');
    expect(types(error)).toBe('E');
    expect(s.fromClient(cat(bind('', 'c'), execute(), sync()))[1].data.toString('latin1')).toMatch(FAILING_PARSE);
  });

  it('not for a first read that runs a statement, ends amid a message, or comes in a failed block', () => {
    const notLater = (s: FramerSession, first: Buffer, ordinal: number) => {
      s.fromClient(first);
      const standIn = postgres.standIn!(first, false, s, ordinal);
      return standIn === undefined || !standIn.equals(first);
    };
    const describe = describeS('s1');
    expect(notLater(session(), cat(parse('SELECT 1', 's1'), describe.subarray(0, 6)), 1)).toBe(true);
    expect(notLater(session(), cat(parse('SELECT 1', 's1'), bind('', 's1'), execute(), flush()), 1)).toBe(true);
    const failed = session('T');
    failed.fromClient(msg('Q', 'SELECT 1/0'));
    failed.fromServer(cat(errResp('22012'), Z('E')));
    expect(notLater(failed, cat(parse('SELECT 1', 's1'), describe, flush()), 3)).toBe(true);
  });
});

describe('postgres: a request that runs nothing at all', () => {
  // A real server fails it only as its Parse waits for a lock, or at any time for a FATAL kind.
  it('passes at the kinds that come only as a statement runs', () => {
    const describeOnly = cat(parse('INSERT INTO t VALUES (1)', 'w'), describeS('w'), sync());
    const refuses = (kind: string, request: Buffer) => postgres.refuses!(kind, 'Extended', request);
    for (const kind of ['40001', '53100', '25006']) {
      expect(refuses(kind, describeOnly), kind).toBe(false);
      expect(refuses(kind, cat(parse('SELECT 1'), sync())), kind).toBe(false);
      expect(refuses(kind, sync()), kind).toBe(false);
      // One that runs a statement, or whose Sync is to come (its Execute may be in a later read).
      expect(refuses(kind, cat(parse('SELECT 1'), bind(), execute(), sync())), kind).toBe(true);
      expect(refuses(kind, cat(parse('SELECT 1'), describeS(), flush())), kind).toBe(true);
      expect(refuses(kind, msg('Q', 'SELECT 1')), kind).toBe(true);
    }
    for (const kind of ['57014', '40P01', '57P01', '08006']) expect(refuses(kind, describeOnly), kind).toBe(true);
  });
});
