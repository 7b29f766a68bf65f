/**
 * The chaos proxy between the MariaDB Node connector (npm `mariadb`) and a real MariaDB. Unlike
 * mysql2, it pipelines by default: a command goes before the reply to the one ahead of it, and
 * execute() sends COM_STMT_PREPARE and, at once behind it, COM_STMT_EXECUTE of statement id
 * 0xFFFFFFFF (MariaDB's "the statement just prepared"). batch() prepares, then sends
 * COM_STMT_BULK_EXECUTE with the prepared id.
 */
import mariadb, { type Connection, type SqlError } from 'mariadb';
import mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveMariadb, startMariadb } from './helpers/mariadb.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { defaultRegistry } from '../behaviors/index.js';
import { act, defineBehavior, errorKindOption, z } from '../src/proxy/plugin.js';
import { outcome, within } from './helpers/within.js';

let db: RunningServer;
let direct: mysql2.Connection;

/** The injected error on COM_STMT_PREPARE alone: execute()'s COM_STMT_EXECUTE behind it goes on to the server. */
const errorPrepare = defineBehavior({
  name: 'error_prepare',
  description: 'error on COM_STMT_PREPARE only',
  options: z.object({ kind: errorKindOption() }),
  onExchange: (ctx, o) => (ctx.label === 'COM_STMT_PREPARE' ? act.error(o.kind) : act.forward()),
});
/** The injected error on batch()'s COM_STMT_BULK_EXECUTE alone. */
const errorBulk = defineBehavior({
  name: 'error_bulk',
  description: 'error on COM_STMT_BULK_EXECUTE only',
  options: z.object({ kind: errorKindOption() }),
  onExchange: (ctx, o) => (ctx.label === 'COM_STMT_BULK_EXECUTE' ? act.error(o.kind) : act.forward()),
});
/** One exchange as the proxy drew it: its command, and whether it drew the error. */
interface Drawn { label: string | undefined; error: boolean }
/** error_seen's record, of the test running (those of a file run one at a time). */
let drawn: Drawn[] = [];
/**
 * The error at `chance` % by the proxy's seeded random source, as `error` is drawn from a mix, each
 * exchange recorded, with whether the error met it (one the server would not give passes, as
 * nothing drawn): an execute sent behind a prepare that failed gets the server's 1243, which the
 * connector passes over, so an error drawn for it is one no call sees.
 */
const errorSeen = defineBehavior({
  name: 'error_seen',
  description: 'error at chance %, every exchange recorded',
  options: z.object({ kind: errorKindOption(), chance: z.number() }),
  onExchange: (ctx, o) => {
    const error = ctx.random() * 100 < o.chance;
    drawn.push({ label: ctx.label, error: error && ctx.refuses(o.kind) });
    return error ? act.error(o.kind) : act.forward();
  },
});
const behaviors = new Map([...defaultRegistry, ...[errorPrepare, errorBulk, errorSeen].map((b) => [b.name, b as never] as const)]);

const withProxy = proxiesTo(() => db.port, { protocol: 'mysql', seed: 1, registry: behaviors });

const connect = (port: number, sent?: string[]) =>
  within('connect', mariadb.createConnection({
    host: '127.0.0.1', port, user: 'root', database: 'chaos', connectTimeout: 5000,
    // Each command the connector sends is logged once (PREPARE, EXECUTE, QUERY, BULK, CLOSE PREPARE, QUIT, ...).
    ...(sent ? { logger: { query: (m: string) => { sent.push(m); } } } : {}),
  }));

/** Rows as plain data (BigInt and Buffers as strings), for toEqual. */
const plain = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x && x.type === 'Buffer' ? Buffer.from(x.data).toString('hex') : x)));

/** Rows with their integers as numbers (the connector gives a BIGINT as a BigInt), for toEqual. */
const nums = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)));

/** What the calls of one scenario came to, each bounded by a deadline. */
async function passing(c: Connection, table: string): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push(await within('query', c.query('SELECT * FROM t ORDER BY id')));
  out.push(await within('query with params', c.query('SELECT id, name FROM t WHERE id >= ? ORDER BY id', [2])));
  out.push(await within('execute', c.execute('SELECT id, name, price, at, data FROM t WHERE id <= ? ORDER BY id', [2])));
  out.push(await within('execute again', c.execute('SELECT id, name, price, at, data FROM t WHERE id <= ? ORDER BY id', [3])));
  out.push(await within('pipelined', Promise.all([
    c.query('SELECT 1 AS a'), c.query('SELECT name FROM t WHERE id = ?', [3]), c.execute('SELECT ? + 1 AS n', [41]),
    c.query('SELEKT').catch((e: SqlError) => ({ errno: e.errno, sqlState: e.sqlState })), c.query('SELECT REPEAT("p", 100000) AS p'),
    c.execute('SELECT id FROM t WHERE id = ?', [1]),
  ])));
  await within('begin', c.beginTransaction());
  out.push(await within('insert', c.query(`INSERT INTO ${table} VALUES (?, ?)`, [1, 'a'])));
  await within('commit', c.commit());
  out.push(await within('batch', c.batch(`INSERT INTO ${table} VALUES (?, ?)`, [[2, 'b'], [3, 'c'], [4, 'd']])));
  out.push(await within('read back', c.query(`SELECT * FROM ${table} ORDER BY id`)));
  return plain(out) as unknown[];
}

describe.skipIf(!haveMariadb())('the mariadb connector through the chaos proxy (real MariaDB)', () => {
  beforeAll(async () => {
    db = await startMariadb();
    direct = await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', multipleStatements: true });
    await direct.query(`CREATE DATABASE chaos; USE chaos;
      CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), at DATETIME, data BLOB) ENGINE=InnoDB;
      INSERT INTO t VALUES (1, 'one', 1.50, '2024-01-02 03:04:05', x'00ff10'), (2, 'two', NULL, NULL, NULL), (3, 'trois', 3.25, '2025-06-07 08:09:10', REPEAT('b', 3000))`);
  });
  afterAll(async () => {
    await direct?.end();
    await db?.stop();
  });

  it('passing through: queries, execute(), pipelined calls, a transaction and batch() give a direct connection\'s results', async () => {
    await direct.query('CREATE TABLE pass_direct (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB; CREATE TABLE pass_proxied LIKE pass_direct');
    const d = await connect(db.port);
    const want = await passing(d, 'pass_direct');
    await d.end();
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const got = await passing(c, 'pass_proxied');
      await within('end', c.end());
      expect(got).toEqual(want);
      const stats = p.stats();
      expect(stats.fallbacks).toBe(0);
      expect(stats.behaviors.dummy).toBe(stats.exchanges);
    });
  });

  // A real deadlock rolls the transaction back whole: a bulk insert is a statement like any other.
  it('a deadlock (1213) on batch()\'s bulk execute rolls the transaction back, as InnoDB does', async () => {
    await direct.query('CREATE TABLE chaos.bulk_1213 (v INT) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      c.on('error', () => {});
      await within('begin', c.beginTransaction());
      await within('insert in transaction', c.query('INSERT INTO bulk_1213 VALUES (?)', [1]));
      await p.setMix({ error_bulk: { percent: 100, kind: '1213' } });
      expect(await outcome('batch', c.batch('INSERT INTO bulk_1213 VALUES (?)', [[2], [3]]))).toEqual({ err: expect.stringContaining('no: 1213') });
      await p.setMix('');
      expect(Number((await within('in transaction', c.query('SELECT @@in_transaction AS t')))[0].t)).toBe(0);
      await within('end', c.end());
    });
    const [rows] = await direct.query('SELECT v FROM chaos.bulk_1213');
    expect(rows).toEqual([]);
  });

  for (const kind of ['1205', '1213']) {
    it(`an error ${kind} on execute()'s prepare alone: the execute sent behind it runs no statement prepared before`, async () => {
      const table = `prep_${kind}`;
      await direct.query(`CREATE TABLE chaos.${table} (v INT) ENGINE=InnoDB`);
      await withProxy('', async (p) => {
        const c = await connect(p.port);
        c.on('error', () => {});
        await within('insert', c.execute(`INSERT INTO ${table} VALUES (?)`, [1]));
        await within('begin', c.beginTransaction());
        await within('insert in transaction', c.query(`INSERT INTO ${table} VALUES (?)`, [2]));
        await p.setMix({ error_prepare: { percent: 100, kind } });
        // One parameter, as the INSERT prepared before: had the server run it, 3 would be in the table.
        const seen = await outcome('execute', c.execute(`SELECT v FROM ${table} WHERE v = ?`, [3]));
        expect(seen).toEqual({ err: expect.stringContaining(`no: ${kind}`) });
        await p.setMix('');
        // A deadlock rolled the transaction back; a lock wait timeout left it open, row 2 in it.
        const inTransaction = Number((await within('in transaction', c.query('SELECT @@in_transaction AS t')))[0].t);
        expect(inTransaction).toBe(kind === '1213' ? 0 : 1);
        const rows = await within('read back', c.query(`SELECT v FROM ${table} ORDER BY v`));
        expect(rows).toEqual(kind === '1213' ? [{ v: 1 }] : [{ v: 1 }, { v: 2 }]);
        await within('rollback', c.rollback());
        expect(await within('usable', c.execute('SELECT ? + 1 AS n', [41]))).toEqual([{ n: 42n }]);
        await within('end', c.end());
        expect(p.stats().behaviors.error_prepare).toBe(1);
      });
    });
  }

  it(`an error 1053 (fatal) on execute()'s prepare alone: the connection closes, and the execute behind it runs nothing`, async () => {
    await direct.query('CREATE TABLE chaos.prep_fatal (v INT) ENGINE=InnoDB');
    const others = async () => Number(((await direct.query("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = 'chaos' AND id <> CONNECTION_ID()"))[0] as { n: number }[])[0].n);
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      c.on('error', () => {});
      await within('insert', c.execute('INSERT INTO prep_fatal VALUES (?)', [1]));
      await p.setMix({ error_prepare: { percent: 100, kind: '1053' } });
      expect(await outcome('execute', c.execute('SELECT ? AS n', [3]))).toEqual({ err: expect.stringContaining('no: 1053') });
      // What the server ran on that connection is in the table once the server has closed its side.
      await within('server side closed', (async () => { while (await others() > 0) await new Promise((r) => setTimeout(r, 10)); })());
      expect((await direct.query('SELECT v FROM chaos.prep_fatal'))[0]).toEqual([{ v: 1 }]);
    });
  });

  it('100:error: every call naming a table fails with the injected error, nothing is written, the connection stays usable', async () => {
    await direct.query('CREATE TABLE chaos.all_err (id INT PRIMARY KEY) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      c.on('error', () => {});
      await p.setMix('100:error');
      const calls = {
        query: () => c.query('SELECT COUNT(*) FROM all_err'),
        'query with params': () => c.query('INSERT INTO all_err VALUES (?)', [1]),
        execute: () => c.execute('INSERT INTO all_err VALUES (?)', [2]),
        batch: () => c.batch('INSERT INTO all_err VALUES (?)', [[3], [4]]),
      };
      // Statements naming no table wait for no lock: served.
      expect(await outcome('no table', c.query('SELECT 1 AS one'))).toEqual({ ok: [{ one: 1 }] });
      expect(await outcome('begin', c.beginTransaction())).toHaveProperty('ok');
      for (const [what, call] of Object.entries(calls)) {
        expect(await outcome(what, call()), what).toEqual({ err: expect.stringContaining('no: 1205, SQLState: HY000') });
      }
      const pipelined = await within('pipelined', Promise.all(Object.entries(calls).map(([what, call]) => outcome(what, call()))));
      expect(pipelined).toEqual(Object.keys(calls).map(() => ({ err: expect.stringContaining('no: 1205') })));
      await p.setMix('');
      // One error per call, and one no call sees for each execute(): the execute sent behind its prepare.
      expect(p.stats().behaviors.error).toBe(2 * Object.keys(calls).length + 2);
      expect(await within('usable', c.execute('SELECT ? + 1 AS n', [41]))).toEqual([{ n: 42n }]);
      await within('end', c.end());
      expect(await direct.query('SELECT * FROM chaos.all_err')).toEqual([[], expect.anything()]);
    });
  });

  // error_seen draws as `error` does and records each exchange, so the errors the connector
  // reported are checked one for one; `error` itself is run too, its count bounded by them.
  for (const [kind, recorded] of [['1205', true], ['1213', true], ['1205', false]] as const) {
    it(`30:${recorded ? 'error_seen' : 'error'} ${kind} with a seed: each call settles with its result or the error, transactions commit once or leave nothing, the proxy counts what the connector did`, async () => {
      const table = `chaos_${kind}_${recorded ? 'seen' : 'error'}`;
      await direct.query(`CREATE TABLE chaos.${table} (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB`);
      await withProxy('', async (p) => {
        const sent: string[] = [];
        const c = await connect(p.port, sent);
        c.on('error', () => {});
        drawn = [];
        const before = { exchanges: p.stats().exchanges, sent: sent.length };
        await p.setMix(recorded ? { error_seen: { percent: 100, kind, chance: 30 } } : { error: { percent: 30, kind } });
        const errors: string[] = [];
        const committed: number[] = [];
        const batched: number[] = [];
        const settle = async <T>(what: string, call: Promise<T>, check: (v: T) => void): Promise<boolean> => {
          const o = await outcome(what, call);
          if ('err' in o) {
            expect(o.err, what).toContain(`no: ${kind}`);
            errors.push(what);
            return false;
          }
          check(o.ok);
          return true;
        };
        for (let round = 0; round < 30; round++) {
          const id = round * 10;
          // Pipelined: each sent before the reply to the one ahead.
          await within(`round ${round}`, Promise.all([
            settle('query', c.query('SELECT ? AS n FROM t WHERE id = 1', [round]), (r) => expect(nums(r)).toEqual([{ n: round }])),
            settle('execute', c.execute('SELECT ? + 1 AS n FROM t WHERE id = 1', [round]), (r) => expect(nums(r)).toEqual([{ n: round + 1 }])),
            settle('execute once', c.execute(`SELECT ${round} AS r, ? AS n FROM t WHERE id = 1`, [round]), (r) => expect(nums(r)).toEqual([{ r: round, n: round }])),
            settle('query no params', c.query('SELECT COUNT(*) AS k FROM t'), (r) => expect(nums(r)).toEqual([{ k: 3 }])),
          ]));
          // A transaction: committed whole once, or rolled back.
          let ok = await settle('begin', c.beginTransaction(), () => {});
          ok &&= await settle('insert', c.query(`INSERT INTO ${table} VALUES (?, 'q')`, [id + 1]), () => {});
          ok &&= await settle('execute insert', c.execute(`INSERT INTO ${table} VALUES (?, 'x')`, [id + 2]), () => {});
          ok &&= await settle('commit', c.commit(), () => {});
          if (ok) committed.push(id + 1, id + 2);
          else await settle('rollback', c.rollback(), () => {});
          if (await settle('batch', c.batch(`INSERT INTO ${table} VALUES (?, 'b')`, [[id + 3], [id + 4], [id + 5]]), () => {})) batched.push(id + 3, id + 4, id + 5);
        }
        await p.setMix('');
        expect(await within('usable', c.query('SELECT @@in_transaction AS t'))).toEqual([{ t: 0n }]);
        await within('end', c.end());
        const rows = (await direct.query(`SELECT id FROM chaos.${table} ORDER BY id`))[0] as { id: number }[];
        expect(rows.map((r) => r.id)).toEqual([...committed, ...batched].sort((a, b) => a - b));
        expect(committed.length).toBeGreaterThan(0);
        expect(committed.length).toBeLessThan(60);

        // Every command the connector sent is one exchange, and each drew the error or not.
        const stats = p.stats();
        expect(stats.exchanges - before.exchanges).toBe(sent.length - before.sent);
        expect(stats.fallbacks).toBe(0);
        expect(errors.length).toBeGreaterThan(20);
        if (!recorded) {
          // Each error reported is one counted; those beyond are for an execute behind its failed prepare, at most one per execute().
          const executes = sent.filter((m) => m.startsWith('EXECUTE: (-1)')).length;
          expect(stats.behaviors.error).toBeGreaterThanOrEqual(errors.length);
          expect(stats.behaviors.error).toBeLessThanOrEqual(errors.length + executes);
          return;
        }
        // Each under the mix was drawn once (all but the last query and QUIT), and its errors counted.
        expect(drawn.length).toBe(stats.exchanges - before.exchanges - 2);
        expect(stats.behaviors.error_seen).toBe(drawn.filter((x) => x.error).length);
        // The errors the connector reported are those drawn, less those drawn for an execute
        // behind a prepare that failed (the connector reported the prepare's).
        const hidden = drawn.filter((x, i) => x.error && x.label === 'COM_STMT_EXECUTE' && drawn[i - 1]?.label === 'COM_STMT_PREPARE' && drawn[i - 1].error);
        expect(errors.length).toBe(drawn.filter((x) => x.error).length - hidden.length);
      }, { seed: 30 });
    }, 120_000);
  }
});
