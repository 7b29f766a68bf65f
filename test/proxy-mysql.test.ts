/**
 * The chaos proxy between mysql2 (and a raw pipelining client) and a real MariaDB.
 */
import net from 'node:net';
import mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysql, MYSQL_ERRORS } from '../src/proxy/protocols/mysql.js';
import { haveMariadb, startMariadb } from './helpers/mariadb.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { pkt } from './helpers/mysql-packets.js';

let db: RunningServer;

const withProxy = proxiesTo(() => db.port, { protocol: 'mysql', seed: 1 });

const connect = (port: number, extra: Record<string, unknown> = {}) =>
  mysql2.createConnection({ host: '127.0.0.1', port, user: 'root', database: 'chaos', multipleStatements: true, ...extra });

// A raw client that pipelines commands and uses the framer (test side) to split the replies.
const query = (sql: string) => Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]);

class Raw {
  private session = mysql.createSession();
  private cur: Buffer[] = [];
  readonly done: Buffer[] = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d) => {
      for (const s of this.session.fromServer(d)) {
        this.cur.push(s.data);
        if (s.end) { this.done.push(Buffer.concat(this.cur)); this.cur = []; }
      }
    });
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => {});
  }

  static async connect(port: number): Promise<Raw> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
    const raw = new Raw(sock);
    await raw.wait(1);
    const caps = 0x200 | 0x8000 | 0x80000 | 0x20000 | 0x10000 | 0x8; // 4.1, secure conn, plugin auth, multi results/statements, with db
    const response = Buffer.concat([
      Buffer.from([caps & 0xff, (caps >> 8) & 0xff, (caps >> 16) & 0xff, 0]), Buffer.from([0, 0, 0, 1, 0x21]), Buffer.alloc(23),
      Buffer.from('root\0'), Buffer.from([0]), Buffer.from('chaos\0'), Buffer.from('mysql_native_password\0'),
    ]);
    raw.write(pkt(1, response));
    await raw.wait(2);
    expect(raw.done[1][4]).toBe(0x00);
    raw.done.length = 0;
    return raw;
  }

  write(b: Buffer): void {
    this.sock.write(Buffer.concat(this.session.fromClient(b).map((s) => s.data)));
  }

  async wait(n: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.done.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.done.length} of ${n} replies`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** All commands in one write; the replies, split by the framer. */
  async pipeline(sqls: string[]): Promise<Buffer[]> {
    this.done.length = 0;
    this.write(Buffer.concat(sqls.map((s) => pkt(0, query(s)))));
    await this.wait(sqls.length);
    return this.done.splice(0);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Results as comparable JSON (Buffers as hex). */
const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (x && x.type === 'Buffer' ? Buffer.from(x.data).toString('hex') : x)));

describe.skipIf(!haveMariadb())('mysql through the chaos proxy (real MariaDB)', () => {
  beforeAll(async () => {
    db = await startMariadb();
    const c = await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', multipleStatements: true });
    await c.query(`CREATE DATABASE chaos; USE chaos;
      CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), at DATETIME, data BLOB) ENGINE=InnoDB;
      INSERT INTO t VALUES (1, 'one', 1.50, '2024-01-02 03:04:05', x'00ff10'), (2, 'two', NULL, NULL, NULL), (3, 'trois', 3.25, '2025-06-07 08:09:10', REPEAT('b', 3000))`);
    await c.end();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('dummy: results are those of a direct connection, pipelined raw replies are byte-exact', async () => {
    await withProxy('', async (p) => {
      const scenario = async (port: number) => {
        const c = await connect(port);
        const out: unknown[] = [];
        out.push((await c.query('SELECT * FROM t ORDER BY id'))[0]);
        out.push((await c.execute('SELECT id, name, price, at, data FROM t WHERE id >= ? ORDER BY id', [2]))[0]);
        out.push((await c.query('SELECT 1 AS a; SELECT name FROM t WHERE id = 1; DO 1'))[0]);
        out.push(await c.query('SELEKT').catch((e) => ({ errno: e.errno, code: e.code, sqlState: e.sqlState })));
        out.push((await c.query('SELECT seq, REPEAT("x", seq % 97) AS pad FROM seq_1_to_3000'))[0]);
        out.push((await c.query("SELECT REPEAT('big', 2000000) AS big"))[0]);
        await c.beginTransaction();
        out.push((await c.execute('UPDATE t SET name = ? WHERE id = ?', ['uno', 1]))[0]);
        await c.rollback();
        await c.ping();
        await c.end();
        return plain(out);
      };
      const direct = await scenario(db.port);
      const proxied = await scenario(p.port);
      expect(proxied).toEqual(direct);
      const stats = p.stats();
      expect(stats.fallbacks).toBe(0);
      expect(stats.exchanges).toBeGreaterThanOrEqual(12);
      expect(stats.behaviors.dummy).toBe(stats.exchanges);

      const sqls = ['SELECT 1', 'SELECT * FROM t ORDER BY id', 'DO 1', 'SELEKT', "SELECT REPEAT('p', 100000)", 'SELECT 1; SELECT 2', 'SELECT id FROM t WHERE id = 2'];
      const rawDirect = await Raw.connect(db.port);
      const rawProxied = await Raw.connect(p.port);
      try {
        for (let round = 0; round < 5; round++) {
          const a = await rawDirect.pipeline(sqls);
          const b = await rawProxied.pipeline(sqls);
          expect(b.length).toBe(sqls.length);
          expect(b.map((x) => x.toString('hex'))).toEqual(a.map((x) => x.toString('hex')));
        }
      } finally {
        rawDirect.close();
        rawProxied.close();
      }
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // 1040 meets a connection, in place of its greeting: test/proxy-mysql-refusals.
  for (const [kind, e] of Object.entries(MYSQL_ERRORS).filter(([k]) => k !== '1040')) {
    it(`100:error kind ${kind}: mysql2 gets errno ${e.code} / ${e.state}${e.fatal ? ', then the connection closes' : ', and the connection keeps working'}`, async () => {
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        const c = await connect(p.port);
        c.on('error', () => {});
        // A write: every kind meets it (a read-only server refuses writes only).
        const err = await c.query('DELETE FROM t WHERE id < 0').then(() => undefined, (x) => x);
        expect(err).toBeInstanceOf(Error);
        expect(err).toMatchObject({ errno: e.code, sqlState: e.state, sqlMessage: e.message });
        expect(err.code).toBe(({ 1205: 'ER_LOCK_WAIT_TIMEOUT', 1213: 'ER_LOCK_DEADLOCK', 1040: 'ER_CON_COUNT_ERROR', 1053: 'ER_SERVER_SHUTDOWN', 1317: 'ER_QUERY_INTERRUPTED', 1290: 'ER_OPTION_PREVENTS_STATEMENT' } as Record<string, string>)[kind]);
        expect(err.fatal).toBeFalsy(); // a server error, not a client-side connection error
        expect(p.stats().behaviors.error).toBe(1);
        if (e.fatal) {
          const next = await c.query('SELECT 1').then(() => undefined, (x) => x);
          expect(next).toBeInstanceOf(Error);
          expect(next.code === 'PROTOCOL_CONNECTION_LOST' || /closed state/.test(next.message)).toBe(true);
        } else {
          // Prepared statements too: COM_STMT_PREPARE gets the error (1290 its execute: a read-only server prepares a write).
          await expect(c.execute('DELETE FROM t WHERE id = ?', [-1])).rejects.toMatchObject({ errno: e.code });
          await p.setMix('100:dummy');
          const [rows] = await c.query('SELECT 41 + 1 AS n');
          expect(rows).toEqual([{ n: 42 }]);
          const [exec] = await c.execute('SELECT ? + 1 AS n', [1]);
          expect(exec).toEqual([{ n: 2 }]);
          await c.end();
        }
        c.destroy();
      });
    });
  }

  it('an error injected on COMMIT ends the transaction on the server, as a failed commit does', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE commit_t (id INT) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      // A failed COMMIT neither chains nor releases, whatever it says or completion_type says:
      // under CHAIN a plain ROLLBACK would leave a transaction open (INSERT 2 never committed),
      // under RELEASE it would close the connection.
      for (const [commit, completion] of [
        ['COMMIT', 'NO_CHAIN'], ['commit;', 'NO_CHAIN'], ['Commit Work ; ', 'NO_CHAIN'], ['COMMIT AND CHAIN', 'NO_CHAIN'],
        ['commit release', 'NO_CHAIN'], ['COMMIT WORK AND NO CHAIN NO RELEASE;', 'NO_CHAIN'], ['COMMIT', 'CHAIN'], ['COMMIT', 'RELEASE'],
        // Statements ending in a COMMIT (multipleStatements): they run, then ROLLBACK, so row 4 goes too.
        ['INSERT INTO commit_t VALUES (4); COMMIT', 'NO_CHAIN'],
        // A COMMIT amid them: the statements after it never run, as after a failed statement.
        ["INSERT INTO commit_t VALUES (5); COMMIT; INSERT INTO commit_t VALUES (6) -- it's", 'NO_CHAIN'],
        ['COMMIT; INSERT INTO commit_t VALUES (7)', 'NO_CHAIN'],
      ]) {
        const what = `${commit} (completion_type ${completion})`;
        await c.query(`SET SESSION completion_type = '${completion}'`);
        await direct.query('TRUNCATE commit_t');
        await c.query('BEGIN');
        await c.query('INSERT INTO commit_t VALUES (1)');
        await p.setMix({ error: { percent: 100, kind: '1213' } });
        await expect(c.query(commit), what).rejects.toMatchObject({ errno: 1213 });
        await p.setMix('');
        await c.query('INSERT INTO commit_t VALUES (2)');
        expect((await direct.query('SELECT id FROM commit_t'))[0], what).toEqual([{ id: 2 }]);
        expect(((await c.query('SELECT @@in_transaction AS open'))[0] as { open: number }[])[0].open, what).toBe(0);
      }
      await c.end();
    });
    await direct.end();
  });

  // Each form is first run as it is, to show the server takes it for a COMMIT, then with the error.
  it('an error injected on a COMMIT with comments or blanks among its words ends the transaction too', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE commit_forms (id INT) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const open = async () => ((await c.query('SELECT @@in_transaction AS open'))[0] as { open: number }[])[0].open;
      for (const commit of ['COMMIT /* x */', 'commit -- note\n', 'commit # note', '# done\ncommit', '/* a */ COMMIT WORK /* b */;', 'COMMIT WORK',
        ' commit ;\n ', '\ncommit\n;\n', 'commit\v', 'INSERT INTO commit_forms VALUES (4); COMMIT -- done\n']) {
        const what = JSON.stringify(commit);
        for (const error of [false, true]) {
          await direct.query('TRUNCATE commit_forms');
          await c.query('BEGIN');
          await c.query('INSERT INTO commit_forms VALUES (1)');
          if (error) {
            await p.setMix({ error: { percent: 100, kind: '1213' } });
            await expect(c.query(commit), what).rejects.toMatchObject({ errno: 1213 });
            await p.setMix('');
            await c.query('INSERT INTO commit_forms VALUES (2)');
          } else {
            await c.query(commit);
          }
          const rows = ((await direct.query('SELECT id FROM commit_forms ORDER BY id'))[0] as { id: number }[]).map((r) => r.id);
          expect(rows, `${what}${error ? ' failed' : ''}`).toEqual(error ? [2] : commit.startsWith('INSERT') ? [1, 4] : [1]);
          expect(await open(), what).toBe(0);
        }
      }
      // MariaDB has no END (a syntax error, the transaction goes on): it is no COMMIT here either.
      await c.query('BEGIN');
      await c.query('INSERT INTO commit_forms VALUES (9)');
      await expect(c.query('END')).rejects.toMatchObject({ code: 'ER_PARSE_ERROR' });
      await p.setMix({ error: { percent: 100, kind: '1205' } });
      await expect(c.query('END')).rejects.toMatchObject({ errno: 1205 });
      await p.setMix('');
      expect(await open()).toBe(1);
      await c.query('ROLLBACK');
      await c.end();
    });
    await direct.end();
  });

  // Where the proxy cannot read a query's statements for sure (a backslash in a string here), it
  // cannot send those before its COMMIT: the query is withheld, as the server leaves it when its
  // first statement fails: nothing of it runs, the transaction stays open for the client to end.
  it('an error on a query holding a COMMIT it cannot read for sure withholds it whole, as the server leaves it when its first statement fails', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE unread_t (id INT, s TEXT) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const told = (q: string) => c.query(q).then(() => 'ok', (e: { errno: number }) => String(e.errno));
      const scenario = async (query: string, error: boolean) => {
        await direct.query('TRUNCATE unread_t');
        const out = [await told('BEGIN'), await told('INSERT INTO unread_t VALUES (1, NULL)')];
        if (error) await p.setMix({ error: { percent: 100, kind: '1205' } });
        out.push(await told(query));
        await p.setMix('');
        out.push(String(((await c.query('SELECT @@in_transaction AS t'))[0] as { t: number }[])[0].t));
        out.push(JSON.stringify((await direct.query('SELECT id FROM unread_t'))[0]));
        out.push(await told('COMMIT'), JSON.stringify((await direct.query('SELECT id FROM unread_t'))[0]));
        return out;
      };
      const rest = '; COMMIT; INSERT INTO unread_t VALUES (6, NULL)';
      const server = await scenario(`INSERT INTO no_such_table VALUES ('a\\b')${rest}`, false);
      expect(server).toEqual(['ok', 'ok', '1146', '1', '[]', 'ok', '[{"id":1}]']);
      expect(await scenario(`INSERT INTO unread_t VALUES (5, 'a\\b')${rest}`, true)).toEqual([...server.slice(0, 2), '1205', ...server.slice(3)]);
      await c.end();
    });
    await direct.end();
  });

  // InnoDB rolls a deadlocked transaction back whole; a client told 1213 retries it from BEGIN,
  // which commits whatever transaction is still open: it must not be.
  it('an injected deadlock (1213) rolls the transaction back on the server, as InnoDB does; a lock wait timeout (1205) does not', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE deadlock_t (id INT) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const open = async () => ((await c.query('SELECT @@in_transaction AS open'))[0] as { open: number }[])[0].open;
      const rows = async () => ((await direct.query('SELECT id FROM deadlock_t ORDER BY id'))[0] as { id: number }[]).map((r) => r.id);
      const failing: [string, () => Promise<unknown>][] = [
        ['query', () => c.query('INSERT INTO deadlock_t VALUES (2)')],
        ['prepared', () => c.execute('INSERT INTO deadlock_t VALUES (?)', [2])],
      ];
      // Prepared once here (mysql2 keeps it): the failing one is a COM_STMT_EXECUTE alone.
      await c.execute('INSERT INTO deadlock_t VALUES (?)', [0]);
      for (const [what, statement] of failing) {
        await direct.query('TRUNCATE deadlock_t');
        await c.query('BEGIN');
        await c.query('INSERT INTO deadlock_t VALUES (1)');
        await p.setMix({ error: { percent: 100, kind: '1213' } });
        await expect(statement(), what).rejects.toMatchObject({ errno: 1213 });
        await p.setMix('');
        expect(await open(), what).toBe(0);
        // The retry, as the error asks: each row once.
        await c.query('BEGIN');
        await c.query('INSERT INTO deadlock_t VALUES (1)');
        await statement();
        await c.query('COMMIT');
        expect(await rows(), what).toEqual([1, 2]);
      }
      // Autocommitted: nothing to roll back, nothing inserted, the connection goes on.
      await direct.query('TRUNCATE deadlock_t');
      await p.setMix({ error: { percent: 100, kind: '1213' } });
      await expect(c.query('INSERT INTO deadlock_t VALUES (3)')).rejects.toMatchObject({ errno: 1213 });
      await p.setMix('');
      expect(await rows()).toEqual([]);
      // A lock wait timeout fails the statement only (innodb_rollback_on_timeout off): the
      // transaction goes on, as on the server.
      await c.query('BEGIN');
      await c.query('INSERT INTO deadlock_t VALUES (1)');
      await p.setMix({ error: { percent: 100, kind: '1205' } });
      await expect(c.query('INSERT INTO deadlock_t VALUES (2)')).rejects.toMatchObject({ errno: 1205 });
      await p.setMix('');
      expect(await open()).toBe(1);
      await c.query('COMMIT');
      expect(await rows()).toEqual([1]);
      await c.end();
    });
    await direct.end();
  });

  // A prepare meets a deadlock too: MariaDB opening its tables waits for their metadata locks,
  // and the victim of a deadlock there gets 1213 with its transaction rolled back, as InnoDB's.
  it('a deadlock (1213) injected on a prepare rolls the transaction back, as a metadata lock deadlock does on MariaDB', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE prepare_t (id INT) ENGINE=InnoDB; CREATE TABLE mdl_a (id INT) ENGINE=InnoDB; CREATE TABLE mdl_b (id INT) ENGINE=InnoDB');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const open = async () => ((await c.query('SELECT @@in_transaction AS open'))[0] as { open: number }[])[0].open;
      const rows = async () => ((await direct.query('SELECT id FROM prepare_t ORDER BY id'))[0] as { id: number }[]).map((r) => r.id);
      /** BEGIN, INSERT 1, then a statement prepared for the first time (mysql2 prepares on its first execute), failing. */
      const scenario = async (prepareFails: () => Promise<unknown>) => {
        await direct.query('TRUNCATE prepare_t');
        await c.query('BEGIN');
        await c.query('INSERT INTO prepare_t VALUES (1)');
        const err = await prepareFails().then(() => 'no error', (e: { errno: number }) => e.errno);
        const left = [err, await open()];
        // The retry, as the error asks: each row once.
        await c.query('BEGIN');
        await c.query('INSERT INTO prepare_t VALUES (1)');
        await c.execute('INSERT INTO prepare_t VALUES (?)', [2]);
        await c.query('COMMIT');
        return [...left, await rows()];
      };
      // The real one: c holds mdl_b, a RENAME holds mdl_a and waits for mdl_b, c's prepare waits for mdl_a.
      const renameWaits = async () => ((await direct.query("SELECT count(*) AS n FROM information_schema.processlist WHERE info LIKE 'RENAME TABLE mdl_a %' AND state = 'Waiting for table metadata lock'"))[0] as { n: number }[])[0].n;
      const real = await scenario(async () => {
        await c.query('SELECT id FROM mdl_b');
        const other = await connect(db.port);
        await other.query('SET SESSION lock_wait_timeout = 20'); // a failure, should no deadlock be found
        const rename = other.query('RENAME TABLE mdl_a TO mdl_a2, mdl_b TO mdl_b2');
        try {
          while (await renameWaits() === 0) await new Promise((r) => setTimeout(r, 10));
          await c.execute('SELECT id FROM mdl_a WHERE id = ?', [1]);
        } finally {
          await rename;
          await other.end();
        }
      });
      expect(real).toEqual([1213, 0, [1, 2]]);
      const injected = await scenario(async () => {
        await p.setMix({ error: { percent: 100, kind: '1213' } });
        try {
          await c.execute('SELECT id FROM prepare_t WHERE id = ?', [1]);
        } finally {
          await p.setMix('');
        }
      });
      expect(injected).toEqual(real);
      // A lock wait timeout fails the prepare only (a metadata lock waited for lock_wait_timeout): the transaction goes on.
      await c.query('BEGIN');
      await c.query('INSERT INTO prepare_t VALUES (3)');
      await p.setMix({ error: { percent: 100, kind: '1205' } });
      await expect(c.execute('SELECT id FROM prepare_t WHERE id > ?', [0])).rejects.toMatchObject({ errno: 1205 });
      await p.setMix('');
      expect(await open()).toBe(1);
      await c.query('ROLLBACK');
      expect(p.stats().fallbacks).toBe(0);
      await c.end();
    });
    await direct.end();
  });

  it(`the default error kind is ${mysql.defaultError}`, async () => {
    await withProxy('100:error', async (p) => {
      const c = await connect(p.port);
      await expect(c.query('SELECT id FROM t')).rejects.toMatchObject({ errno: 1205, code: 'ER_LOCK_WAIT_TIMEOUT', sqlState: 'HY000' });
      // A server where locks time out answers a ping, and a statement naming no table.
      await c.ping();
      await c.query('SELECT 1');
      expect(p.stats().behaviors.error).toBe(1);
      await c.end();
    });
  });

  it('50:error with a seed: about half the exchanges fail, the same ones on a replay', async () => {
    const run = async () => {
      let seen = '';
      await withProxy('50:error', async (p) => {
        const c = await connect(p.port);
        for (let i = 0; i < 300; i++) {
          seen += await c.query('SELECT ? AS i FROM t WHERE id = 1', [i]).then(([r]) => {
            expect(r).toEqual([{ i }]);
            return '.';
          }, (e) => {
            expect(e.errno).toBe(1205);
            return 'E';
          });
        }
        // Every error the proxy counted is one the client saw.
        expect(p.stats().behaviors.error).toBe([...seen].filter((x) => x === 'E').length);
        await c.end();
      });
      return seen;
    };
    const a = await run();
    const share = [...a].filter((x) => x === 'E').length / a.length;
    // Binomial(300, 0.5): sd = 8.7 exchanges (2.9 %); ±10 % is more than 3 sd.
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    expect(await run()).toBe(a);
  });

  it('100:delay with sleep 0.2 adds about 200 ms per exchange', async () => {
    await withProxy({ delay: { percent: 100, sleep: 0.2 } }, async (p) => {
      const c = await connect(p.port);
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const [rows] = await c.query('SELECT 1 AS one');
        const ms = performance.now() - t;
        expect(rows).toEqual([{ one: 1 }]);
        expect(ms).toBeGreaterThanOrEqual(195);
        expect(ms).toBeLessThan(1000);
      }
      await c.end();
    });
  });

  // The login is an exchange too: a connection's first meets a blackout, as a query does.
  it('100:blackout: the client sees its connection closed, as it logs in or after', async () => {
    await withProxy('100:blackout', async (p) => {
      expect(await connect(p.port).then(() => undefined, (x) => x)).toMatchObject({ fatal: true });
      await p.setMix('');
      const c = await connect(p.port);
      await p.setMix('100:blackout');
      c.on('error', () => {});
      const err = await c.query('SELECT 1').then(() => undefined, (x) => x);
      expect(err).toBeInstanceOf(Error);
      expect(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET']).toContain(err.code);
      expect(err.fatal).toBe(true);
      c.destroy();
    });
  });

  it('100:hang: the client times out, as it logs in or after', async () => {
    await withProxy('100:hang', async (p) => {
      expect(await connect(p.port, { connectTimeout: 300 }).then(() => undefined, (x) => x)).toMatchObject({ code: 'ETIMEDOUT' });
      await p.setMix('');
      const c = await connect(p.port);
      await p.setMix('100:hang');
      c.on('error', () => {});
      const t = performance.now();
      const err = await c.query({ sql: 'SELECT 1', timeout: 300 }).then(() => undefined, (x) => x);
      expect(err).toMatchObject({ code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
      expect(performance.now() - t).toBeGreaterThanOrEqual(290);
      c.destroy();
    });
  });

  it('LOCAL INFILE and change user through a faulty proxy: only whole exchanges are faulted', async () => {
    const { Readable } = await import('node:stream');
    await withProxy('30:error', async (p) => {
      const c = await connect(p.port, { infileStreamFactory: () => Readable.from([Buffer.from('10\tten\n11\televen\n')]) });
      let ok = 0;
      let failed = 0;
      for (let i = 0; i < 20; i++) {
        try {
          await c.query("LOAD DATA LOCAL INFILE 'x' REPLACE INTO TABLE t (id, name)");
          await c.changeUser({ user: 'root', database: 'chaos' });
          const [rows] = await c.query('SELECT name FROM t WHERE id = 11');
          expect(rows).toEqual([{ name: 'eleven' }]);
          ok++;
        } catch (e) {
          expect((e as { errno?: number }).errno).toBe(1205);
          failed++;
        }
      }
      expect(ok).toBeGreaterThan(0);
      expect(failed).toBeGreaterThan(0);
      await c.end();
      expect(p.stats().fallbacks).toBe(0);
    });
  });
});
