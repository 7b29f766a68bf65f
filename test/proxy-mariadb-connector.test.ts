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
import type { Proxy } from '../src/proxy/proxy.js';
import { haveMariadb, startMariadb } from './helpers/mariadb.js';
import type { RunningServer } from './helpers/servers.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { defaultRegistry } from '../behaviors/index.js';
import { act, defineBehavior, errorKindOption, z } from '../src/proxy/plugin.js';
import { outcome, within } from './helpers/within.js';

type Behaviors = Parameters<typeof startProxy>[0]['behaviors'];

let db: RunningServer;
let direct: mysql2.Connection;

/** The injected error on COM_STMT_PREPARE alone: execute()'s COM_STMT_EXECUTE behind it goes on to the server. */
const errorPrepare = defineBehavior({
  name: 'error_prepare',
  description: 'error on COM_STMT_PREPARE only',
  options: z.object({ kind: errorKindOption() }),
  onExchange: (ctx, o) => (ctx.label === 'COM_STMT_PREPARE' ? act.error(o.kind) : act.forward()),
});
const behaviors = new Map([...defaultRegistry, [errorPrepare.name, errorPrepare as never]]);

async function withProxy(mix: Behaviors, fn: (p: Proxy) => Promise<void>, seed = 1): Promise<void> {
  const p = await startProxy({ name: 'mariadb', listen: '127.0.0.1:0', upstream: `127.0.0.1:${db.port}`, protocol: 'mysql', behaviors: mix, seed }, { behaviors });
  try {
    await fn(p);
  } finally {
    await p.close(100);
  }
}

const connect = (port: number) =>
  within('connect', mariadb.createConnection({ host: '127.0.0.1', port, user: 'root', database: 'chaos', connectTimeout: 5000 }));

/** Rows as plain data (BigInt and Buffers as strings), for toEqual. */
const plain = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x && x.type === 'Buffer' ? Buffer.from(x.data).toString('hex') : x)));

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
        const seen = await outcome('execute', c.execute('SELECT ? AS n', [3]));
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
});
