/**
 * The chaos proxy's injected errors in PostgreSQL's extended protocol, message by message, beside
 * what a real PostgreSQL sends for a real error in the same place: the same requests go to the
 * server directly, with a statement that really fails, and through the proxy with one that
 * draws an injected error.
 */
import pg from 'pg';
import postgresJs from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy/proxy.js';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { bind, close, execute, flush, messageClient, msg, parse, simple, startJoiner, startRelay, sync } from './helpers/postgres-wire.js';
import { directSide, proxySide, replies, type Side, words } from './helpers/postgres-sides.js';

let db: RunningServer;

async function connect(port: number): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await c.connect();
  return c;
}

const proxied = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });
/** Passing through, to `db` unless another port is given. */
const withProxy = (fn: (p: Proxy) => Promise<void>, upstream?: number) => proxied('', fn, upstream === undefined ? {} : { upstream });

/**
 * A statement that fails as it runs, after its Parse and Bind: a division by zero that is not
 * folded into a constant as the plan is made (random() is volatile), as the injected kinds are
 * errors a statement meets as it runs.
 */
const RUNTIME_ERROR = 'SELECT 1 / floor(random())::int';

/**
 * A relay's reader of one direction (`way`, '>' to the server, '<' back), no TLS asked:
 * the types of the messages that pass, each run of one direction's as one entry of `seen`.
 */
function recorder(seen: string[], way: string, pass: (d: Buffer) => void): (d: Buffer) => void {
  let held = Buffer.alloc(0);
  // The client's first message, its startup, has no type byte.
  let startup = way === '>';
  return (d) => {
    pass(d);
    held = Buffer.concat([held, d]);
    let pos = 0;
    if (startup) {
      if (held.length < 4 || held.readInt32BE(0) > held.length) return;
      pos = held.readInt32BE(0);
      startup = false;
    }
    while (pos + 5 <= held.length && pos + 1 + held.readInt32BE(pos + 1) <= held.length) {
      const last = seen.at(-1);
      const type = String.fromCharCode(held[pos]);
      if (last?.startsWith(way)) seen[seen.length - 1] = `${last} ${type}`;
      else seen.push(`${way} ${type}`);
      pos += 1 + held.readInt32BE(pos + 1);
    }
    held = held.subarray(pos);
  };
}

describe.skipIf(!havePostgres())('postgres extended protocol: injected errors as the server sends them (real PostgreSQL)', () => {
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(async () => {
    await db?.stop();
  });

  // A client that sends Parse, Bind, Execute (a Flush, or not) and its Sync in a later write (a
  // pipeline, a portal read in pages, a statement described before it is run) is sent the error
  // at once; the server then discards what comes up to the Sync, and answers the Sync alone with
  // its ReadyForQuery. The proxy sent its ReadyForQuery with the error, before the Sync, and none
  // to the Sync.
  it('an error drawn before the Sync has come: the error at once, the ReadyForQuery when the Sync comes', async () => {
    const scenario = async (side: Side, block: boolean, tail: Buffer[]) => {
      const c = await messageClient(side.port);
      const out: string[] = [];
      try {
        if (block) {
          c.write(simple('BEGIN'));
          out.push(words(await c.until('Z')));
        }
        await side.arm({ error: { percent: 100, kind: '40001' } });
        c.write(Buffer.concat([parse(side.sql(RUNTIME_ERROR, 'SELECT 1')), bind(), execute(), ...tail]));
        out.push(words(await c.until('E')), `then: ${c.pending()}`);
        // Discarded by the server: a Bind and Execute of the statement before the Sync, a simple query too.
        c.write(Buffer.concat([bind(), execute(), simple('SELECT 5'), sync()]));
        out.push(words(await c.until('Z')));
        await side.disarm();
        c.write(simple('SELECT 2'));
        out.push(words(await c.until('Z')));
        if (block) {
          c.write(simple('ROLLBACK'));
          out.push(words(await c.until('Z')));
        }
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      for (const block of [false, true]) {
        for (const tail of [[], [flush()]]) {
          const what = `${block ? 'in a block' : 'idle'}${tail.length ? ', with a Flush' : ''}`;
          const direct = await scenario(directSide(db.port), block, tail);
          expect(direct, what).toEqual([...(block ? ['C ZT'] : []), '1 2 E', 'then: ', block ? 'ZE' : 'ZI', block ? 'E ZE' : 'T D C ZI', ...(block ? ['C ZI'] : [])]);
          expect(await scenario(proxySide(p), block, tail), what).toEqual(direct);
        }
      }
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // The error waits behind the reply to the request before it, and the server's replies to the
  // Parse and Bind sent in the request's place and its ReadyForQuery to the Sync come in the
  // same read as that reply: the first go before the error, the last right after it.
  it('an error drawn before the Sync, behind a request not yet answered: the ReadyForQuery read with that reply follows the error', async () => {
    const joiner = await startJoiner(db.port);
    const scenario = async (side: Side, name: string, join: () => void) => {
      const c = await messageClient(side.port);
      try {
        await side.arm({ transient: { percent: 100, warmup: 1, agitate: 1, kind: '57014' } });
        join();
        c.write(Buffer.concat([simple('SELECT 1'), parse(side.sql(RUNTIME_ERROR, 'SELECT 1'), name), bind(name), execute()]));
        // The connection's startup, the query, then the request.
        await side.took(3);
        c.write(sync());
        const got = words(await c.until('Z', 2));
        await side.disarm();
        return got;
      } finally {
        c.close();
      }
    };
    try {
      await withProxy(async (p) => {
        for (const name of ['s1', '']) {
          const direct = await scenario(directSide(db.port), name, () => {});
          expect(direct).toBe('T D C ZI 1 2 E ZI');
          // The server's ReadyForQuery messages: to the query, to the Parse and Bind sent in the request's place, to the Sync.
          const before = p.stats().exchanges;
          expect(await scenario({ ...proxySide(p), took: (n) => proxySide(p).took(before + n) }, name, () => joiner.join('Z', 3)), `statement "${name}"`).toBe(direct);
        }
        expect(p.stats().behaviors.transient).toBe(2);
      }, joiner.port);
    } finally {
      joiner.close();
    }
  });

  // The kinds are errors a statement meets as it runs: a real one comes after the statement is
  // parsed, described and bound, which stays prepared. The proxy failed the request at its Parse.
  it('an error on a request that parses and runs a statement comes as it runs: the statement stays prepared', async () => {
    const scenario = async (side: Side, block: boolean) => {
      const c = await messageClient(side.port);
      const { out, send } = replies(c);
      try {
        if (block) await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '57014' } });
        for (const name of ['s1', '']) {
          await send(parse(side.sql(RUNTIME_ERROR, 'SELECT 1'), name), msg('D', Buffer.from(`S${name}\0`)), bind(name), msg('D', Buffer.from('P\0')), execute(), sync());
        }
        await side.disarm();
        if (block) await send(simple('ROLLBACK'));
        // The statements the failing requests parsed are there.
        await send(msg('D', Buffer.from('Ss1\0')), msg('D', Buffer.from('S\0')), sync());
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      for (const block of [false, true]) {
        const direct = await scenario(directSide(db.port), block);
        const failed = `1 t T 2 T E Z${block ? 'E' : 'I'}`;
        // In the block the first failed, the second Parse fails (25P02), which drops the unnamed statement.
        expect(direct, `block ${block}`).toEqual([...(block ? ['C ZT'] : []), failed, block ? 'E ZE' : failed, ...(block ? ['C ZI', 't T E ZI'] : ['t T t T ZI'])]);
        expect(await scenario(proxySide(p), block), `block ${block}`).toEqual(direct);
      }
    });
  });

  // postgres.js runs a statement whose types it knows as Parse, Describe, Bind, Execute, Sync,
  // and the same statement asked for meanwhile as Bind, Execute, Sync pipelined behind: with the
  // statement withheld at its Parse, those got 26000 (prepared statement does not exist), one
  // more error for each injected one.
  it('postgres.js: queries pipelined behind one that draws an error run the statement it prepared', async () => {
    await withProxy(async (p) => {
      await p.setMix({ transient: { percent: 100, warmup: 0, agitate: 1, kind: '40001' } });
      const sql = postgresJs({ host: '127.0.0.1', port: p.port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        const got = await Promise.all([1, 2, 3].map(() => sql`SELECT 42 AS x`.then((r) => r[0].x as number, (e: { code?: string }) => e.code)));
        expect(got).toEqual(['40001', 42, 42]);
        expect(p.stats().behaviors.transient).toBe(1);
      } finally {
        await sql.end();
      }
    });
  });

  // A request that describes its statement before it binds it (Parse, Describe, Flush; Bind,
  // Execute, Sync once the description is in): the error comes as the statement runs, after the
  // description and the BindComplete, and the statement stays prepared. One the server fails at
  // its Parse (a syntax error) has its error at once, the ReadyForQuery when the Sync comes.
  it('an error on a request that runs nothing in its first read comes at its Execute, or at once when the server fails it first', async () => {
    const describeS = (name: string) => msg('D', Buffer.from(`S${name}\0`));
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const out: string[] = [];
      try {
        await side.arm({ error: { percent: 100, kind: '57014' } });
        for (const name of ['s1', '']) {
          c.write(Buffer.concat([parse(side.sql(RUNTIME_ERROR, 'SELECT 1'), name), describeS(name), flush()]));
          out.push(words(await c.until('T')));
          c.write(Buffer.concat([bind(name), execute(), sync()]));
          out.push(words(await c.until('Z')));
        }
        c.write(Buffer.concat([parse('SELEC 1', 's2'), describeS('s2'), flush()]));
        out.push(words(await c.until('E')), `then: ${c.pending()}`);
        c.write(Buffer.concat([bind('s2'), execute(), sync()]));
        out.push(words(await c.until('Z')));
        await side.disarm();
        // The statements the failing requests parsed are there.
        c.write(Buffer.concat([describeS('s1'), describeS(''), sync()]));
        out.push(words(await c.until('Z')));
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['1 t T', '2 E ZI', '1 t T', '2 E ZI', 'E', 'then: ', 'ZI', 't T t T ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(3);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // The same in a block: the error at the Execute, after the description and the BindComplete,
  // and the block aborted on the server, as a real error there leaves it (25P02 after it).
  it('an error on a request that runs nothing in its first read comes at its Execute in a block too, and aborts it', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const { out, send } = replies(c);
      try {
        await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        c.write(Buffer.concat([parse(side.sql(RUNTIME_ERROR, 'SELECT 1'), 's1'), msg('D', Buffer.from('Ss1\0')), flush()]));
        out.push(words(await c.until('T')));
        await send(bind('s1'), execute(), sync());
        await side.disarm();
        await send(simple('SELECT 2'));
        await send(simple('ROLLBACK'));
        // The statement the failing request parsed is there.
        await send(msg('D', Buffer.from('Ss1\0')), sync());
        // One the server fails at its Parse: the error at once.
        await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        c.write(Buffer.concat([parse('SELEC 1', 's2'), msg('D', Buffer.from('Ss2\0')), flush()]));
        out.push(words(await c.until('E')));
        await send(bind('s2'), execute(), sync());
        await side.disarm();
        await send(simple('ROLLBACK'));
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['C ZT', '1 t T', '2 E ZE', 'E ZE', 'C ZI', 't T ZI', 'C ZT', 'E', 'ZE', 'C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(2);
    });
  });

  // libpq's pipeline mode, psycopg 3 and JDBC send Describe, Bind and Flush at their own times, in
  // reads between the first and the Execute: the server answers them at each Flush, and fails the
  // Execute at once (an error is sent as it happens, Flush or not). The proxy answered none of them
  // (the client waited for ever for its portal's description) and sent the error only with the
  // ReadyForQuery, once the Sync came.
  it('an error on a request that runs nothing in its first read: what comes before its Execute is answered, the error comes at the Execute', async () => {
    const describeS = (name: string) => msg('D', Buffer.from(`S${name}\0`));
    const describeP = msg('D', Buffer.from('P\0'));
    const scenario = async (side: Side, block: boolean) => {
      const c = await messageClient(side.port);
      const { out, read } = replies(c);
      try {
        if (block) await read('Z', simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '57014' } });
        await read('T', parse(side.sql(RUNTIME_ERROR, 'SELECT 1'), 's1'), describeS('s1'), flush());
        await read('T', bind('s1'), describeP, flush());
        await read('T', describeS('s1'), flush());
        await read('2', bind('s1'), flush());
        c.write(describeP);
        await read('T', flush());
        // The error at the Execute, before the Sync; what follows goes nowhere, as the server ignores it.
        await read('E', execute());
        c.write(Buffer.concat([bind('s1'), describeP, flush()]));
        await read('Z', sync());
        await side.disarm();
        if (block) await read('Z', simple('SELECT 2'));
        if (block) await read('Z', simple('ROLLBACK'));
        // The statement stays prepared.
        await read('Z', describeS('s1'), sync());
        if (!block) {
          // A Bind the server refuses in a later read: the error in its place, and nothing more.
          await side.arm({ error: { percent: 100, kind: '57014' } });
          await read('T', parse('SELECT $1::int', 's2'), describeS('s2'), flush());
          await read('E', bind('s2'), describeP, flush());
          await read('Z', execute(), sync());
          await side.disarm();
        }
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      for (const block of [false, true]) {
        const direct = await scenario(directSide(db.port), block);
        expect(direct, `block ${block}`).toEqual(block
          ? ['C ZT', '1 t T', '2 T', 't T', '2', 'T', 'E', 'ZE', 'E ZE', 'C ZI', 't T ZI']
          : ['1 t T', '2 T', 't T', '2', 'T', 'E', 'ZI', 't T ZI', '1 t T', 'E', 'ZI']);
        expect(await scenario(proxySide(p), block), `block ${block}`).toEqual(direct);
      }
      expect(p.stats().behaviors.error).toBe(3);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // A COMMIT described first, its Execute in a later read: a real one that fails (here on a
  // deferred unique constraint) rolls the block back, and its ReadyForQuery says idle. The proxy
  // aborted the block instead: 'E', and the client's next statement got 25P02.
  it('an error on a COMMIT whose Execute comes in a later read ends the block, as a failing COMMIT does', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE later_commit (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)'));
        for (const name of ['c1', '']) {
          await read('Z', simple(`BEGIN; INSERT INTO later_commit VALUES (1), (${side.sql('1', '2')})`));
          await side.arm({ error: { percent: 100, kind: '40001' } });
          await read('n', parse('COMMIT', name), msg('D', Buffer.from(`S${name}\0`)), flush());
          await read('n', bind(name), msg('D', Buffer.from('P\0')), flush());
          await read('Z', execute(), sync());
          await side.disarm();
          // Outside a block, nothing of it kept: no row.
          await read('Z', simple('SELECT count(*) FROM later_commit HAVING count(*) > 0'));
        }
        await read('Z', simple('DROP TABLE later_commit'));
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      const round = ['C C ZT', '1 t n', '2 n', 'E ZI', 'T C ZI'];
      expect(direct).toEqual(['C ZI', ...round, ...round, 'C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(2);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // The same COMMIT with its Sync sent once the Execute is answered (pg.Connection syncing once it
  // has the error, a pipeline that syncs late): a real one sends its error as it fails, Flush or
  // not, and the ReadyForQuery ('I') only when the Sync comes. The proxy sent both only once the
  // Sync had come: a client waiting for the Execute's answer waited for ever.
  it('an error on a COMMIT whose Execute comes in a later read comes at the Execute, its ReadyForQuery at the Sync', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE commit_at_execute (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)'));
        for (const name of ['c1', '']) {
          await read('Z', simple(`BEGIN; INSERT INTO commit_at_execute VALUES (1), (${side.sql('1', '2')})`));
          await side.arm({ error: { percent: 100, kind: '40001' } });
          await read('n', parse('COMMIT', name), msg('D', Buffer.from(`S${name}\0`)), flush());
          await read('n', bind(name), msg('D', Buffer.from('P\0')), flush());
          await read('E', execute());
          // Nothing more until the Sync.
          await new Promise((r) => setTimeout(r, 100));
          out.push(c.pending());
          await read('Z', sync());
          await side.disarm();
          await read('Z', simple('SELECT count(*) FROM commit_at_execute HAVING count(*) > 0'));
        }
        await read('Z', simple('DROP TABLE commit_at_execute'));
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      const round = ['C C ZT', '1 t n', '2 n', 'E', '', 'ZI', 'T C ZI'];
      expect(direct).toEqual(['C ZI', ...round, ...round, 'C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(2);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // A first read cut amid its Describe: the rest of it would go nowhere, unanswered, and a client
  // waiting for the description after its Flush would wait for ever. Its error comes at once.
  it('an error on a request whose first read ends amid a Describe comes at once', async () => {
    await withProxy(async (p) => {
      const c = await messageClient(p.port);
      try {
        await p.setMix({ error: { percent: 100, kind: '57014' } });
        const describe = msg('D', Buffer.from('Ss1\0'));
        c.write(Buffer.concat([parse('SELECT 1', 's1'), describe.subarray(0, 6)]));
        // The connection's startup is the first exchange, the request the second.
        await proxySide(p).took(2);
        c.write(Buffer.concat([describe.subarray(6), flush()]));
        expect(words(await c.until('E'))).toBe('E');
        c.write(Buffer.concat([bind('s1'), execute(), sync()]));
        expect(words(await c.until('Z'))).toBe('ZI');
      } finally {
        c.close();
      }
    });
  });

  // postgres.js runs a statement whose parameter types it must learn as Parse, Describe, Flush,
  // then Bind, Execute, Sync once the description is in. A real error as the statement runs (here
  // a real statement_timeout) comes at that Execute, after the description and the BindComplete;
  // the proxy failed the request at its Parse, before the description.
  it('postgres.js: an error on a statement it describes first comes at its Execute, as a real statement_timeout does', async () => {
    const scenario = async (side: Side, timeout: boolean) => {
      const seen: string[] = [];
      const relay = await startRelay(side.port, (down, up) => {
        down.on('data', recorder(seen, '>', (d) => up.write(d)));
        up.on('data', recorder(seen, '<', (d) => down.write(d)));
      });
      const sql = postgresJs({ host: '127.0.0.1', port: relay.port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => {}, connect_timeout: 5,
        connection: timeout ? { statement_timeout: 200 } : {} });
      const run = (n: number) => sql`SELECT pg_sleep(${n}) IS NULL AS x`.then((r) => String(r[0].x), (e: { code?: string }) => e.code);
      try {
        await sql`SELECT 1`;
        await side.arm({ error: { percent: 100, kind: '57014' } });
        seen.length = 0;
        const out = [await run(side.sql('5', '0') as unknown as number)];
        // Prepared, and known: Bind, Execute, Sync.
        out.push(await run(side.sql('5', '0') as unknown as number));
        await side.disarm();
        out.push(await run(0));
        return { out, seen: [...seen] };
      } finally {
        await sql.end();
        relay.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port), true);
      expect(direct.out).toEqual(['57014', '57014', 'false']);
      expect(direct.seen).toEqual(['> P D H', '< 1 t T', '> B E S', '< 2 E Z', '> B E S', '< 2 E Z', '> B E S', '< 2 D C Z']);
      const proxied = await scenario(proxySide(p), false);
      expect(proxied.seen).toEqual(direct.seen);
      expect(proxied.out).toEqual(direct.out);
      expect(p.stats().behaviors.error).toBe(2);
    });
  });

  // A request that begins with a Close (postgres.js preparing again a statement it found stale,
  // JDBC and Npgsql closing statements evicted from their caches): the server runs the Close
  // before the message that fails, in any state, and keeps it closed when the block is rolled
  // back. Withheld whole, the statement stayed prepared and the next Parse of its name got 42P05.
  it('an error on a request that begins with a Close leaves the statement closed, as a real error after it does', async () => {
    const scenario = async (side: Side, block: boolean) => {
      const c = await messageClient(side.port);
      const { out, send } = replies(c);
      try {
        await send(parse('SELECT 10 / ($1::int + floor(random())::int)', 'div'), parse('SELECT 1', 'one'), parse('SELECT 2', 'two'), sync());
        if (block) await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        // Fails as it runs, after its BindComplete (random() is not folded into a constant as
        // the plan is made, at the Bind), then after its Parse and Bind, the statement prepared
        // again (25P02 at its Parse in the block the first failed, the statement left closed).
        await send(close('two'), close('none'), bind('div', [side.sql('0', '1')]), execute(), sync());
        await send(close('one'), parse(side.sql(RUNTIME_ERROR, 'SELECT 1'), 'one'), bind('one'), execute(), sync());
        await side.disarm();
        if (block) await send(simple('ROLLBACK'));
        await send(close('one'), parse('SELECT 11', 'one'), parse('SELECT 12', 'two'), bind('one'), execute(), bind('two'), execute(), sync());
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      for (const block of [false, true]) {
        const direct = await scenario(directSide(db.port), block);
        expect(direct, `block ${block}`).toEqual(['1 1 1 ZI', ...(block ? ['C ZT'] : []), `3 3 2 E Z${block ? 'E' : 'I'}`, block ? '3 E ZE' : '3 1 2 E ZI',
          ...(block ? ['C ZI'] : []), '3 1 1 2 D C 2 D C ZI']);
        expect(await scenario(proxySide(p), block), `block ${block}`).toEqual(direct);
      }
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // In a failed block the server refuses a Bind at once (25P02), before its statement could run:
  // a statement prepared earlier, run as Bind, Execute, Sync, gets no BindComplete there (a Close
  // before it still runs). The proxy sent the BindComplete of a statement failing as it runs.
  it('an error on a Bind-first request in a failed block comes at the Bind, as 25P02 does', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const { out, send } = replies(c);
      try {
        await send(parse('SELECT 7', 's'), parse('SELECT 8', 'gone'), sync());
        await send(simple('BEGIN'));
        await send(simple('SELECT 1 / 0'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        await send(bind('s'), execute(), sync());
        await send(close('gone'), bind('s'), execute(), sync());
        await side.disarm();
        await send(simple('ROLLBACK'));
        await send(bind('s'), execute(), parse('SELECT 9', 'gone'), sync());
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['1 1 ZI', 'C ZT', 'E ZE', 'E ZE', '3 E ZE', 'C ZI', '2 D C 1 ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(2);
    });
  });

  // A request that begins with a Bind of a statement prepared before (or with Closes, then that
  // Bind) and describes its portal before its Execute: a real statement failing as it runs has
  // the server's BindComplete and RowDescription before its error, a Flush or a Sync behind it.
  // The proxy made up the completions and left the Describe unanswered: 2 E where 2 T E came.
  it('an error on a Bind-first request that describes its portal comes after the description', async () => {
    const describeP = () => msg('D', Buffer.from('P\0'));
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const { out, read, send } = replies(c);
      try {
        await send(parse('SELECT 10 / ($1::int + floor(random())::int)', 'div'), parse('SELECT 2', 'two'), sync());
        await side.arm({ error: { percent: 100, kind: '40001' } });
        const div = () => [bind('div', [side.sql('0', '1')]), describeP(), execute()];
        await send(...div(), sync());
        await read('E', ...div(), flush());
        await send(sync());
        await send(close('two'), ...div(), sync());
        await side.disarm();
        await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        await send(...div(), sync());
        await side.disarm();
        await send(simple('ROLLBACK'));
        await send(bind('div', ['1']), execute(), sync());
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['1 1 ZI', '2 T E ZI', '2 T E', 'ZI', '3 2 T E ZI', 'C ZT', '2 T E ZE', 'C ZI', '2 D C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(4);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // A COMMIT prepared by name in an earlier request (JDBC's, after prepareThreshold uses), bound
  // and described in one read, run in a later one: a real one that fails ends the block, its
  // ReadyForQuery idle. The proxy read the Bind as a Parse, missed the COMMIT and aborted the
  // block instead: 'E', and the client's next statement got 25P02.
  it('an error on a COMMIT bound by name, its Execute in a later read, ends the block', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE bound_commit (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)'));
        await read('Z', parse('COMMIT', 'c1'), sync());
        await read('Z', simple(`BEGIN; INSERT INTO bound_commit VALUES (1), (${side.sql('1', '2')})`));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        await read('n', bind('c1'), msg('D', Buffer.from('P\0')), flush());
        await read('Z', execute(), sync());
        await side.disarm();
        // Rolled back: no row.
        await read('Z', simple('SELECT count(*) FROM bound_commit HAVING count(*) > 0'));
        await read('Z', simple('DROP TABLE bound_commit'));
        return out;
      } finally {
        c.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['C ZI', '1 ZI', 'C C ZT', '2 n', 'E ZI', 'T C ZI', 'C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(1);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // JDBC runs its COMMIT by name once it has prepared it (Bind, Execute, Sync of a statement
  // parsed before), and binds unnamed statements it prepared in earlier requests. A real COMMIT
  // that fails (here a deferred unique constraint) ends the transaction and leaves the unnamed
  // statement, and every named one, as they were; a simple Query ROLLBACK in its place dropped
  // the unnamed statement, and its next Bind got 26000.
  it('an error on a COMMIT run by name ends the transaction and leaves the statements as a failing COMMIT does', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE defer_t (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)');
    const scenario = async (side: Side) => {
      await direct.query('TRUNCATE defer_t');
      const c = await messageClient(side.port);
      const { out, send } = replies(c);
      const insert = side.sql('INSERT INTO defer_t VALUES (1), (1)', 'INSERT INTO defer_t VALUES (1)');
      try {
        await send(parse('SELECT $1::int + 1'), parse('COMMIT', 'S_1'), parse('BEGIN', 'S_2'), parse(insert, 'S_3'), sync());
        for (const round of [1, 2]) {
          await send(bind('S_2'), execute(), bind('S_3'), execute(), sync());
          await side.arm({ error: { percent: 100, kind: '40001' } });
          await send(bind('S_1'), ...(round === 2 ? [msg('D', Buffer.from('P\0'))] : []), execute(), sync());
          await side.disarm();
          out.push(JSON.stringify((await direct.query('SELECT count(*)::int AS n FROM defer_t')).rows));
          await send(bind('', [String(round)]), execute(), sync());
        }
        return out;
      } finally {
        c.close();
      }
    };
    try {
      await withProxy(async (p) => {
        const real = await scenario(directSide(db.port));
        expect(real).toEqual(['1 1 1 1 ZI', '2 C 2 C ZT', '2 E ZI', '[{"n":0}]', '2 D C ZI', '2 C 2 C ZT', '2 n E ZI', '[{"n":0}]', '2 D C ZI']);
        expect(await scenario(proxySide(p))).toEqual(real);
        expect(p.stats().behaviors.error).toBe(2);
      });
    } finally {
      await direct.end();
    }
  });

  // pg reads a query with a row limit in pages (Parse, Bind, Describe, Execute of 2 rows, Flush;
  // another Execute and Flush at each PortalSuspended; Sync once the portal is done). A real
  // server that fails it, on its first page or amid the portal, sends the error alone and waits
  // for a Sync; pg reports the error and sends none, so its next query waits until something
  // syncs (pg-cursor does, after an error; plain pg until its query_timeout). The proxy's error
  // comes on the first page, alone too: no ReadyForQuery before the Sync, and one after it.
  it("pg's paged query: the error alone and no ReadyForQuery until a Sync, as from a real server failing it on a page", async () => {
    const scenario = async (side: Side, text: string) => {
      const client = await connect(side.port);
      const con = (client as unknown as { connection: PgProtocol }).connection;
      const names: string[] = [];
      try {
        await side.arm({ error: { percent: 100, kind: '57014' } });
        con.on('message', (m: { name: string }) => names.push(m.name));
        const paged = { text, rows: 2 } as unknown as pg.QueryConfig;
        names.push(await client.query(paged).then(() => 'rows', () => 'rejected'));
        await side.disarm();
        // Queued behind the failed query until a ReadyForQuery comes.
        const next = client.query('SELECT 3 AS x');
        names.push('Sync');
        con.sync();
        names.push(String((await next).rows[0].x));
        return names;
      } finally {
        await client.end();
      }
    };
    const rest = ['error', 'rejected', 'Sync', 'readyForQuery', 'rowDescription', 'dataRow', 'commandComplete', 'readyForQuery', '3'];
    // Directly: a division by zero on the third row, amid the portal, and on the first.
    const amid = await scenario(directSide(db.port), 'SELECT 10 / (3 - g) AS x FROM generate_series(1, 5) g');
    expect(amid).toEqual(['parseComplete', 'bindComplete', 'rowDescription', 'dataRow', 'dataRow', 'portalSuspended', ...rest]);
    const first = await scenario(directSide(db.port), RUNTIME_ERROR);
    expect(first).toEqual(['parseComplete', 'bindComplete', 'rowDescription', ...rest]);
    await withProxy(async (p) => {
      expect(await scenario(proxySide(p), 'SELECT g AS x FROM generate_series(1, 5) g')).toEqual(first);
      expect(p.stats().behaviors.error).toBe(1);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // pg's protocol layer driven as a client that syncs once it has seen the error (postgres.js
  // does after a Parse, Describe, Flush that fails; libpq's pipeline mode): the ReadyForQuery
  // comes after its Sync, and the connection goes on.
  it('pg.Connection sending its Sync once it has the error gets the ReadyForQuery after it', async () => {
    const scenario = async (side: Side) => {
      const con = new pg.Connection() as unknown as PgProtocol;
      const seen: string[] = [];
      let readyNext: (() => void) | undefined;
      con.on('message', (m: { name: string; fields?: string[]; status?: string }) => {
        if (m.name === 'error') {
          seen.push('error');
          // In a later write, as a client reading its replies in turn.
          setTimeout(() => { seen.push('Sync'); con.sync(); }, 0);
        } else if (m.name === 'dataRow') seen.push(m.fields!.join(','));
        else if (m.name === 'readyForQuery') {
          seen.push(`Z${m.status}`);
          readyNext?.();
        }
      });
      con.on('error', () => {});
      const ready = () => new Promise<void>((r) => { readyNext = r; });
      let started = ready();
      con.once('connect', () => con.startup({ user: 'postgres', database: 'postgres' }));
      con.connect(side.port, '127.0.0.1');
      await started;
      seen.length = 0;
      try {
        await side.arm({ error: { percent: 100, kind: '40001' } });
        started = ready();
        con.parse({ name: '', text: side.sql(RUNTIME_ERROR, 'SELECT 1'), types: [] });
        con.bind({ portal: '', statement: '', values: [] });
        con.execute({ portal: '', rows: 0 });
        con.flush();
        await started;
        await side.disarm();
        started = ready();
        con.parse({ name: '', text: 'SELECT 3', types: [] });
        con.bind({ portal: '', statement: '', values: [] });
        con.execute({ portal: '', rows: 0 });
        con.sync();
        await started;
        return seen;
      } finally {
        con.end();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual(['error', 'Sync', 'ZI', '3', 'ZI']);
    await withProxy(async (p) => {
      expect(await scenario(proxySide(p))).toEqual(direct);
    });
  });

  // A request that runs nothing (Parse, Describe, Sync: postgres.js's describe(), libpq's
  // PQprepare) meets a statement timeout or a deadlock when its Parse waits for a lock, but no
  // serialization failure nor read-only refusal, which come as a statement runs: a real server
  // describes it and fails its Execute. The proxy failed its Parse with any kind.
  it('a request that runs nothing meets only the kinds a real server can give it', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, read } = replies(c);
      const describeS = (name: string) => msg('D', Buffer.from(`S${name}\0`));
      try {
        await read('Z', simple('CREATE TABLE runs_nothing (x int); INSERT INTO runs_nothing VALUES (1)'));
        // Read-only: directly a READ ONLY block, through the proxy 25006.
        await read('Z', simple(side.sql('BEGIN READ ONLY', 'BEGIN')));
        await side.arm({ error: { percent: 100, kind: '25006' } });
        await read('Z', parse('INSERT INTO runs_nothing VALUES (2)', 'w'), describeS('w'), sync());
        await read('Z', bind('w'), execute(), sync());
        await side.disarm();
        await read('Z', simple('ROLLBACK'));
        // A serialization failure: directly a row updated by another since the snapshot was taken.
        await read('Z', simple('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT x FROM runs_nothing'));
        other.write(simple('UPDATE runs_nothing SET x = 3'));
        await other.until('Z');
        await side.arm({ error: { percent: 100, kind: '40001' } });
        await read('Z', parse('UPDATE runs_nothing SET x = 4', 'u'), describeS('u'), sync());
        await read('Z', bind('u'), execute(), sync());
        await side.disarm();
        await read('Z', simple('ROLLBACK'));
        // A statement timeout: directly a Parse waiting for a lock another holds.
        other.write(simple('BEGIN; LOCK TABLE runs_nothing'));
        await other.until('Z');
        await read('Z', simple('SET statement_timeout = 300'));
        await side.arm({ error: { percent: 100, kind: '57014' } });
        await read('Z', parse('SELECT x FROM runs_nothing', 'r'), describeS('r'), sync());
        await side.disarm();
        other.write(simple('ROLLBACK'));
        await other.until('Z');
        await read('Z', simple('RESET statement_timeout; DROP TABLE runs_nothing'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['C C ZI', 'C ZT', '1 t n ZT', '2 E ZE', 'C ZI', 'C T D C ZT', '1 t n ZT', '2 E ZE', 'C ZI', 'C ZI', 'E ZI', 'C C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      // The requests that run nothing at 25006 and 40001 passed, counted as nothing drawn.
      expect(p.stats().behaviors.error).toBe(3);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // The same requests with their messages over several reads (Parse, Describe, Flush, then the
  // Sync, or a Bind, Describe, Flush first: a client that prepares with separate writes,
  // libpq's pipeline mode, psycopg 3, JDBC). A real server serves them at a read-only refusal or
  // a serialization failure as in one read, a COMMIT described but never run leaving its block
  // open; a statement timeout, which counts from the first message to the Sync, fails them at
  // the Sync when it fires in between (an aborted block then, not one ended). The proxy failed
  // them at the Sync with any kind drawn as their first read came, and rolled the block back
  // for a COMMIT.
  it('a request that runs nothing over several reads meets only the kinds a real server can give it', async () => {
    const describeS = (name: string) => msg('D', Buffer.from(`S${name}\0`));
    const describeP = msg('D', Buffer.from('P\0'));
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE runs_nothing_later (x int); INSERT INTO runs_nothing_later VALUES (1)'));
        // Read-only: directly a READ ONLY block, through the proxy 25006.
        await read('Z', simple(side.sql('BEGIN READ ONLY', 'BEGIN')));
        await side.arm({ error: { percent: 100, kind: '25006' } });
        await read('n', parse('INSERT INTO runs_nothing_later VALUES (2)', 'w'), describeS('w'), flush());
        await read('Z', sync());
        await read('n', parse('INSERT INTO runs_nothing_later VALUES (3)', ''), describeS(''), flush());
        await read('n', bind(''), describeP, flush());
        await read('Z', sync());
        await read('n', parse('COMMIT', 'c'), describeS('c'), flush());
        await read('Z', sync());
        // Run, it is refused.
        await read('Z', bind('w'), execute(), sync());
        await side.disarm();
        await read('Z', simple('ROLLBACK'));
        // A serialization failure: directly a row updated by another since the snapshot was taken.
        await read('Z', simple('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT x FROM runs_nothing_later'));
        other.write(simple('UPDATE runs_nothing_later SET x = 3'));
        await other.until('Z');
        await side.arm({ error: { percent: 100, kind: '40001' } });
        await read('n', parse('UPDATE runs_nothing_later SET x = 4', 'u'), describeS('u'), flush());
        await read('Z', sync());
        await read('Z', bind('u'), execute(), sync());
        await side.disarm();
        await read('Z', simple('ROLLBACK'));
        // A statement timeout: directly one that fires while the server waits for the Sync.
        await read('Z', simple(side.sql('SET statement_timeout = 200', 'SET statement_timeout = 0')));
        for (const block of [false, true]) {
          if (block) await read('Z', simple('BEGIN'));
          await side.arm({ error: { percent: 100, kind: '57014' } });
          const name = block ? 'rc' : 'r';
          await read(block ? 'n' : 'T', parse(block ? 'COMMIT' : 'SELECT 1', name), describeS(name), flush());
          await new Promise((r) => setTimeout(r, 400));
          await read('Z', sync());
          await side.disarm();
          if (block) await read('Z', simple('ROLLBACK'));
        }
        await read('Z', simple('RESET statement_timeout; DROP TABLE runs_nothing_later'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual([
        'C C ZI', 'C ZT', '1 t n', 'ZT', '1 t n', '2 n', 'ZT', '1 t n', 'ZT', '2 E ZE', 'C ZI',
        'C T D C ZT', '1 t n', 'ZT', '2 E ZE', 'C ZI',
        'C ZI', '1 t T', 'E ZI', 'C ZT', '1 t n', 'E ZE', 'C ZI', 'C C ZI',
      ]);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // A deadlock meets a request that runs nothing as its Parse waits for a lock (in one read, as
  // above), never at the Sync of one whose Parse was answered in an earlier read: the locks it
  // took are held up to that Sync (another session's LOCK TABLE times out meanwhile), so nothing
  // after it waits. The proxy failed it at the Sync.
  it('a request that runs nothing over several reads meets no deadlock at its Sync', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE runs_nothing_locks (x int)'));
        for (const block of [false, true]) {
          if (block) await read('Z', simple('BEGIN'));
          await side.arm({ error: { percent: 100, kind: '40P01' } });
          const name = block ? 'l2' : 'l1';
          await read('T', parse('SELECT x FROM runs_nothing_locks', name), msg('D', Buffer.from(`S${name}\0`)), flush());
          other.write(simple('SET lock_timeout = 100; LOCK TABLE runs_nothing_locks'));
          out.push(words(await other.until('Z')));
          await read('Z', sync());
          await side.disarm();
          if (block) await read('Z', simple('ROLLBACK'));
        }
        await read('Z', simple('DROP TABLE runs_nothing_locks'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    await withProxy(async (p) => {
      const direct = await scenario(directSide(db.port));
      expect(direct).toEqual(['C ZI', '1 t T', 'C E ZI', 'ZI', 'C ZT', '1 t T', 'C E ZI', 'ZT', 'C ZI', 'C ZI']);
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().fallbacks).toBe(0);
    });
  });
});

/** pg.Connection as pg 8 has it (@types/pg lacks connect and startup). */
interface PgProtocol extends NodeJS.EventEmitter {
  connect(port: number, host: string): void;
  startup(config: { user: string; database: string }): void;
  parse(query: { name: string; text: string; types: number[] }): void;
  bind(config: { portal: string; statement: string; values: string[] }): void;
  execute(config: { portal: string; rows: number }): void;
  flush(): void;
  sync(): void;
  end(): void;
}
