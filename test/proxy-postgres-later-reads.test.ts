/**
 * PostgreSQL: where an error held for a request whose first read runs nothing (Parse, Describe,
 * Flush, the rest in later reads) comes, beside where a real one comes on a real PostgreSQL 15: a
 * statement timeout at the first message of the read that holds the Sync, a deadlock at a later
 * message that waits for a lock; and, the server closing first, nothing but what it sent.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy/proxy.js';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { bind, close, execute, flush, messageClient, msg, parse, simple, startRelay, sync, word } from './helpers/postgres-wire.js';
import { directSide, proxySide, replies, type Side, words } from './helpers/postgres-sides.js';

let db: RunningServer;

const withProxy = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });

const describeS = (name: string) => msg('D', Buffer.from(`S${name}\0`));
const describeP = () => msg('D', Buffer.from('P\0'));
const EXECUTE = execute();
const SYNC = 0x53; // 'S'
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Once a session waits for a lock, as `c` (another session) sees in pg_locks. */
async function lockWaited(c: Awaited<ReturnType<typeof messageClient>>): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    c.write(simple('SELECT count(*) FROM pg_locks WHERE NOT granted'));
    const row = (await c.until('Z')).find((m) => m.type === 'D')!;
    if (row.body.toString('latin1', 6) !== '0') return;
    if (Date.now() > deadline) throw new Error('no session waits for a lock');
    await pause(10);
  }
}

describe.skipIf(!havePostgres())('postgres: an error held for a later read comes where a real one does (real PostgreSQL)', () => {
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(async () => {
    await db?.stop();
  });

  // A real statement timeout that fires while the server waits for the rest of a request is
  // raised as it reads the next message: the first of that read fails, the rest are discarded
  // up to the Sync. The proxy sent a request that runs nothing the messages of the Sync's read
  // before it, the server answering them (BindComplete, a RowDescription), then the error.
  it('a statement timeout on a request that runs nothing over several reads comes at the first message of the read with its Sync', async () => {
    // Directly, the client waits `late` ms before the read with the Sync: the timer (400 ms) fires then.
    const scenario = async (side: Side, late: number) => {
      const c = await messageClient(side.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('SET statement_timeout = 400'));
        const request = async (...reads: [string, Buffer[]][]) => {
          await side.arm({ error: { percent: 100, kind: '57014' } });
          for (let i = 0; i < reads.length; i++) {
            if (i === reads.length - 1 && !reads[i][1].includes(EXECUTE)) await pause(late);
            await read(reads[i][0], ...reads[i][1]);
          }
          await side.disarm();
        };
        await request(['T', [parse('SELECT 1', 'a'), describeS('a'), flush()]], ['Z', [bind('a'), describeP(), flush(), sync()]]);
        await request(['T', [parse('SELECT 1', 'b'), describeS('b'), flush()]], ['T', [bind('b'), describeP(), flush()]], ['Z', [describeP(), flush(), sync()]]);
        await request(['T', [parse('SELECT 1', 'c'), describeS('c'), flush()]], ['T', [bind('c'), describeP(), flush()]], ['Z', [sync()]]);
        await read('Z', simple('BEGIN'));
        await request(['T', [parse('SELECT 1', 'd'), describeS('d'), flush()]], ['Z', [bind('d'), describeP(), flush(), sync()]]);
        await read('Z', simple('ROLLBACK'));
        // Beginning with a Bind of a statement prepared before.
        await read('Z', parse('SELECT 1', 'f'), sync());
        await request(['T', [bind('f'), describeP(), flush()]], ['Z', [sync()]]);
        // Its Execute in that read, sent at once: as a statement runs past the timeout, after its BindComplete.
        await request(['T', [parse(side.sql('SELECT pg_sleep(1)', 'SELECT 1'), 'e'), describeS('e'), flush()]], ['Z', [bind('e'), EXECUTE, sync()]]);
        return out;
      } finally {
        c.close();
      }
    };
    const direct = await scenario(directSide(db.port), 600);
    expect(direct).toEqual([
      'C ZI',
      '1 t T', 'E ZI',
      '1 t T', '2 T', 'E ZI',
      '1 t T', '2 T', 'E ZI',
      'C ZT', '1 t T', 'E ZE', 'C ZI',
      '1 ZI', '2 T', 'E ZI',
      '1 t T', '2 E ZI',
    ]);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p), 0)).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(6);
    });
  });

  // A Bind of a statement prepared in an earlier request, or a Parse, in a later read takes the
  // locks of its tables, and a deadlock fails it at once; the request was served at its Sync. In
  // the first read, behind its Parse, the same: the server sends the Parse's answers with the error.
  // So behind Closes or a Bind first (the proxy held the error for a later read, and served the
  // request), and in a request whole in one read, its Execute in it or not (the proxy failed it at
  // its Parse, E alone, or at its Execute, after the Bind's answers). A Describe of another
  // statement in a later read waits after its ParameterDescription (the proxy served it).
  // A Bind of the statement the first read parsed waits for nothing: served.
  it('a deadlock on a request that runs nothing over several reads comes at a later message that waits for a lock', async () => {
    const scenario = async (side: Side, p?: Proxy) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, read } = replies(c);
      try {
        // This session finds the deadlock (after 500 ms of waiting), the other never does first.
        await read('Z', simple('CREATE TABLE lw1 (x int); CREATE TABLE lw2 (x int); SET deadlock_timeout = 500'));
        await read('Z', parse('SELECT x FROM lw2', 'on_lw2'), parse('SELECT x FROM lw1', 'on_lw1'), parse('SELECT 1', 'gone'), sync());
        other.write(simple("SET deadlock_timeout = '10s'"));
        await other.until('Z');
        const first = (name: string) => [parse('SELECT x FROM lw1', name), describeS(name)];
        // The reads of each request, the last one holding the message that waits.
        const requests = [
          [[...first('s0'), flush()], [bind('on_lw2'), describeP(), flush()]],
          [[...first('s1'), flush()], [parse('SELECT x FROM lw2', 'p2'), flush()]],
          [[...first('s2'), bind('on_lw2'), describeP(), flush()]],
          [[close('gone'), ...first('s3'), bind('on_lw2'), describeP(), flush()]],
          [[bind('on_lw1'), describeP(), parse('SELECT x FROM lw2', 'p4'), describeS('p4'), flush()]],
          [[...first('s5'), bind('on_lw2'), describeP(), sync()]],
          [[...first('s6'), bind('on_lw2'), describeP(), EXECUTE, sync()]],
          [[...first('s7'), flush()], [describeS('on_lw2'), flush()]],
          [[...first('s8'), flush()], [bind('s8'), describeP(), describeS('on_lw2'), flush()]],
        ];
        for (const reads of requests) {
          if (p === undefined) {
            other.write(simple('BEGIN; LOCK TABLE lw2'));
            await other.until('Z');
          }
          await side.arm({ error: { percent: 100, kind: '40P01' } });
          for (const ms of reads.slice(0, -1)) await read('T', ...ms);
          c.write(Buffer.concat(reads.at(-1)!));
          // Directly: once the Bind waits for lw2, the other session waits for lw1, which the Parse locked.
          if (p === undefined) {
            await lockWaited(other);
            other.write(simple('LOCK TABLE lw1'));
          }
          out.push(words(await c.until('E')));
          await read('Z', ...(reads.at(-1)!.at(-1)![0] === SYNC ? [] : [sync()]));
          await side.disarm();
          if (p === undefined) {
            await other.until('Z');
            other.write(simple('ROLLBACK'));
            await other.until('Z');
          }
        }
        await side.arm({ error: { percent: 100, kind: '40P01' } });
        await read('T', parse('SELECT x FROM lw1', 'same'), describeS('same'), flush());
        await read('T', bind('same'), describeP(), flush());
        await read('Z', sync());
        await side.disarm();
        await read('Z', simple('DROP TABLE lw1, lw2'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual([
      'C C C ZI', '1 1 1 ZI', '1 t T', 'E', 'ZI', '1 t T', 'E', 'ZI', '1 t T E', 'ZI',
      '3 1 t T E', 'ZI', '2 T E', 'ZI', '1 t T E', 'ZI', '1 t T E', 'ZI',
      '1 t T', 't E', 'ZI', '1 t T', '2 T t E', 'ZI',
      '1 t T', '2 T', 'ZI', 'C ZI',
    ]);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p), p)).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(9);
    });
  });

  // The same in a transaction block: the deadlock aborts it, the client's Sync gets 'E', and the
  // server refuses the next statement (25P02), through the proxy as directly: what went to the
  // server failed there, behind the answers the client got.
  it('a deadlock in a transaction block, in one read or over several, aborts the block where it comes', async () => {
    const scenario = async (side: Side, p?: Proxy) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE lb1 (x int); CREATE TABLE lb2 (x int); SET deadlock_timeout = 500'));
        await read('Z', parse('SELECT x FROM lb2', 'on_lb2'), parse('SELECT x FROM lb1', 'on_lb1'), parse('SELECT 1', 'gone'), sync());
        other.write(simple("SET deadlock_timeout = '10s'"));
        await other.until('Z');
        const first = (name: string) => [parse('SELECT x FROM lb1', name), describeS(name)];
        const requests = [
          [[...first('s1'), bind('on_lb2'), describeP(), sync()]],
          [[close('gone'), ...first('s2'), bind('on_lb2'), describeP(), flush()]],
          [[bind('on_lb1'), describeP(), parse('SELECT x FROM lb2', 'p3'), describeS('p3'), flush()]],
          [[...first('s4'), flush()], [describeS('on_lb2'), flush()]],
        ];
        for (const reads of requests) {
          if (p === undefined) {
            other.write(simple('BEGIN; LOCK TABLE lb2'));
            await other.until('Z');
          }
          await read('Z', simple('BEGIN'));
          await side.arm({ error: { percent: 100, kind: '40P01' } });
          for (const ms of reads.slice(0, -1)) await read('T', ...ms);
          c.write(Buffer.concat(reads.at(-1)!));
          if (p === undefined) {
            await lockWaited(other);
            other.write(simple('LOCK TABLE lb1'));
          }
          out.push(words(await c.until('E')));
          await read('Z', ...(reads.at(-1)!.at(-1)![0] === SYNC ? [] : [sync()]));
          await side.disarm();
          await read('Z', simple('SELECT 1'));
          await read('Z', simple('ROLLBACK'));
          if (p === undefined) {
            await other.until('Z');
            other.write(simple('ROLLBACK'));
            await other.until('Z');
          }
        }
        await read('Z', simple('DROP TABLE lb1, lb2'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    const after = ['ZE', 'E ZE', 'C ZI', 'C ZT'];
    expect(direct).toEqual([
      'C C C ZI', '1 1 1 ZI', 'C ZT', '1 t T E', ...after, '3 1 t T E', ...after, '2 T E', ...after, '1 t T', 't E', ...after.slice(0, 3), 'C ZI',
    ]);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p), p)).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(4);
    });
  });

  // A Describe of a statement that returns no rows (an INSERT, UPDATE, DELETE or MERGE without
  // RETURNING) is answered NoData without revalidating it, so it takes no lock and meets no
  // deadlock: a real server answers 't n' at once, another session holding the table, and the
  // request goes on. The proxy sent a failing Parse behind it, as behind one that returns rows.
  it('a Describe in a later read of a statement that returns no rows meets no deadlock', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, read } = replies(c);
      try {
        await read('Z', simple('CREATE TABLE nr1 (x int); CREATE TABLE nr2 (x int)'));
        const rowless = ['INSERT INTO nr2 VALUES (1)', ' update nr2 SET x = 2', '/* c */ DELETE FROM nr2', 'MERGE INTO nr2 USING nr1 ON true WHEN MATCHED THEN DELETE'];
        await read('Z', ...rowless.map((sql, i) => parse(sql, `nr_${i}`)), sync());
        // Another session holds nr2, as in a deadlock's making: a Describe that took a lock would wait.
        other.write(simple('BEGIN; LOCK TABLE nr2'));
        await other.until('Z');
        for (let i = 0; i < rowless.length; i++) {
          await side.arm({ error: { percent: 100, kind: '40P01' } });
          await read('T', parse('SELECT x FROM nr1', `s${i}`), describeS(`s${i}`), flush());
          await read('n', describeS(`nr_${i}`), flush());
          await read('Z', sync());
          await side.disarm();
        }
        other.write(simple('ROLLBACK'));
        await other.until('Z');
        await read('Z', simple('DROP TABLE nr1, nr2'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual(['C C ZI', '1 1 1 1 ZI', ...Array(4).fill(['1 t T', 't n', 'ZI']).flat(), 'C ZI']);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error ?? 0).toBe(0);
    });
  });

  // A server that ends the connection while an error waits for the reply it replaces (the
  // failing Parse's, at the Execute still to come): a client of the server itself gets what the
  // server sent, a FATAL error of its own or nothing, then the close. The proxy sent the
  // injected error in the FATAL's place, or alone, and counted it.
  it('a server that closes while an error waits for its place: the client gets what the server sent, then the close', async () => {
    const counted = (p: Proxy) => ({ ...p.stats().behaviors });
    const since = (before: Record<string, number>, now: Record<string, number>) =>
      Object.fromEntries(Object.entries(now).filter(([k, n]) => n !== (before[k] ?? 0)).map(([k, n]) => [k, n - (before[k] ?? 0)]));
    // Ended by an administrator: pg_terminate_backend from another session.
    const terminated = async (port: number, arm: () => Promise<void>) => {
      const c = await messageClient(port);
      const other = await messageClient(db.port);
      try {
        const { out, read } = replies(c);
        await read('Z', simple("SET application_name = 'terminated'"));
        await arm();
        await read('T', parse('SELECT 1', 'a'), describeS('a'), flush());
        other.write(simple("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'terminated'"));
        await c.closed;
        return [...out, c.pending()];
      } finally {
        c.close();
        other.close();
      }
    };
    const direct = await terminated(db.port, async () => {});
    expect(direct).toEqual(['C S ZI', '1 t T', 'E57P01']);
    for (const kind of ['40001', '57014']) {
      await withProxy('', async (p) => {
        const before = counted(p);
        expect(await terminated(p.port, async () => { await p.setMix({ error: { percent: 100, kind } }); }), kind).toEqual(direct);
        await p.setMix('');
        expect(since(before, counted(p)), kind).toEqual({ dummy: 3 });
      });
    }
    // Gone with no word (a relay cut): an error waiting for its stand-in's reply, or behind a
    // query not yet answered.
    const live: net.Socket[] = [];
    const relay = await startRelay(db.port, (down, up) => {
      live.push(down, up);
      down.pipe(up);
      up.pipe(down);
    });
    try {
      await withProxy('', async (p) => {
        const cut = async (send: (c: Awaited<ReturnType<typeof messageClient>>) => Promise<void>) => {
          const c = await messageClient(p.port);
          try {
            await send(c);
            for (const s of live.splice(0)) s.destroy();
            await c.closed;
            return c.pending();
          } finally {
            c.close();
          }
        };
        const before = counted(p);
        expect(await cut(async (c) => {
          await p.setMix({ error: { percent: 100, kind: '40001' } });
          c.write(Buffer.concat([parse('SELECT 1', 'a'), describeS('a'), flush()]));
          expect((await c.until('T')).map(word).join(' ')).toBe('1 t T');
        })).toBe('');
        await p.setMix('');
        expect(await cut(async (c) => {
          const exchanges = p.stats().exchanges;
          c.write(simple('SELECT pg_sleep(10)'));
          while (p.stats().exchanges === exchanges) await pause(5);
          await p.setMix({ error: { percent: 100, kind: '57014' } });
          c.write(simple('SELECT 1'));
          while (p.stats().exchanges === exchanges + 1) await pause(5);
        })).toBe('');
        await p.setMix('');
        // The startups, the first request, the query and the one behind it: nothing given.
        expect(since(before, counted(p))).toEqual({ dummy: 5 });
      }, { upstream: relay.port });
    } finally {
      relay.close();
    }
  });
});
