/**
 * The chaos proxy between pg (and a raw pipelining client) and a real PostgreSQL.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres, POSTGRES_ERRORS } from '../src/proxy/protocols/postgres.js';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { extended, i32, messageClient, msg, simple, startJoiner, startRelay } from './helpers/postgres-wire.js';
import { directSide, proxySide, replies, type Side } from './helpers/postgres-sides.js';

let db: RunningServer;

const withProxy = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });

/**
 * pg settles a failed query on its ErrorResponse, and the transaction status it reports comes
 * with the ReadyForQuery after it, which may arrive in a later read: wait for it.
 */
async function readyForQuery(c: pg.Client): Promise<void> {
  const client = c as unknown as { readyForQuery: boolean; connection: NodeJS.EventEmitter };
  if (!client.readyForQuery) await new Promise((resolve) => client.connection.once('readyForQuery', resolve));
}

async function connect(port: number, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ...extra });
  c.on('error', () => {}); // fatal errors are asserted on the query promises
  await c.connect();
  return c;
}

// A raw client that pipelines queries and uses the framer (test side) to split the replies.
class Raw {
  private session = postgres.createSession();
  private cur: Buffer[] = [];
  readonly done: Buffer[] = [];
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d) => {
      for (const s of this.session.fromServer(d)) {
        if (s.passthrough) continue; // startup, notices
        this.cur.push(s.data);
        if (s.end) { this.done.push(Buffer.concat(this.cur)); this.cur = []; }
      }
    });
    sock.on('error', () => {});
  }

  static async connect(port: number): Promise<Raw> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => { sock.once('connect', () => r()); sock.once('error', j); });
    const raw = new Raw(sock);
    let ready = false;
    sock.on('data', (d) => { if (d.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) ready = true; });
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    raw.write(Buffer.concat([i32(8 + params.length), i32(196608), params]));
    const deadline = Date.now() + 5000;
    while (!ready) {
      if (Date.now() > deadline) throw new Error('no ReadyForQuery');
      await new Promise((r) => setTimeout(r, 5));
    }
    return raw;
  }

  write(b: Buffer): void {
    this.sock.write(Buffer.concat(this.session.fromClient(b).map((s) => s.data)));
  }

  async pipeline(reqs: Buffer[]): Promise<Buffer[]> {
    this.done.length = 0;
    this.write(Buffer.concat(reqs));
    const deadline = Date.now() + 5000;
    while (this.done.length < reqs.length) {
      if (Date.now() > deadline) throw new Error(`only ${this.done.length} of ${reqs.length} replies`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.done.splice(0);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** pg.Connection as pg 8 has it (@types/pg lacks connect and startup, and keeps a `more` argument pg dropped). */
interface PgProtocol extends NodeJS.EventEmitter {
  connect(port: number, host: string): void;
  startup(config: { user: string; database: string }): void;
  parse(query: { name: string; text: string; types: number[] }): void;
  bind(config: { portal: string; statement: string; values: string[] }): void;
  execute(config: { portal: string; rows: number }): void;
  describe(config: { type: 'S' | 'P'; name: string }): void;
  query(text: string): void;
  sync(): void;
  end(): void;
}

/**
 * pg's protocol layer (pg.Connection), driven as clients that prepare the unnamed statement and
 * bind it in later requests drive it (libpq's PQprepare and PQexecPrepared with "", pgx's
 * describe-exec mode). `send` writes a request and says what came back: the rows' values or
 * the error's code, then the ReadyForQuery status.
 */
async function protocolConnection(port: number): Promise<{ send(write: (c: PgProtocol) => void): Promise<string>; end(): void }> {
  const con = new pg.Connection() as unknown as PgProtocol;
  let got: string[] = [];
  let ready: (() => void) | undefined;
  con.on('message', (m: { name: string; fields?: string[]; code?: string; status?: string }) => {
    if (m.name === 'dataRow') got.push(m.fields!.join(','));
    else if (m.name === 'error') got.push(m.code!);
    else if (m.name === 'readyForQuery') { got.push(m.status!); ready?.(); }
  });
  con.on('error', () => {});
  const untilReady = () => new Promise<void>((r) => { ready = r; });
  const started = untilReady();
  con.once('connect', () => con.startup({ user: 'postgres', database: 'postgres' }));
  con.connect(port, '127.0.0.1');
  await started;
  return {
    async send(write) {
      got = [];
      const done = untilReady();
      write(con);
      await done;
      return got.join(' ');
    },
    end: () => con.end(),
  };
}

/**
 * A relay between the proxy and the server that records the requests the server is sent and,
 * once told to hold, keeps the server's replies until that many requests have come: a proxy
 * that waited for a reply before it sent a request would never get one.
 */
async function startGate(upstream: number): Promise<{ port: number; requests: string[]; hold(n: number): void; close(): void }> {
  const requests: string[] = [];
  let holdUntil = 0;
  const relay = await startRelay(upstream, (down, up) => {
    const session = postgres.createSession();
    const held: Buffer[] = [];
    let cur: Buffer[] = [];
    down.on('data', (d: Buffer) => {
      for (const s of session.fromClient(d)) {
        if (s.passthrough) continue;
        cur.push(s.data);
        if (s.end) { requests.push(Buffer.concat(cur).toString('latin1')); cur = []; }
      }
      up.write(d);
      if (requests.length >= holdUntil) for (const b of held.splice(0)) down.write(b);
    });
    up.on('data', (d: Buffer) => {
      session.fromServer(d);
      if (requests.length < holdUntil) held.push(d);
      else down.write(d);
    });
  });
  return { ...relay, requests, hold(n) { requests.length = 0; holdUntil = n; } };
}

describe.skipIf(!havePostgres())('postgres through the chaos proxy (real PostgreSQL)', () => {
  beforeAll(async () => {
    db = await startPostgres();
    const c = await connect(db.port);
    await c.query(`CREATE TABLE t (id int PRIMARY KEY, name text, price numeric(10,2), at timestamptz, data bytea);
      INSERT INTO t VALUES (1, 'one', 1.50, '2024-01-02 03:04:05+00', '\\x00ff10'), (2, 'two', NULL, NULL, NULL), (3, 'trois', 3.25, '2025-06-07 08:09:10+00', decode(repeat('62', 3000), 'hex'))`);
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
        const rows = async (q: Promise<pg.QueryResult>) => (await q).rows;
        out.push(await rows(c.query('SELECT * FROM t ORDER BY id')));
        out.push(await rows(c.query('SELECT id, name, price, at, data FROM t WHERE id >= $1 ORDER BY id', [2])));
        out.push(await rows(c.query({ name: 'one', text: 'SELECT name FROM t WHERE id = $1', values: [1] })));
        out.push(await rows(c.query({ name: 'one', text: 'SELECT name FROM t WHERE id = $1', values: [3] })));
        out.push(((await c.query('SELECT 1 AS a; SELECT 2 AS b')) as unknown as pg.QueryResult[]).map((r) => r.rows));
        out.push(await c.query('SELEKT').catch((e) => ({ code: e.code, severity: e.severity })));
        out.push(await rows(c.query('SELECT g, repeat(\'x\', g % 97) AS pad FROM generate_series(1, 3000) g')));
        out.push(await rows(c.query("SELECT repeat('big', 2000000) AS big")));
        // Portal paging: Execute with a row limit and Flush, the Sync only at the end (the
        // server's reply starts before the request is over).
        out.push(await rows(c.query({ text: 'SELECT generate_series(1, 95) AS n', rows: 10 } as pg.QueryConfig)));
        await c.query('BEGIN');
        out.push((await c.query('UPDATE t SET name = $1 WHERE id = $2', ['uno', 1])).rowCount);
        out.push(c.getTransactionStatus());
        await c.query('ROLLBACK');
        await c.end();
        return JSON.parse(JSON.stringify(out));
      };
      const direct = await scenario(db.port);
      const proxied = await scenario(p.port);
      expect(proxied).toEqual(direct);
      const stats = p.stats();
      expect(stats.fallbacks).toBe(0);
      expect(stats.exchanges).toBeGreaterThanOrEqual(12);
      expect(stats.behaviors.dummy).toBe(stats.exchanges);

      const reqs = [simple('SELECT 1'), extended('SELECT * FROM t ORDER BY id'), simple('SELEKT'), extended("SELECT repeat('p', 100000)"),
        simple('SELECT 1; SELECT 2'), extended('SELECT id FROM t WHERE id = 2'), msg('S', Buffer.alloc(0))];
      const rawDirect = await Raw.connect(db.port);
      const rawProxied = await Raw.connect(p.port);
      try {
        for (let round = 0; round < 5; round++) {
          const a = await rawDirect.pipeline(reqs);
          const b = await rawProxied.pipeline(reqs);
          expect(b.length).toBe(reqs.length);
          expect(b.map((x) => x.toString('hex'))).toEqual(a.map((x) => x.toString('hex')));
        }
      } finally {
        rawDirect.close();
        rawProxied.close();
      }
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // 53300 and 57P03 meet a connection starting up only: proxy-postgres-startup.
  for (const [kind, e] of Object.entries(POSTGRES_ERRORS).filter(([, e]) => e.atStartup !== true)) {
    const fatal = e.severity === 'FATAL';
    it(`100:error kind ${kind}: pg gets a ${e.severity} with code ${kind}${fatal ? ', then the connection closes' : ', and the same client keeps working'}`, async () => {
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        const c = await connect(p.port);
        const err = await c.query('SELECT 1').then(() => undefined, (x) => x);
        expect(err).toBeInstanceOf(pg.DatabaseError);
        expect(err).toMatchObject({ code: kind, severity: e.severity, message: e.message });
        expect(p.stats().behaviors.error).toBe(1);
        if (fatal) {
          const next = await c.query('SELECT 1').then(() => undefined, (x) => x);
          expect(next).toBeInstanceOf(Error);
          expect(String(next.message)).toMatch(/terminated|not queryable|Connection terminated|closed/i);
        } else {
          // The extended protocol gets it too.
          await expect(c.query('SELECT $1::int AS n', [1])).rejects.toMatchObject({ code: kind });
          expect(c.getTransactionStatus()).toBe('I');
          await p.setMix('100:dummy');
          expect((await c.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
          expect((await c.query('SELECT $1::int + 1 AS n', [1])).rows).toEqual([{ n: 2 }]);
          await c.end();
        }
      });
    });
  }

  it('an error injected inside a transaction leaves it failed (ReadyForQuery E) and ROLLBACK recovers', async () => {
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      await c.query('BEGIN');
      expect(c.getTransactionStatus()).toBe('T');
      await p.setMix({ error: { percent: 100, kind: '40001' } });
      await expect(c.query('UPDATE t SET name = name WHERE id = 1')).rejects.toMatchObject({ code: '40001' });
      expect(c.getTransactionStatus()).toBe('E');
      await p.setMix('');
      await c.query('ROLLBACK');
      expect(c.getTransactionStatus()).toBe('I');
      expect((await c.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 3 }]);
      await c.end();
    });
  });

  it('an error injected on COMMIT ends the transaction on the server, as a failed commit does', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE commit_t (id int)');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      // Parse/Bind/Describe/Execute/Sync though it has no parameters (queryMode is not in pg's types).
      const extended = { text: 'COMMIT', queryMode: 'extended', toString: () => 'extended COMMIT' } as pg.QueryConfig;
      // A named statement, parsed in the batch that fails: left unprepared, as pg, told no ParseComplete, expects.
      const named = { name: 'named_commit', text: 'COMMIT', toString: () => 'named COMMIT' } as pg.QueryConfig;
      // A failed COMMIT AND CHAIN starts no new transaction: the server says idle after one.
      // A COMMIT amid statements: those after it never run, as after a failed statement.
      for (const commit of ['COMMIT', 'end;', 'commit work ; ', 'COMMIT AND CHAIN', 'end transaction and no chain;', 'INSERT INTO commit_t VALUES (4); COMMIT',
        "INSERT INTO commit_t VALUES (5); COMMIT; INSERT INTO commit_t VALUES (6) -- it's", 'COMMIT; INSERT INTO commit_t VALUES (7)', extended, named]) {
        await direct.query('TRUNCATE commit_t');
        await c.query('BEGIN');
        await c.query('INSERT INTO commit_t VALUES (1)');
        await p.setMix({ error: { percent: 100, kind: '40001' } });
        await expect(c.query(commit), String(commit)).rejects.toMatchObject({ code: '40001' });
        await p.setMix('');
        expect(c.getTransactionStatus(), String(commit)).toBe('I');
        await c.query('INSERT INTO commit_t VALUES (2)');
        expect((await direct.query('SELECT id FROM commit_t')).rows, String(commit)).toEqual([{ id: 2 }]);
        expect((await direct.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows, String(commit)).toEqual([{ state: 'idle' }]);
      }
      // pg parses the named statement again, and the server, which never kept it, takes it.
      await c.query('BEGIN');
      await c.query('INSERT INTO commit_t VALUES (3)');
      await c.query(named);
      expect((await direct.query('SELECT id FROM commit_t ORDER BY id')).rows).toEqual([{ id: 2 }, { id: 3 }]);
      // Prepared now, it is sent as Bind/Describe/Execute/Sync alone (as JDBC sends its COMMIT
      // after prepareThreshold uses): known by its name, it gets ROLLBACK too, and stays prepared.
      await c.query('BEGIN');
      await c.query('INSERT INTO commit_t VALUES (5)');
      await p.setMix({ error: { percent: 100, kind: '40001' } });
      await expect(c.query(named)).rejects.toMatchObject({ code: '40001' });
      await p.setMix('');
      expect(c.getTransactionStatus()).toBe('I');
      expect((await direct.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows).toEqual([{ state: 'idle' }]);
      await c.query('BEGIN');
      await c.query('INSERT INTO commit_t VALUES (6)');
      await c.query(named);
      expect((await direct.query('SELECT id FROM commit_t ORDER BY id')).rows).toEqual([{ id: 2 }, { id: 3 }, { id: 6 }]);
      await c.end();
    });
    await direct.end();
  });

  // A COMMIT behind statements of the client's in one simple query: a real one that fails runs
  // after them, their results (RowDescription, rows, CommandComplete) ahead of its error. The
  // proxy replaced the whole reply: the error alone. And a server ended while they run (its FATAL
  // after a RowDescription): a client of the server gets them, the FATAL, then the close; through
  // the proxy it got the close alone, the FATAL lost with the reply it was in. One of them
  // failing, a client of the server gets its error and 'E' (the COMMIT skipped): the proxy told
  // the injected error and 'I', and the server refused the next statements with 25P02.
  it('an error injected on a COMMIT behind statements of its query comes after their results; a FATAL among them passes', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, send } = replies(c);
      try {
        await send(simple('CREATE TABLE prefix_t (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)'));
        await send(simple('BEGIN; INSERT INTO prefix_t VALUES (1)'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        // Directly, the COMMIT fails on the deferred constraint, after the statements before it.
        await send(simple(`SELECT 1; INSERT INTO prefix_t VALUES (${side.sql('1', '2')}); /* none */; COMMIT`));
        await side.disarm();
        // Rolled back: no row.
        await send(simple('SELECT count(*) FROM prefix_t HAVING count(*) > 0'));
        await send(simple('DROP TABLE prefix_t'));
        // One of them fails: the rest is skipped, the COMMIT (the ROLLBACK) too, and the block
        // stays failed; the COMMIT's place never came, so its error is withdrawn.
        await send(simple('CREATE TABLE prefix_u (id int UNIQUE)'));
        await send(simple('BEGIN; INSERT INTO prefix_u VALUES (1)'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        await send(simple('SELECT 1; INSERT INTO prefix_u VALUES (1); COMMIT'));
        await side.disarm();
        await send(simple('SELECT 1'));
        await send(simple('ROLLBACK; DROP TABLE prefix_u'));
        await send(simple("SET application_name = 'prefix_fatal'"));
        await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        c.write(simple('SELECT pg_sleep(5); COMMIT'));
        for (const deadline = Date.now() + 5000; ;) {
          other.write(simple("SELECT 1 FROM pg_stat_activity WHERE application_name = 'prefix_fatal' AND wait_event = 'PgSleep'"));
          if ((await other.until('Z')).some((m) => m.type === 'D')) break;
          if (Date.now() > deadline) throw new Error('pg_sleep never ran');
          await new Promise((r) => setTimeout(r, 10));
        }
        other.write(simple("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'prefix_fatal'"));
        await c.closed;
        out.push(c.pending());
        await side.disarm();
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual([
      'C ZI', 'C C ZT', 'T D C C E ZI', 'T C ZI', 'C ZI', 'C ZI', 'C C ZT', 'T D C E ZE', 'E ZE', 'C C ZI', 'C S ZI', 'C ZT', 'T E57P01',
    ]);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p))).toEqual(direct);
      // The FATAL's: its COMMIT's place never came.
      expect(p.stats().behaviors.error).toBe(1);
    });
  });

  // Each form is first run as it is, to show the server takes it for a COMMIT, then with the error.
  it('an error injected on a COMMIT with comments or blanks among its words ends the transaction too', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE commit_forms (id int)');
    const extended = (text: string) => ({ text, queryMode: 'extended', toString: () => `extended ${JSON.stringify(text)}` }) as pg.QueryConfig;
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      for (const commit of ['COMMIT /* x */', 'commit -- note\n', '-- done\ncommit', '/* a */ COMMIT WORK /* b */;', 'END', 'END TRANSACTION', 'COMMIT WORK',
        ' commit ;\n ', '\ncommit\n;\n', 'INSERT INTO commit_forms VALUES (4); COMMIT -- done\n', extended('commit -- x')]) {
        const what = typeof commit === 'string' ? JSON.stringify(commit) : String(commit);
        for (const error of [false, true]) {
          await direct.query('TRUNCATE commit_forms');
          await c.query('BEGIN');
          await c.query('INSERT INTO commit_forms VALUES (1)');
          if (error) {
            await p.setMix({ error: { percent: 100, kind: '40001' } });
            await expect(c.query(commit), what).rejects.toMatchObject({ code: '40001' });
            await p.setMix('');
            await c.query('INSERT INTO commit_forms VALUES (2)');
          } else {
            await c.query(commit);
          }
          expect(c.getTransactionStatus(), what).toBe('I');
          const rows = (await direct.query('SELECT id FROM commit_forms ORDER BY id')).rows.map((r) => r.id);
          expect(rows, `${what}${error ? ' failed' : ''}`).toEqual(error ? [2] : commit === 'INSERT INTO commit_forms VALUES (4); COMMIT -- done\n' ? [1, 4] : [1]);
          expect((await direct.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows, what).toEqual([{ state: 'idle' }]);
        }
      }
      await c.end();
    });
    await direct.end();
  });

  // Where the proxy cannot read a query's statements for sure (a dollar quote here), it cannot
  // send those before its COMMIT: the whole query fails in the block, as it does on the server
  // when its first statement fails. Nothing is committed; the client ends the block itself.
  it('an error on a query holding a COMMIT it cannot read for sure fails it whole, as the server fails it on its first statement', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE unread_t (id int)');
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const told = async (q: string) => {
        const r = await c.query(q).then((x) => x.command ?? (x as unknown as pg.QueryResult[]).map((y) => y.command).join(','), (e: pg.DatabaseError) => e.code);
        await readyForQuery(c);
        return `${r} ${c.getTransactionStatus()}`;
      };
      const scenario = async (query: string, error: boolean) => {
        await direct.query('TRUNCATE unread_t');
        const out = [await told('BEGIN'), await told('INSERT INTO unread_t VALUES (1)')];
        if (error) await p.setMix({ error: { percent: 100, kind: '40001' } });
        out.push(await told(query));
        await p.setMix('');
        out.push((await direct.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].state);
        out.push(await told('INSERT INTO unread_t VALUES (2)'), await told('COMMIT'));
        out.push(JSON.stringify((await direct.query('SELECT id FROM unread_t')).rows));
        return out;
      };
      const rest = '; COMMIT; INSERT INTO unread_t VALUES (6)';
      const server = await scenario(`SELECT 1/0, $$x$$${rest}`, false);
      expect(server).toEqual(['BEGIN T', 'INSERT T', '22012 E', 'idle in transaction (aborted)', '25P02 E', 'ROLLBACK I', '[]']);
      expect(await scenario(`INSERT INTO unread_t VALUES (length($$x$$))${rest}`, true)).toEqual([...server.slice(0, 2), '40001 E', ...server.slice(3)]);
      await c.end();
    });
    await direct.end();
  });

  // PostgreSQL refuses every statement after an error in a transaction block (25P02) and rolls
  // the block back at its COMMIT: the proxy must leave the server so after an injected error too,
  // or a client that goes on regardless has its later statements run and committed.
  it('an error injected inside a transaction block aborts it on the server, as a real error does: 25P02, then COMMIT rolls back', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE block_t (id int)');
    const extendedQuery = (text: string) => ({ text, queryMode: 'extended', toString: () => `extended ${text}` }) as pg.QueryConfig;
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const told = async (q: string | pg.QueryConfig, values?: unknown[]) => {
        const r = await c.query(q, values).then((x) => x.command, (e: pg.DatabaseError) => `${e.code} ${e.message}`);
        await readyForQuery(c);
        return `${r} ${c.getTransactionStatus()}`;
      };
      /** BEGIN, INSERT 1, `fail`, INSERT 3 (simple), INSERT 4 (extended), `commit`: what the client is told, and what is left. */
      const scenario = async (fail: () => Promise<string>, commit: string | pg.QueryConfig) => {
        await direct.query('TRUNCATE block_t');
        const out = [await told('BEGIN'), await told('INSERT INTO block_t VALUES (1)'), await fail(),
          await told('INSERT INTO block_t VALUES (3)'), await told('INSERT INTO block_t VALUES ($1)', [4]), await told(commit)];
        out.push(JSON.stringify((await direct.query('SELECT id FROM block_t')).rows));
        out.push((await direct.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].state);
        return out;
      };
      const injected = (q: string | pg.QueryConfig, values?: unknown[]) => async () => {
        await p.setMix({ error: { percent: 100, kind: '40001' } });
        try {
          return await told(q, values);
        } finally {
          await p.setMix('');
        }
      };
      const aborted = '25P02 current transaction is aborted, commands ignored until end of transaction block E';
      for (const commit of ['COMMIT', 'end work;', extendedQuery('COMMIT')]) {
        const real = await scenario(() => told('SELECT 1/0'), commit);
        expect(real, String(commit)).toEqual(['BEGIN T', 'INSERT T', '22012 division by zero E',
          aborted, aborted, 'ROLLBACK I', '[]', 'idle']);
        // Simple and extended; the last one's parameter comes in many reads, the stand-in in place of the first.
        for (const fail of [injected('INSERT INTO block_t VALUES (2)'), injected('INSERT INTO block_t VALUES ($1)', [2]), injected(extendedQuery('SELECT 2')),
          injected('INSERT INTO block_t SELECT length($1)', ['x'.repeat(1 << 20)])]) {
          const got = await scenario(fail, commit);
          expect(got, String(commit)).toEqual([...real.slice(0, 2), `40001 ${POSTGRES_ERRORS['40001'].message} E`, ...real.slice(3)]);
        }
      }
      // ROLLBACK ends the aborted block as it does a real one; the connection goes on.
      await told('BEGIN');
      expect(await injected('INSERT INTO block_t VALUES (5)')()).toBe(`40001 ${POSTGRES_ERRORS['40001'].message} E`);
      expect(await told('ROLLBACK')).toBe('ROLLBACK I');
      expect(await told('INSERT INTO block_t VALUES (6)')).toBe('INSERT I');
      expect((await direct.query('SELECT id FROM block_t')).rows).toEqual([{ id: 6 }]);
      await c.end();
      // Pipelined: the requests behind the failed one, framed before its error was drawn, get
      // the server's own replies, byte for byte those that follow a real error.
      const raw = await Raw.connect(p.port);
      try {
        const after = [simple('INSERT INTO block_t VALUES (7)'), extended('INSERT INTO block_t VALUES (8)'), simple('COMMIT')];
        await raw.pipeline([simple('BEGIN')]);
        const real = await raw.pipeline([simple('SELECT 1/0'), ...after]);
        await raw.pipeline([simple('BEGIN')]);
        await p.setMix({ transient: { percent: 100, agitate: 1, kind: '40001' } });
        const got = await raw.pipeline([simple('INSERT INTO block_t VALUES (9)'), ...after]);
        await p.setMix('');
        expect(got[0].toString('latin1')).toContain('40001');
        expect(got.slice(1).map((r) => r.toString('latin1'))).toEqual(real.slice(1).map((r) => r.toString('latin1')));
        expect(real[3].toString('latin1')).toContain('ROLLBACK');
        expect((await direct.query('SELECT id FROM block_t')).rows).toEqual([{ id: 6 }]);
      } finally {
        raw.close();
      }
      expect(p.stats().fallbacks).toBe(0);
    });
    await direct.end();
  });

  // The injected error leaves the unnamed statement as a real error does. Prepared by an earlier
  // request, it stays, for the client to bind again (25P02 in the failed block, as after a real
  // error); parsed by the failing request itself, it is that one, as after a statement that
  // fails as it runs, never the one prepared before.
  it('an error injected where a client binds the unnamed statement leaves it as a real error does', async () => {
    await withProxy('', async (p) => {
      const con = await protocolConnection(p.port);
      const injected = async (request: () => Promise<string>) => {
        await p.setMix({ error: { percent: 100, kind: '40001' } });
        try {
          return await request();
        } finally {
          await p.setMix('');
        }
      };
      const prepare = (text: string) => con.send((c) => { c.parse({ name: '', text, types: [] }); c.describe({ type: 'S', name: '' }); c.sync(); });
      const run = (v: string) => con.send((c) => { c.bind({ portal: '', statement: '', values: [v] }); c.execute({ portal: '', rows: 0 }); c.sync(); });
      const parseAndRun = (text: string) => con.send((c) => {
        c.parse({ name: '', text, types: [] }); c.bind({ portal: '', statement: '', values: ['5'] }); c.execute({ portal: '', rows: 0 }); c.sync();
      });
      try {
        for (const block of [false, true]) {
          const status = block ? 'E' : 'I';
          const scenario = async (before: string, fail: () => Promise<string>) => {
            if (block) await con.send((c) => c.query('BEGIN')); // a simple query drops the unnamed statement: prepared after it
            await prepare(before);
            const out = [await fail(), await run('5')];
            if (block) await con.send((c) => c.query('ROLLBACK'));
            return out;
          };
          const reused = await scenario('SELECT 10 / $1::int', () => run('0'));
          expect(reused, `block ${block}`).toEqual([`22012 ${status}`, block ? '25P02 E' : '2 I']);
          expect(await scenario('SELECT 10 / $1::int', () => injected(() => run('1'))), `block ${block}`).toEqual([`40001 ${status}`, reused[1]]);
          const reparsed = await scenario('SELECT 0 WHERE $1::int > 0', () => parseAndRun('SELEC 10 / $1::int'));
          expect(reparsed, `block ${block}`).toEqual([`42601 ${status}`, `26000 ${status}`]);
          // The injected kinds are errors met as a statement runs: the one it parsed stays, bound
          // after it (a division by zero that fails as it runs, for 5, directly; never run through the proxy).
          const failing = 'SELECT 10 / ($1::int - 5 + floor(random())::int)';
          const ran = await scenario('SELECT 0 WHERE $1::int > 0', () => parseAndRun(failing));
          expect(ran, `block ${block}`).toEqual([`22012 ${status}`, block ? '25P02 E' : '22012 I']);
          expect(await scenario('SELECT 0 WHERE $1::int > 0', () => injected(() => parseAndRun(failing))), `block ${block}`).toEqual([`40001 ${status}`, ran[1]]);
        }
      } finally {
        con.end();
      }
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // The last ReadyForQuery says idle while a pipelined BEGIN's reply has not come back; the
  // requests behind it run in its block all the same. Every reply is held until the server has
  // all the requests (startGate): the proxy decides without waiting for one.
  it('an error injected behind a pipelined BEGIN not yet answered aborts the block; a pipeline with no transaction costs nothing', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE pipe_t (id int)');
    const gate = await startGate(db.port);
    const p = await startProxy({ name: 'pg', listen: '127.0.0.1:0', upstream: `127.0.0.1:${gate.port}`, protocol: 'postgres', behaviors: '', seed: 1 });
    const raw = await Raw.connect(p.port);
    const rows = async () => (await direct.query('SELECT id FROM pipe_t ORDER BY id')).rows.map((r) => r.id);
    const status = (reply: Buffer) => String.fromCharCode(reply[reply.length - 1]);
    /** `reqs` pipelined, the one at `at` drawing an error, replies held until the server has `sent` requests. */
    const injected = async (reqs: Buffer[], at: number, sent: number) => {
      await p.setMix({ transient: { percent: 100, warmup: at, agitate: 1, kind: '40001' } });
      gate.hold(sent);
      try {
        return { replies: await raw.pipeline(reqs), sent: [...gate.requests] };
      } finally {
        gate.hold(0);
        await p.setMix('');
      }
    };
    try {
      const insert = (id: number) => simple(`INSERT INTO pipe_t VALUES (${id})`);
      const block = (failing: Buffer) => [simple('BEGIN'), insert(1), failing, insert(3), extended('INSERT INTO pipe_t VALUES (4)'), simple('COMMIT')];
      const real = await raw.pipeline(block(simple('SELECT 1/0')));
      expect(real.map(status)).toEqual(['T', 'T', 'E', 'E', 'E', 'I']);
      expect(await rows()).toEqual([]);
      const got = await injected(block(insert(2)), 2, 6);
      expect(got.replies[2].toString('latin1')).toContain('40001');
      expect(status(got.replies[2])).toBe('E');
      // Byte for byte the replies a real error leaves: 25P02 for 3 and 4, ROLLBACK for the COMMIT.
      expect(got.replies.filter((_, i) => i !== 2).map((r) => r.toString('latin1'))).toEqual(real.filter((_, i) => i !== 2).map((r) => r.toString('latin1')));
      expect(got.sent).toHaveLength(6);
      expect(got.sent[2]).toContain('marteau-tui');
      expect(await rows()).toEqual([]);

      // No transaction statement in flight: withheld, as the idle connection it is.
      const idle = await injected([insert(10), insert(11), insert(12)], 1, 2);
      expect(idle.replies[1].toString('latin1')).toContain('40001');
      expect(idle.replies.map(status)).toEqual(['I', 'I', 'I']);
      expect(idle.sent).toEqual([insert(10), insert(12)].map((r) => r.toString('latin1')));
      expect(await rows()).toEqual([10, 12]);

      // A COMMIT in flight ends the block: the stand-in then fails outside one, and the client
      // is told idle, as the server says after it.
      await direct.query('TRUNCATE pipe_t');
      await raw.pipeline([simple('BEGIN')]);
      const ended = await injected([insert(20), simple('COMMIT'), insert(21), insert(22)], 2, 4);
      expect(ended.replies[2].toString('latin1')).toContain('40001');
      expect(ended.replies.map(status)).toEqual(['T', 'I', 'I', 'I']);
      expect(ended.sent[2]).toContain('marteau-tui');
      expect(await rows()).toEqual([20, 22]);

      // The same decided on a drawn error with no hook (the proxy's fast path): the BEGIN goes
      // first, its reply held, then every request draws an error.
      await direct.query('TRUNCATE pipe_t');
      gate.hold(3);
      raw.done.length = 0;
      raw.write(simple('BEGIN'));
      while (gate.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
      await p.setMix({ error: { percent: 100, kind: '40001' } });
      raw.write(Buffer.concat([insert(31), simple('COMMIT')]));
      while (raw.done.length < 3) await new Promise((r) => setTimeout(r, 5));
      await p.setMix('');
      expect(raw.done.map(status)).toEqual(['T', 'E', 'I']);
      expect(gate.requests.map((r) => (r.includes('marteau-tui') ? 'failing' : r.slice(5, 9)))).toEqual(['BEGI', 'failing', 'ROLL']);
      gate.hold(0);
      expect(await rows()).toEqual([]);
      expect(p.stats().fallbacks).toBe(0);
    } finally {
      raw.close();
      await p.close(100);
      gate.close();
      await direct.end();
    }
  });

  it('an injected reply due ahead of the reply to a request still being sent (Parse, Describe, Flush) goes out whole before it', async () => {
    // postgres.js pipelines a query whose parameters it has not described behind others: Parse,
    // Describe, Flush, the rest once the description is in. Here the request before it drew an
    // error whose stand-in (a failing Parse of the unnamed statement) the server answers in the
    // same chunk as that description: the injected reply went in front of the description, in
    // the chunk's memory, at the place the chunk before had ended, written over the bytes of
    // the description itself, which the client read as garbage (postgres.js: 'The server sent
    // a T message with an invalid length', and its connection closed).
    const joiner = await startJoiner(db.port);
    const p = await startProxy({ name: 'pg', listen: '127.0.0.1:0', upstream: `127.0.0.1:${joiner.port}`, protocol: 'postgres', behaviors: '', seed: 1 });
    const c = await messageClient(p.port);
    try {
      const parse = (sql: string) => msg('P', Buffer.from(`\0${sql}\0\0\0`));
      // It parses and describes a statement and runs none: its stand-in is a failing Parse.
      const failing = Buffer.concat([parse('SELECT 1'), msg('D', Buffer.from('S\0')), msg('S', Buffer.alloc(0))]);
      const describing = Buffer.concat([parse('SELECT 2 AS y'), msg('D', Buffer.from('S\0')), msg('H', Buffer.alloc(0))]);
      // How long the server's answer to the stand-in is, then a reply that ends its chunk
      // just past where the same answer and the description will meet in one.
      await p.setMix({ error: { percent: 100, kind: '57014' } });
      let before = joiner.serverBytes();
      c.write(failing);
      await c.until('Z');
      const standIn = joiner.serverBytes() - before;
      await p.setMix('');
      before = joiner.serverBytes();
      c.write(simple("SELECT '' AS x"));
      await c.until('Z');
      const pad = standIn + 20 - (joiner.serverBytes() - before);
      before = joiner.serverBytes();
      c.write(simple(`SELECT '${'x'.repeat(pad)}' AS x`));
      await c.until('Z');
      expect(joiner.serverBytes() - before).toBe(standIn + 20);

      await p.setMix({ fail_first: { percent: 100, exchanges: 1, kind: '57014' } });
      joiner.join();
      c.write(Buffer.concat([failing, describing]));
      const got = await c.until('T');
      expect(got.map((m) => m.type).join('')).toBe('EZ1tT');
      expect(got[0].body.toString('latin1')).toContain('C57014\0');
      expect(got[1].body.toString('latin1')).toBe('I');
      expect(got[4].body.toString('latin1')).toContain('y\0');
      c.write(Buffer.concat([msg('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])), msg('E', Buffer.concat([Buffer.from([0]), i32(0)])), msg('S', Buffer.alloc(0))]));
      const rest = await c.until('Z');
      expect(rest.map((m) => m.type).join('')).toBe('2DCZ');
      expect(rest[1].body.subarray(6).toString('latin1')).toBe('2');
      expect(p.stats().behaviors.fail_first).toBe(1);
    } finally {
      c.close();
      await p.close(100);
      joiner.close();
    }
  });

  it(`the default error kind is ${postgres.defaultError} (FATAL)`, async () => {
    await withProxy('100:error', async (p) => {
      const c = await connect(p.port);
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '57P01', severity: 'FATAL' });
    });
  });

  it('50:error with a seed: about half the exchanges fail, the same ones on a replay', async () => {
    const run = async () => {
      let seen = '';
      await withProxy({ error: { percent: 50, kind: '40001' } }, async (p) => {
        const c = await connect(p.port);
        for (let i = 0; i < 300; i++) {
          seen += await c.query(i % 2 ? 'SELECT $1::int AS i' : `SELECT ${i} AS i`, i % 2 ? [i] : undefined).then((r) => {
            expect(r.rows).toEqual([{ i }]);
            return '.';
          }, (e) => {
            expect(e.code).toBe('40001');
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
        const r = await c.query(i % 2 ? 'SELECT $1::int AS one' : 'SELECT 1 AS one', i % 2 ? [1] : undefined);
        const ms = performance.now() - t;
        expect(r.rows).toEqual([{ one: 1 }]);
        expect(ms).toBeGreaterThanOrEqual(195);
        expect(ms).toBeLessThan(1000);
      }
      // A paged query is one exchange (its Sync comes last): delayed once.
      const t = performance.now();
      const paged = await c.query({ text: 'SELECT generate_series(1, 45) AS n', rows: 10 } as pg.QueryConfig);
      expect(paged.rows.length).toBe(45);
      expect(performance.now() - t).toBeGreaterThanOrEqual(195);
      expect(performance.now() - t).toBeLessThan(1000);
      await c.end();
    });
  });

  // The StartupMessage is an exchange: a connection starting up meets it too, as one in meets it at a query.
  it('100:blackout: the client sees its connection closed, as it starts up or at a query', async () => {
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      await p.setMix('100:blackout');
      const err = await c.query('SELECT 1').then(() => undefined, (x) => x);
      expect(err).toBeInstanceOf(Error);
      expect(String(err.message)).toMatch(/Connection terminated unexpectedly|ECONNRESET/);
      const refused = await connect(p.port).then(() => undefined, (x) => x);
      expect(String(refused?.message)).toMatch(/Connection terminated unexpectedly|ECONNRESET/);
    });
  });

  it('a FATAL error amid pipelined queries: the queries behind it never run, and only it counts', async () => {
    const direct = await connect(db.port);
    await direct.query('CREATE TABLE cut (n int)');
    await withProxy({ fail_first: { percent: 100, exchanges: 1, kind: '57P01' } }, async (p) => {
      const raw = await Raw.connect(p.port);
      let got = '';
      raw.sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      const closed = new Promise<void>((r) => raw.sock.once('close', () => r()));
      // The client was told its connection ended at the first: a server running the rest would
      // have done what nobody asked it (inserts the client believes never happened).
      raw.write(Buffer.concat([simple('SELECT 1'), simple('INSERT INTO cut VALUES (1)'), extended('INSERT INTO cut VALUES (2)')]));
      await closed;
      await new Promise((r) => setTimeout(r, 100));
      // The FATAL ErrorResponse and nothing after it (a FATAL error has no ReadyForQuery).
      expect(got).toContain('57P01');
      expect(got.slice(got.indexOf('57P01'))).not.toMatch(/[CZ]\0\0\0/);
      expect((await direct.query('SELECT count(*)::int AS n FROM cut')).rows[0].n).toBe(0);
      // The StartupMessage (passed: no server refuses one with 57P01) and the first query.
      expect(p.stats().exchanges).toBe(2);
      expect(p.stats().behaviors.fail_first).toBe(1);
    });
    await direct.end();
  });

  it('100:hang: the client times out, as it starts up or at a query', async () => {
    await withProxy('', async (p) => {
      const c = await connect(p.port, { query_timeout: 300 });
      await p.setMix('100:hang');
      const t = performance.now();
      const err = await c.query('SELECT 1').then(() => undefined, (x) => x);
      expect(String(err?.message)).toMatch(/timeout/i);
      expect(performance.now() - t).toBeGreaterThanOrEqual(290);
      await c.end().catch(() => undefined);
      const starting = await connect(p.port, { connectionTimeoutMillis: 300 }).then(() => undefined, (x) => x);
      expect(String(starting?.message)).toMatch(/timeout/i);
    });
  });

  it('notifications and notices through a faulty proxy: only whole exchanges are faulted, async messages always pass', async () => {
    await withProxy({ error: { percent: 30, kind: '57014' } }, async (p) => {
      const c = await connect(p.port);
      const notes: string[] = [];
      c.on('notification', (n) => notes.push(n.payload ?? ''));
      let listening = false;
      while (!listening) listening = await c.query('LISTEN ch').then(() => true, () => false);
      const other = await connect(db.port);
      let ok = 0;
      let failed = 0;
      for (let i = 0; i < 20; i++) {
        await other.query(`NOTIFY ch, '${i}'`);
        try {
          await c.query("DO $$ BEGIN RAISE NOTICE 'n'; END $$");
          ok++;
        } catch (e) {
          expect((e as { code?: string }).code).toBe('57014');
          failed++;
        }
      }
      await other.end();
      expect(ok).toBeGreaterThan(0);
      expect(failed).toBeGreaterThan(0);
      const deadline = Date.now() + 3000;
      while (notes.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(notes).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      await c.end();
      expect(p.stats().fallbacks).toBe(0);
    });
  });
});
