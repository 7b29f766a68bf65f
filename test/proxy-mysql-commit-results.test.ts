/**
 * A COMMIT behind statements of its query (CLIENT_MULTI_STATEMENTS) that draws an injected error,
 * next to a real MariaDB whose COMMIT fails there: the statements' results, then the error.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveMariadb, startMariadb } from './helpers/mariadb.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { startSlicingRelay } from './helpers/slicing-relay.js';
import { pkt } from './helpers/mysql-packets.js';
import type { Proxy } from '../src/proxy/proxy.js';

let db: RunningServer;

const withProxy = proxiesTo(() => db.port, { protocol: 'mysql', seed: 1 });

const SERVER_MORE_RESULTS_EXISTS = 0x08;

/**
 * A client that logs in without CLIENT_DEPRECATE_EOF (with multi-statements) and reads a
 * query's reply packet by packet, up to its end or the connection's: no framer of the proxy's.
 */
class Raw {
  /** Bytes of packets not whole yet: joined once one is (a 16 MiB packet comes in many reads). */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private readonly packets: Buffer[] = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.pending.push(d);
      this.pendingLength += d.length;
      for (;;) {
        if (this.pendingLength < 4) return;
        if (this.pending[0].length < 4) this.pending = [Buffer.concat(this.pending)];
        const size = 4 + this.pending[0].readUIntLE(0, 3);
        if (this.pendingLength < size) return;
        const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
        this.packets.push(all.subarray(0, size));
        this.pending = all.length > size ? [all.subarray(size)] : [];
        this.pendingLength = all.length - size;
      }
    });
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => {});
  }

  static async connect(port: number, user = 'root'): Promise<Raw> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
    const raw = new Raw(sock);
    await raw.until(() => raw.packets.length >= 1);
    const caps = 0x200 | 0x8000 | 0x80000 | 0x20000 | 0x10000 | 0x8; // 4.1, secure conn, plugin auth, multi results/statements, with db
    sock.write(pkt(1, Buffer.concat([
      Buffer.from([caps & 0xff, (caps >> 8) & 0xff, (caps >> 16) & 0xff, 0]), Buffer.from([0, 0, 0, 1, 0x21]), Buffer.alloc(23),
      Buffer.from(`${user}\0`), Buffer.from([0]), Buffer.from('chaos\0'), Buffer.from('mysql_native_password\0'),
    ])));
    await raw.until(() => raw.packets.length >= 2);
    expect(raw.packets[1][4]).toBe(0x00);
    raw.packets.length = 0;
    return raw;
  }

  private async until(done: () => boolean): Promise<void> {
    for (const deadline = Date.now() + 10_000; !done();) {
      if (Date.now() > deadline) throw new Error(`no end of reply in ${this.describe().join(' ')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Whether the packets so far are a whole reply to a query: its last result has no more after it. */
  private ended(): boolean {
    let eofs = 0;
    for (const p of this.packets) {
      const first = p[4];
      if (first === 0xff) return true;
      if (first === 0x00 && eofs === 0) {
        // An OK: affected rows and insert id (one byte each here), then the status.
        if (!(p.readUInt16LE(7) & SERVER_MORE_RESULTS_EXISTS)) return true;
      } else if (first === 0xfe && p.length < 13) {
        eofs = (eofs + 1) % 2;
        if (eofs === 0 && !(p.readUInt16LE(7) & SERVER_MORE_RESULTS_EXISTS)) return true;
      }
    }
    return false;
  }

  /** `sql` sent; its reply, or what came before the close, as words and as the bytes themselves (a digest of many). */
  async q(sql: string): Promise<{ words: string; bytes: string }> {
    this.send(sql);
    return this.reply();
  }

  /** The one value `sql` selects: its row, the 4th packet, a length-prefixed text. */
  async value(sql: string): Promise<string> {
    expect((await this.q(sql)).words).toBe('1:R 2:R 3:EOF 4:R 5:EOF');
    const row = this.packets[3];
    return row.toString('latin1', 5, 5 + row[4]);
  }

  send(sql: string): void {
    this.packets.length = 0;
    this.sock.write(pkt(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)])));
  }

  async reply(): Promise<{ words: string; bytes: string }> {
    await this.until(() => this.closed || this.ended());
    const bytes = Buffer.concat(this.packets);
    return { words: this.describe().join(' '), bytes: bytes.length < 4096 ? bytes.toString('hex') : createHash('sha256').update(bytes).digest('hex') };
  }

  /** Each packet numbered: its kind (ERR with its code), then `closed` if the server ended. */
  private describe(): string[] {
    const out = this.packets.map((p) => {
      const first = p[4];
      const kind = first === 0xff ? `ERR${p.readUInt16LE(5)}` : first === 0x00 ? 'OK' : first === 0xfe && p.length < 13 ? 'EOF' : 'R';
      return `${p[3]}:${kind}`;
    });
    return this.closed ? [...out, 'closed'] : out;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Where the COMMIT fails: directly, by `real`; through the proxy, by the error drawn. */
interface Side {
  port: number;
  failing(real: () => Promise<unknown>): Promise<void>;
  done(): Promise<void>;
}

const directSide = (port: number): Side => ({ port, failing: async (real) => { await real(); }, done: async () => {} });

const proxySide = (p: Proxy, kind = '1205'): Side => ({
  port: p.port,
  failing: async () => { await p.setMix({ error: { percent: 100, kind } }); },
  done: async () => { await p.setMix(''); },
});

describe.skipIf(!haveMariadb())('mysql: an error injected on a COMMIT behind statements of its query (real MariaDB)', () => {
  let admin: mysql2.Connection;
  beforeAll(async () => {
    // Grant tables: a user without the privilege to write on a read-only server.
    db = await startMariadb({ grants: true });
    admin = await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', multipleStatements: true });
    await admin.query("CREATE DATABASE chaos; USE chaos; CREATE TABLE r (id INT PRIMARY KEY) ENGINE=InnoDB; CREATE USER app@'%'; GRANT ALL ON chaos.* TO app@'%'");
  });
  afterAll(async () => {
    await admin?.end();
    await db?.stop();
  });

  /** Until the connection `id` sleeps in its SLEEP(). */
  const sleeping = async (id: string) => {
    for (const deadline = Date.now() + 5000; ;) {
      const [rows] = await admin.query('SELECT 1 FROM information_schema.processlist WHERE id = ? AND state = ?', [id, 'User sleep']);
      if ((rows as unknown[]).length > 0) return;
      if (Date.now() > deadline) throw new Error('SLEEP never ran');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  // A real COMMIT behind statements of its query runs after them: their results, each saying
  // more follow, then its ERR, numbered after them. The proxy replaced the whole reply with the
  // error (numbered 1), the results lost. One of them failing, the server stops there, the
  // COMMIT (the ROLLBACK in its place) never run, the transaction still open: through the proxy
  // the client was told the injected error (the COMMIT failed) instead of the statement's. And
  // a connection killed among them: the results so far, then the close; through the proxy, the
  // close alone.
  it('the statements\' results come ahead of the error; one failing, the server\'s own error is the client\'s; a kill among them passes them', async () => {
    const scenario = async (side: Side) => {
      const out: { words: string; bytes: string }[] = [];
      const c = await Raw.connect(side.port);
      try {
        await admin.query('TRUNCATE r');
        await c.q('SET SESSION lock_wait_timeout = 1');
        const id = await c.value('SELECT CONNECTION_ID()');
        out.push(await c.q('BEGIN'), await c.q('INSERT INTO r VALUES (1)'));
        // Directly, the COMMIT waits behind a backup's lock until lock_wait_timeout: 1205.
        await side.failing(() => admin.query('FLUSH TABLES WITH READ LOCK'));
        out.push(await c.q('SELECT 1; SELECT id FROM r; COMMIT'));
        await side.done();
        await admin.query('UNLOCK TABLES');
        // The transaction ended, rolled back.
        out.push(await c.q('SELECT @@in_transaction, (SELECT COUNT(*) FROM r)'));

        out.push(await c.q('INSERT INTO r VALUES (2)'), await c.q('BEGIN'), await c.q('INSERT INTO r VALUES (3)'));
        await side.failing(async () => {});
        out.push(await c.q('SELECT 1; INSERT INTO r VALUES (2); COMMIT'));
        await side.done();
        // Still open: the client's ROLLBACK ends it.
        out.push(await c.q('SELECT @@in_transaction'), await c.q('ROLLBACK'));

        // A query whose SLEEP is killed as it runs (the query, or the connection), its COMMIT drawn an error.
        const killedAmid = async (what: 'QUERY' | 'CONNECTION') => {
          out.push(await c.q('BEGIN'));
          await side.failing(async () => {});
          c.send('SELECT 1; SELECT SLEEP(5); COMMIT');
          await sleeping(id);
          await admin.query(`KILL ${what} ${id}`);
          out.push(await c.reply());
          await side.done();
        };
        await killedAmid('QUERY');
        out.push(await c.q('SELECT @@in_transaction'), await c.q('ROLLBACK'));
        await killedAmid('CONNECTION');
        return out;
      } finally {
        c.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct.map((r) => r.words)).toEqual([
      '1:OK', '1:OK',
      '1:R 2:R 3:EOF 4:R 5:EOF 6:R 7:R 8:EOF 9:R 10:EOF 11:ERR1205', '1:R 2:R 3:R 4:EOF 5:R 6:EOF',
      '1:OK', '1:OK', '1:OK', '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1062', '1:R 2:R 3:EOF 4:R 5:EOF', '1:OK',
      '1:OK', '1:R 2:R 3:EOF 4:R 5:EOF 6:R 7:R 8:EOF 9:ERR1317', '1:R 2:R 3:EOF 4:R 5:EOF', '1:OK',
      '1:OK', '1:R 2:R 3:EOF 4:R 5:EOF closed',
    ]);
    // Through the proxy, the server's bytes whole in a read, then cut into pieces of 5 (the
    // headers and the server's ERRs among them).
    for (const piece of [0, 5]) {
      const relay = piece > 0 ? await startSlicingRelay(db.port, piece, 'server', 1) : undefined;
      try {
        await withProxy('', async (p) => {
          // Byte for byte: the injected 1205 is MariaDB's own packet, numbered as the COMMIT's.
          expect(await scenario(proxySide(p)), `pieces of ${piece}`).toEqual(direct);
          // The first; the others' COMMIT never ran: the server's error, or its end, was the client's.
          expect(p.stats().behaviors.error).toBe(1);
          expect(p.stats().fallbacks).toBe(0);
        }, { upstream: relay?.port ?? db.port });
      } finally {
        await relay?.close();
      }
    }
  });

  // mysql2 is told the statement's own error, where the proxy told it the injected one: the
  // COMMIT failed, so the transaction ended, while the server's was still open.
  it('mysql2 gets the error of a statement before the COMMIT that fails, and its transaction is still open', async () => {
    const scenario = async (side: Side) => {
      const c = await mysql2.createConnection({ host: '127.0.0.1', port: side.port, user: 'root', database: 'chaos', multipleStatements: true });
      try {
        await admin.query('TRUNCATE r; INSERT INTO r VALUES (1)');
        await c.query('BEGIN; INSERT INTO r VALUES (2)');
        await side.failing(async () => {});
        const err = await c.query('SELECT 1; INSERT INTO r VALUES (1); COMMIT').then(() => undefined, (e) => ({ errno: e.errno, sqlState: e.sqlState }));
        await side.done();
        const [open] = await c.query('SELECT @@in_transaction AS open, (SELECT COUNT(*) FROM r) AS n');
        await c.query('ROLLBACK');
        return [err, open];
      } finally {
        c.destroy();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual([{ errno: 1062, sqlState: '23000' }, [{ open: 1, n: 2 }]]);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p))).toEqual(direct);
      // Withdrawn: the client was told the server's error, nothing of the proxy's.
      expect(p.stats().behaviors.error ?? 0).toBe(0);
    });
  });

  // 1290 meets a query's write, never its COMMIT: a read-only server runs the statements before
  // the write, refuses it and runs none of the rest, the transaction left open. The proxy sent
  // the statements before the COMMIT with a ROLLBACK in its place: the write done then undone,
  // the transaction ended, and the client told the write's OK, then 1290 as if for the COMMIT.
  // Then it withheld such a query whole, the results of the statements before the write lost
  // and what they did (a temporary table made) not done. Now those statements go, with DO 0 in
  // the write's place: their results, then 1290; one failing, its own error (a syntax error
  // quoting the client's text, not the DO 0).
  it('1290 on a query runs the statements before its write, refuses the write, and leaves the transaction open, as a read-only server does', async () => {
    const scenario = async (side: Side) => {
      const c = await Raw.connect(side.port, 'app');
      try {
        const out = [await c.q('BEGIN')];
        await side.failing(() => admin.query('SET GLOBAL read_only = 1'));
        out.push(await c.q('INSERT INTO r VALUES (2); COMMIT'));
        out.push(await c.q('SELECT 1; INSERT INTO r VALUES (2); COMMIT'));
        // The temporary table is made, so its writes are served.
        out.push(await c.q('CREATE TEMPORARY TABLE tt (a INT); INSERT INTO r VALUES (3)'), await c.q('INSERT INTO tt VALUES (1)'));
        // A SELECT the server cannot parse (SELEC would be a statement the proxy cannot read: refused).
        out.push(await c.q('SELECT 1; SELECT 2 FRO x y; INSERT INTO r VALUES (4)'));
        await side.done();
        await admin.query('SET GLOBAL read_only = 0');
        const open = await c.value('SELECT @@in_transaction');
        out.push(await c.q('ROLLBACK'));
        return { out, open, rows: await c.value('SELECT COUNT(*) FROM r'), temporary: await c.value('SELECT COUNT(*) FROM tt') };
      } finally {
        c.close();
      }
    };
    await admin.query('TRUNCATE r');
    const direct = await scenario(directSide(db.port));
    // The temporary table is there, its row rolled back with the transaction.
    expect(direct).toMatchObject({ open: '1', rows: '0', temporary: '0' });
    expect(direct.out.map((r) => r.words)).toEqual([
      '1:OK', '1:ERR1290', '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1290', '1:OK 2:ERR1290', '1:OK', '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1064', '1:OK',
    ]);
    expect(Buffer.from(direct.out[5].bytes, 'hex').toString('latin1')).toContain("near 'x y; INSERT INTO r VALUES (4)' at line 1");
    await withProxy('', async (p) => {
      // Byte for byte: the results before the write are the server's, the 1290 MariaDB's own packet.
      expect(await scenario(proxySide(p, '1290'))).toEqual(direct);
      // The syntax error is the server's: withdrawn.
      expect(p.stats().behaviors.error).toBe(3);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // A statement before the COMMIT the server cannot read stops the query with 1064, whose text
  // quotes the query from there: through the proxy it quoted the ROLLBACK sent in the COMMIT's
  // place ("near 'SELEC 2;  ROLLBACK AND NO CHAIN NO RELEASE'"). And a temporary table made
  // before a COMMIT that fails is made all the same (checked: 1205 behind a backup's lock, then
  // read-only, its INSERT served), which the proxy did not learn, so 1290 refused its writes.
  it('a syntax error before the COMMIT quotes the client\'s query; a temporary table made before it is known at 1290', async () => {
    const long = `SELECT '${'é'.repeat(30)}'`;
    const scenario = async (side: Side, readOnly: Side) => {
      const c = await Raw.connect(side.port, 'app');
      try {
        await admin.query('TRUNCATE r');
        await side.failing(async () => {});
        const out = [await c.q('SELECT 1; SELEC 2; COMMIT'), await c.q('SELECT 1;; COMMIT AND NO CHAIN'), await c.q(`SELECT 1; SELEC 2; COMMIT;  ${long}`)];
        out.push(await c.q(`SELECT 1; SELEC 2 ${'x'.repeat(60)}; COMMIT; ${long}`));
        await side.done();
        await c.q('SET SESSION lock_wait_timeout = 1');
        out.push(await c.q('BEGIN'), await c.q('INSERT INTO r VALUES (1)'));
        await side.failing(() => admin.query('FLUSH TABLES WITH READ LOCK'));
        out.push(await c.q('CREATE TEMPORARY TABLE t3 (a INT); COMMIT'));
        await side.done();
        await admin.query('UNLOCK TABLES');
        await readOnly.failing(() => admin.query('SET GLOBAL read_only = 1'));
        out.push(await c.q('INSERT INTO t3 VALUES (1)'));
        await readOnly.done();
        await admin.query('SET GLOBAL read_only = 0');
        return out;
      } finally {
        c.close();
      }
    };
    const direct = await scenario(directSide(db.port), directSide(db.port));
    expect(direct.map((r) => r.words)).toEqual([
      '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1064', '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1064', '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1064', '1:R 2:R 3:EOF 4:R 5:EOF 6:ERR1064',
      '1:OK', '1:OK', '1:OK 2:ERR1205', '1:OK',
    ]);
    const text = (i: number) => Buffer.from(direct[i].bytes, 'hex').toString('utf8');
    expect(text(0)).toContain("near 'SELEC 2; COMMIT' at line 1");
    expect(text(1)).toContain("near '; COMMIT AND NO CHAIN' at line 1");
    // Past 80 bytes, cut at a character's start ('é' is two), then '...'.
    expect(text(2)).toContain(`near 'SELEC 2; COMMIT;  SELECT '${'é'.repeat(25)}...' at line 1`);
    expect(text(3)).toContain(`near 'SELEC 2 ${'x'.repeat(60)}; COMMIT;...' at line 1`);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p), proxySide(p, '1290'))).toEqual(direct);
      // The COMMIT of the temporary table drew 1205; the syntax errors were the server's.
      expect(p.stats().behaviors.error).toBe(1);
    });
  });

  // A result before the COMMIT whose row is over 16 MiB: its packets are numbered on through the
  // continuation packets, which the proxy checks as the reply's.
  it('a row of more than 16 MiB before the COMMIT passes ahead of the error', async () => {
    const scenario = async (side: Side) => {
      const c = await Raw.connect(side.port);
      try {
        await admin.query('TRUNCATE r');
        await c.q('SET SESSION lock_wait_timeout = 1');
        await c.q('BEGIN');
        await c.q('INSERT INTO r VALUES (1)');
        await side.failing(() => admin.query('FLUSH TABLES WITH READ LOCK'));
        const reply = await c.q("SELECT REPEAT('x', 17000000) AS big, 2 AS two; COMMIT");
        await side.done();
        await admin.query('UNLOCK TABLES');
        return [reply, await c.q('SELECT @@in_transaction')];
      } finally {
        c.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct[0].words).toBe('1:R 2:R 3:R 4:EOF 5:R 6:R 7:EOF 8:ERR1205');
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().fallbacks).toBe(0);
    });
  });
});
