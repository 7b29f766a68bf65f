/**
 * The MySQL error kinds against a real MariaDB put in the state each stands for: the same
 * requests sent to it and through the proxy at 100:error of the kind are refused alike, so the
 * rules of mysql-refusals.ts are checked against the server rather than our reading of it. And
 * a client pings through 100:error, as it pings a server in any of those states.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import mariadb, { type Connection as ConnectorConnection } from 'mariadb';
import mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveMariadb, startMariadb } from './helpers/mariadb.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { tempDir, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';

type Step = [string, (c: mysql2.Connection) => Promise<unknown>];

let db: RunningServer;
let root: mysql2.Connection;
let certs: TestCerts;

const withProxy = proxiesTo(() => db.port, { protocol: 'mysql', seed: 1 });

/** By default a user with every privilege on the test's database and none beyond (no READ ONLY ADMIN). */
const connect = (port: number, user = 'app') =>
  mysql2.createConnection({ host: '127.0.0.1', port, user, database: 'chaos', multipleStatements: true });

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'served', (e: { errno?: number; message: string }) => String(e.errno ?? e.message));

/** The text of the error `sql` gets on a new connection (of app). */
async function errorText(port: number, sql: string): Promise<string> {
  const c = await connect(port);
  try {
    return await c.query(sql).then(() => 'served', (e: { message: string }) => e.message);
  } finally {
    c.destroy();
  }
}

/** Each step on one connection (of `user`), in turn: `name: served` or `name: <the error's code>`. */
async function outcomes(port: number, steps: Step[], user?: string): Promise<string[]> {
  const c = await connect(port, user);
  try {
    const out: string[] = [];
    for (const [name, step] of steps) out.push(`${name}: ${await outcome(step(c))}`);
    return out;
  } finally {
    c.destroy();
  }
}

/** A step on a MariaDB connector connection. */
type ConnectorStep = readonly [string, (c: ConnectorConnection) => Promise<unknown>];

/** Each step on one MariaDB connector connection of app, in turn, said as `outcomes` says them. */
async function connectorOutcomes(port: number, steps: readonly ConnectorStep[]): Promise<string[]> {
  const c = await mariadb.createConnection({ host: '127.0.0.1', port, user: 'app', database: 'chaos' });
  try {
    const out: string[] = [];
    for (const [name, step] of steps) out.push(`${name}: ${await outcome(step(c))}`);
    return out;
  } finally {
    await c.end();
  }
}

/** `run` against the server made read-only, writable again after. */
async function whileReadOnly<T>(run: () => Promise<T>): Promise<T> {
  await root.query('SET GLOBAL read_only = 1');
  try {
    return await run();
  } finally {
    await root.query('SET GLOBAL read_only = 0');
  }
}

/**
 * Requests no kind refuses but the fatal ones: a real server in any of these states serves them
 * (a SET waits for no lock; the MariaDB connector sends SET NAMES as it connects).
 */
const SERVED: Step[] = [
  ['ping', (c) => c.ping()],
  ['change user', (c) => c.changeUser({ user: 'app', database: 'chaos' })],
  ['SET NAMES', (c) => c.query('SET NAMES utf8mb4; SET autocommit = 1')],
];

/**
 * What a server sends first on a new connection: its first packet, and whether it then ended the
 * connection (a greeting, 10, waits for the client: the test ends it).
 */
async function firstPacket(port: number): Promise<{ first: Buffer; ended: boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  let all = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const whole = () => all.length >= 4 && all.length >= 4 + all.readUIntLE(0, 3);
    sock.on('data', (d) => {
      all = Buffer.concat([all, d]);
      if (whole() && all[4] === 10) {
        sock.destroy();
        resolve({ first: all, ended: false });
      }
    });
    sock.on('end', () => { sock.end(); resolve({ first: all, ended: whole() }); });
    sock.on('error', reject);
  });
}

/** A MariaDB connector connection as app over TLS, checking the server's certificate: 'served' once it is in, or the error's code. */
const tlsConnect = (port: number): Promise<string> =>
  outcome(mariadb.createConnection({ host: '127.0.0.1', port, user: 'app', database: 'chaos', ssl: { ca: readFileSync(certs.ca) }, connectTimeout: 5000 })
    .then(async (c) => {
      const [{ Value: cipher }] = await c.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      await c.end();
      if (!cipher) throw new Error('connected without TLS');
    }));

describe.skipIf(!haveMariadb())('mysql: an injected error meets the requests a MariaDB in that state refuses (real MariaDB)', () => {
  beforeAll(async () => {
    certs = await makeCerts(await tempDir('mysql-tls'));
    db = await startMariadb({ grants: true, args: [`--ssl-cert=${certs.cert}`, `--ssl-key=${certs.key}`] });
    root = await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', multipleStatements: true });
    await root.query(
      "CREATE DATABASE chaos; CREATE TABLE chaos.t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; INSERT INTO chaos.t VALUES (1, 1), (2, 2); CREATE SEQUENCE chaos.s; CREATE USER app@'%'; GRANT ALL ON chaos.* TO app@'%'",
    );
  }, 90_000);

  afterAll(async () => {
    await root?.end();
    await db?.stop();
  });

  // As MariaDB 10.11 with read_only answers a user who cannot write anyway (temporary tables: below).
  it('1290 refuses the writes a read-only server refuses, and only those', async () => {
    const steps: Step[] = [
      ...SERVED,
      ['prepare INSERT, close', (c) => c.prepare('INSERT INTO t (id, v) VALUES (?, ?)').then((s) => s.close())],
      ...[
        'SELECT * FROM t', '/* why */ SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE', 'DO 1', 'SET @a = 1', 'SHOW TABLES', 'DESC t', 'EXPLAIN SELECT * FROM t',
        'BEGIN', 'COMMIT', 'INSERT INTO t VALUES (3, 3)', 'UPDATE t SET v = 5', 'DELETE FROM t WHERE id = 9', 'REPLACE INTO t VALUES (1, 1)',
        'CREATE TABLE u (a INT)', 'ALTER TABLE t ADD w INT', 'TRUNCATE t', 'SELECT * FROM t FOR UPDATE', 'EXPLAIN UPDATE t SET v = 1',
        'LOCK TABLES t WRITE', 'LOCK TABLES t READ', 'UNLOCK TABLES', 'START TRANSACTION READ WRITE', 'ANALYZE TABLE t',
        'CREATE TEMPORARY TABLE tt (a INT)', 'DROP TEMPORARY TABLE tt', 'SELECT 1; INSERT INTO t VALUES (4, 4)', 'SELECT 1; SELECT 2',
        'with c as (select 1) select * from c', '# why\ndelete from t where id = 9', 'SET STATEMENT max_statement_time = 10 FOR UPDATE t SET v = 5',
        'SET STATEMENT max_statement_time = 10 FOR SELECT 1', 'SELECT NEXTVAL(s)', 'SELECT NEXT VALUE FOR s', 'SELECT LASTVAL(s)', "SET PASSWORD = PASSWORD('')",
        '/*!40101 SET NAMES utf8 */', '/*!40000 ALTER TABLE t DISABLE KEYS */', "/*M!100100 SELECT 'run' */",
      ].map((sql): Step => [sql, (c) => c.query(sql)]),
      ['execute SELECT', (c) => c.execute('SELECT v FROM t WHERE id = ?', [1])],
      ['execute INSERT', (c) => c.execute('INSERT INTO t VALUES (?, ?)', [5, 5])],
      ['execute SELECT again', (c) => c.execute('SELECT v FROM t WHERE id = ?', [2])],
    ];
    const [want, text] = await whileReadOnly(async () => [await outcomes(db.port, steps), await errorText(db.port, 'INSERT INTO t VALUES (3, 3)')] as const);
    expect(text).toMatch(/read-only/);
    const refused = want.filter((w) => w.endsWith(': 1290'));
    expect(refused.length).toBeGreaterThan(10);
    expect(want.filter((w) => !w.endsWith(': served') && !w.endsWith(': 1290'))).toEqual([]);
    // Through the proxy the server is writable: a write the proxy let through would be served.
    await withProxy({ error: { percent: 100, kind: '1290' } }, async (p) => {
      expect(await outcomes(p.port, steps)).toEqual(want);
      expect(p.stats().behaviors.error).toBe(refused.length);
      // Word for word as MariaDB says it.
      expect(await errorText(p.port, 'INSERT INTO t VALUES (3, 3)')).toBe(text);
    });
    const [rows] = await root.query('SELECT COUNT(*) AS n FROM chaos.t');
    expect(rows).toEqual([{ n: 2 }]);
  });

  // A read-only server serves a session's writes to its own temporary tables, which the proxy
  // learns as the session makes and drops them; a table of that name once dropped, or written
  // otherwise (another letter case), is refused as any.
  it('1290 lets the writes to a temporary table the connection made through, as a read-only server serves them', async () => {
    await root.query("CREATE DATABASE other; CREATE TABLE other.tt (a INT); GRANT ALL ON other.* TO app@'%'");
    const steps: Step[] = [
      'CREATE TEMPORARY TABLE tt (a INT)', 'INSERT INTO tt VALUES (1)', 'UPDATE tt SET a = 2', 'DELETE FROM tt WHERE a = 9', 'REPLACE INTO tt VALUES (3)',
      'INSERT INTO tt SELECT v FROM t', 'TRUNCATE tt', 'ALTER TABLE tt ADD b INT', '/* c */ INSERT INTO `tt` (a) VALUES (1)', 'INSERT INTO chaos.tt (a) VALUES (1)',
      'USE other', 'INSERT INTO tt (a) VALUES (1)', 'INSERT INTO `chaos`.tt (a) VALUES (1)', 'USE chaos',
      'INSERT INTO TT (a) VALUES (1)', 'UPDATE t SET v = 5', 'DROP TABLE tt', 'INSERT INTO tt VALUES (1)',
      // A temporary table hides the table of its name.
      'CREATE TEMPORARY TABLE t (a INT)', 'INSERT INTO t VALUES (9)', 'DROP TEMPORARY TABLE t', 'INSERT INTO t VALUES (9, 9)',
      'CREATE TEMPORARY TABLE t2 (a INT); INSERT INTO t2 VALUES (1); DROP TABLE t2', 'INSERT INTO t2 VALUES (1)',
      'CREATE TEMPORARY TABLE t3 AS SELECT * FROM nope', 'INSERT INTO t3 VALUES (1)',
      'CREATE TEMPORARY TABLE t4 (a INT)', 'CALL nope()', 'INSERT INTO t4 VALUES (1)',
      // Locks of its rows or of it, writes of several tables, its upkeep: served when they lock or write only temporary tables.
      'CREATE TEMPORARY TABLE tt (a INT)', 'CREATE TEMPORARY TABLE tm (a INT) ENGINE=MyISAM', 'INSERT INTO tt VALUES (1)',
      'LOCK TABLES tt WRITE', 'UNLOCK TABLES', 'LOCK TABLES tt AS x LOW_PRIORITY WRITE, t READ', 'UNLOCK TABLES', 'LOCK TABLES tt WRITE, t WRITE', 'UNLOCK TABLES',
      'SELECT * FROM tt FOR UPDATE', 'SELECT a FROM chaos.tt x WHERE a = 1 FOR UPDATE NOWAIT', 'SELECT * FROM tt, t FOR UPDATE',
      'SELECT * FROM tt JOIN t ON t.id = tt.a FOR UPDATE', 'SELECT * FROM t WHERE id IN (SELECT a FROM tt) FOR UPDATE',
      'UPDATE tt, t SET tt.a = t.v WHERE t.id = tt.a', 'UPDATE tt AS x JOIN t ON t.id = x.a SET x.a = 2', 'UPDATE tt, t SET t.v = 3 WHERE t.id = tt.a',
      'UPDATE tt, tm SET tt.a = 1, tm.a = 1', "UPDATE tt JOIN t ON t.id = tt.a SET tt.a = 2, t.v = 'x, y'",
      'DELETE tt FROM tt JOIN t ON t.id = tt.a', 'DELETE tt, t FROM tt JOIN t ON t.id = tt.a', 'DELETE FROM tt USING tt JOIN t ON t.id = tt.a WHERE t.v > 9',
      'DELETE tt, tm FROM tt, tm', 'OPTIMIZE TABLE tt', 'ANALYZE TABLE tt, tm', 'REPAIR TABLE tm QUICK', 'OPTIMIZE TABLE t',
    ].map((sql): Step => [sql, (c) => c.query(sql)]);
    const mariadbSteps = ['CREATE TEMPORARY TABLE m (a INT)', 'INSERT INTO m VALUES (1)', 'DROP TEMPORARY TABLE m', 'INSERT INTO m VALUES (1)']
      .map((sql): ConnectorStep => [sql, (c) => c.query(sql)]);
    const [want, mariadbWant] = await whileReadOnly(async () => [await outcomes(db.port, steps), await connectorOutcomes(db.port, mariadbSteps)] as const);
    expect(want.filter((w) => !w.endsWith(': served'))).toEqual([
      'INSERT INTO tt (a) VALUES (1): 1290', 'INSERT INTO TT (a) VALUES (1): 1290', 'UPDATE t SET v = 5: 1290', 'INSERT INTO tt VALUES (1): 1290', 'INSERT INTO t VALUES (9, 9): 1290',
      'INSERT INTO t2 VALUES (1): 1290', 'CREATE TEMPORARY TABLE t3 AS SELECT * FROM nope: 1146', 'INSERT INTO t3 VALUES (1): 1290', 'CALL nope(): 1305',
      'LOCK TABLES tt WRITE, t WRITE: 1290', 'SELECT * FROM tt, t FOR UPDATE: 1290', 'SELECT * FROM tt JOIN t ON t.id = tt.a FOR UPDATE: 1290',
      'SELECT * FROM t WHERE id IN (SELECT a FROM tt) FOR UPDATE: 1290', 'UPDATE tt, t SET t.v = 3 WHERE t.id = tt.a: 1290',
      "UPDATE tt JOIN t ON t.id = tt.a SET tt.a = 2, t.v = 'x, y': 1290", 'DELETE tt, t FROM tt JOIN t ON t.id = tt.a: 1290', 'OPTIMIZE TABLE t: 1290',
    ]);
    expect(mariadbWant.filter((w) => !w.endsWith(': served'))).toEqual(['INSERT INTO m VALUES (1): 1290']);
    await withProxy({ error: { percent: 100, kind: '1290' } }, async (p) => {
      expect(await outcomes(p.port, steps)).toEqual(want.map((w) => (w === 'CALL nope(): 1305' ? 'CALL nope(): 1290' : w)));
      expect(await connectorOutcomes(p.port, mariadbSteps)).toEqual(mariadbWant);
    });
    const [rows] = await root.query('SELECT (SELECT COUNT(*) FROM chaos.t) AS t, (SELECT COUNT(*) FROM other.tt) AS tt');
    expect(rows).toEqual([{ t: 2, tt: 0 }]);
  });

  // A read-only server refuses a prepared write as it is executed, not as it is prepared: an
  // EXECUTE, EXECUTE IMMEDIATE or binary execute, with 1290 and nothing more, unless it writes the
  // session's temporary tables. A CALL is refused inside, at the routine's first write (after the
  // result sets of the statements before it), if it runs without READ ONLY ADMIN. An EXECUTE of a
  // name not prepared gets 1243 (Unknown prepared statement handler), read-only or not.
  it('1290 meets an EXECUTE as the statement it runs, a CALL of a routine that writes as the server does', async () => {
    await root.query(
      "CREATE PROCEDURE chaos.writes() SQL SECURITY INVOKER BEGIN SELECT 1 AS a; INSERT INTO chaos.t VALUES (7, 7); END",
    );
    const steps: Step[] = [
      ...[
        'EXECUTE nope', 'EXECUTE nope USING 1', "PREPARE s FROM 'INSERT INTO t VALUES (8, 8)'", 'EXECUTE s', 'DEALLOCATE PREPARE s', 'EXECUTE s',
        "PREPARE r FROM 'SELECT * FROM t WHERE id = ?'", 'EXECUTE r USING 1', 'execute R using 2',
        "EXECUTE IMMEDIATE 'INSERT INTO t VALUES (9, 9)'", "EXECUTE IMMEDIATE 'SELECT ?' USING 3", "PREPARE r FROM 'DELETE FROM t'", 'EXECUTE r',
        'CREATE TEMPORARY TABLE tt (a INT)', "PREPARE z FROM 'INSERT INTO tt VALUES (?)'", 'EXECUTE z USING 4', 'EXECUTE z USING 5',
        "EXECUTE IMMEDIATE 'INSERT INTO tt VALUES (6)'", 'CALL writes()',
      ].map((sql): Step => [sql, (c) => c.query(sql)]),
      ['execute INSERT INTO tt', (c) => c.execute('INSERT INTO tt VALUES (?)', [7])],
      ['execute INSERT INTO t', (c) => c.execute('INSERT INTO t VALUES (?, ?)', [7, 7])],
      ['DROP TEMPORARY TABLE tt', (c) => c.query('DROP TEMPORARY TABLE tt')],
      ['EXECUTE z after', (c) => c.query('EXECUTE z USING 8')],
      ['execute INSERT INTO tt after', (c) => c.execute('INSERT INTO tt VALUES (?)', [8])],
      // A statement the server no longer holds: 1243 (Unknown prepared statement handler), as any server answers it.
      ['execute INSERT INTO t closed', (c) => c.prepare('INSERT INTO t VALUES (?, ?)').then(async (s) => { await s.close(); return s.execute([6, 6]); })],
      ['execute SELECT closed', (c) => c.prepare('SELECT * FROM t WHERE id = ?').then(async (s) => { await s.close(); return s.execute([1]); })],
    ];
    const mariadbSteps: ConnectorStep[] = [
      ['EXECUTE nope', (c) => c.query('EXECUTE nope')],
      ['CREATE TEMPORARY TABLE m', (c) => c.query('CREATE TEMPORARY TABLE m (a INT)')],
      ['execute INSERT INTO m', (c) => c.execute('INSERT INTO m VALUES (?)', [1])],
      ['execute INSERT INTO t', (c) => c.execute('INSERT INTO t VALUES (?, ?)', [1, 1])],
      ['execute SELECT m', (c) => c.execute('SELECT a FROM m WHERE a = ?', [1])],
      ['batch INSERT INTO m', (c) => c.batch('INSERT INTO m VALUES (?)', [[2], [3]])],
      ['batch INSERT INTO t', (c) => c.batch('INSERT INTO t VALUES (?, ?)', [[2, 2], [3, 3]])],
    ];
    const [want, mariadbWant] = await whileReadOnly(async () => [await outcomes(db.port, steps), await connectorOutcomes(db.port, mariadbSteps)] as const);
    expect(want.filter((w) => !w.endsWith(': served'))).toEqual([
      'EXECUTE nope: 1243', 'EXECUTE nope USING 1: 1243', 'EXECUTE s: 1290', 'EXECUTE s: 1243', "EXECUTE IMMEDIATE 'INSERT INTO t VALUES (9, 9)': 1290", 'EXECUTE r: 1290', 'CALL writes(): 1290',
      'execute INSERT INTO t: 1290', 'EXECUTE z after: 1290', 'execute INSERT INTO tt after: 1290', 'execute INSERT INTO t closed: 1243', 'execute SELECT closed: 1243',
    ]);
    expect(mariadbWant).toEqual([
      'EXECUTE nope: 1243', 'CREATE TEMPORARY TABLE m: served', 'execute INSERT INTO m: served', 'execute INSERT INTO t: 1290', 'execute SELECT m: served',
      'batch INSERT INTO m: served', 'batch INSERT INTO t: 1290',
    ]);
    await withProxy({ error: { percent: 100, kind: '1290' } }, async (p) => {
      expect(await outcomes(p.port, steps)).toEqual(want);
      expect(await connectorOutcomes(p.port, mariadbSteps)).toEqual(mariadbWant);
    });
    const [rows] = await root.query('SELECT COUNT(*) AS n FROM chaos.t');
    expect(rows).toEqual([{ n: 2 }]);
  });

  // FLUSH and RESET change no data: a read-only server gives them no 1290, but what it gives any
  // server's user, 1227 to one without RELOAD; so do the replication and backup statements an
  // operator runs on a read-only replica.
  it('1290 lets FLUSH, RESET and the administration of a replica through: 1227 without the privilege, served with it', async () => {
    await root.query("CREATE USER ops@'%'; GRANT ALL ON chaos.* TO ops@'%'; GRANT RELOAD, BINLOG ADMIN, REPLICATION SLAVE ADMIN ON *.* TO ops@'%'");
    const steps: Step[] = [
      'FLUSH TABLES', 'FLUSH PRIVILEGES', 'RESET QUERY CACHE', '/* c */ FLUSH LOGS', 'FLUSH TABLES t FOR EXPORT', 'UNLOCK TABLES',
      'FLUSH TABLES WITH READ LOCK', 'UNLOCK TABLES', 'RESET MASTER', 'PURGE BINARY LOGS BEFORE NOW()', 'BACKUP STAGE START', 'BACKUP STAGE END',
      'STOP SLAVE', 'RESET SLAVE', 'CACHE INDEX t IN default', 'LOAD INDEX INTO CACHE t',
    ].map((sql): Step => [sql, (c) => c.query(sql)]);
    const want: Record<string, string[]> = {};
    await whileReadOnly(async () => {
      for (const user of ['app', 'ops']) want[user] = await outcomes(db.port, steps, user);
    });
    expect(want.app.filter((w) => w.endsWith(': 1227'))).toHaveLength(12);
    expect(want.ops.filter((w) => w.endsWith(': served'))).toHaveLength(15);
    await withProxy({ error: { percent: 100, kind: '1290' } }, async (p) => {
      for (const user of ['app', 'ops']) expect(await outcomes(p.port, steps, user), user).toEqual(want[user]);
      expect(p.stats().behaviors.error ?? 0).toBe(0);
    });
  });

  // A read-only server checks the privilege on accounts first: 1227 to a user without CREATE
  // USER, 1290 to one with it; SET PASSWORD FOR another account: 1044 (the mysql database) to a
  // user without UPDATE on it, 1290 to one with it and for one's own account. The proxy asks the
  // server behind with a statement of the same checks that changes nothing; its 1227 or 1044
  // goes to the client, the injected error withdrawn.
  it('1290 meets the statements on accounts as a read-only server does: 1227 without CREATE USER, 1290 with it; 1044 for SET PASSWORD FOR another', async () => {
    await root.query("CREATE USER admin@'%'; GRANT ALL ON chaos.* TO admin@'%'; GRANT CREATE USER ON *.* TO admin@'%'; GRANT UPDATE ON mysql.* TO admin@'%'");
    const steps: Step[] = [
      "CREATE USER x1@'%'", 'CREATE OR REPLACE USER x1', '/* c */ create role r1', "DROP USER nobody@'%'", 'DROP ROLE r1', "ALTER USER app@'%' ACCOUNT LOCK",
      "RENAME USER nobody@'%' TO n2@'%'", 'GRANT SELECT ON chaos.t TO app', 'SELECT 1',
      "SET PASSWORD FOR admin = PASSWORD('x')", "set password for `app`@'%' = PASSWORD('x')", "SET PASSWORD FOR 'nobody'@'%'=''", "SET PASSWORD FOR CURRENT_USER() = PASSWORD('x')",
    ].map((sql): Step => [sql, (c) => c.query(sql)]);
    const accounts = async () => ((await root.query('SELECT GROUP_CONCAT(User, Host, Priv ORDER BY User, Host) AS a FROM mysql.global_priv')) as unknown as [[{ a: string }]])[0][0].a;
    const before = await accounts();
    const want: Record<string, string[]> = {};
    const setPassword = "SET PASSWORD FOR admin = PASSWORD('x')";
    const texts = await whileReadOnly(async () => {
      for (const user of ['app', 'admin']) want[user] = await outcomes(db.port, steps, user);
      return [await errorText(db.port, 'CREATE USER x1'), await errorText(db.port, setPassword)];
    });
    expect(want.app.filter((w) => w.endsWith(': 1227'))).toHaveLength(7);
    expect(want.app.filter((w) => w.endsWith(': 1044'))).toHaveLength(2);
    expect(want.admin.filter((w) => w.endsWith(': 1290'))).toHaveLength(12);
    await withProxy({ error: { percent: 100, kind: '1290' } }, async (p) => {
      for (const user of ['app', 'admin']) expect(await outcomes(p.port, steps, user), user).toEqual(want[user]);
      expect([await errorText(p.port, 'CREATE USER x1'), await errorText(p.port, setPassword)]).toEqual(texts);
      expect(await connectorOutcomes(p.port, [['CREATE USER', (c) => c.query('CREATE USER x1')], ['SET PASSWORD', (c) => c.query(setPassword)]]))
        .toEqual(['CREATE USER: 1227', 'SET PASSWORD: 1044']);
      // Given as the server's: 1290 for each of admin's, and app's GRANT and own SET PASSWORDs; none for the 1227s and 1044s.
      expect(p.stats().behaviors.error).toBe(15);
    });
    expect(await accounts()).toBe(before);
  });

  /** Statements naming no table: no lock to wait for, whichever is held. */
  const LOCK_FREE: Step[] = [
    ...['DO 1', 'SELECT 1', 'select @@version, NOW()', 'SET @a = (SELECT 1)', 'SHOW TABLES', 'SHOW CREATE TABLE t', 'BEGIN', 'SAVEPOINT s', 'ROLLBACK TO s', 'ROLLBACK', 'BEGIN']
      .map((sql): Step => [sql, (c) => c.query(sql)]),
    ['execute SELECT ? + 1', (c) => c.execute('SELECT ? + 1', [1])],
    // A statement the server no longer holds: 1243, whatever locks are held.
    ['execute SELECT ? + 2 closed', (c) => c.prepare('SELECT ? + 2').then(async (s) => { await s.close(); return s.execute([1]); })],
  ];

  /** The same steps against the real server in a state `hold` puts it in, and through the proxy at 100:error 1205. */
  async function lockWaits(steps: Step[], hold: (c: mysql2.Connection) => Promise<unknown>): Promise<string[]> {
    await root.query('SET GLOBAL innodb_lock_wait_timeout = 1, GLOBAL lock_wait_timeout = 1');
    const holder = await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', database: 'chaos' });
    let want: string[];
    try {
      await hold(holder);
      want = await outcomes(db.port, steps);
    } finally {
      await holder.end();
      await root.query('SET GLOBAL innodb_lock_wait_timeout = DEFAULT, GLOBAL lock_wait_timeout = DEFAULT');
    }
    // The locks released: a statement the proxy let through would be served.
    await withProxy({ error: { percent: 100, kind: '1205' } }, async (p) => {
      expect(await outcomes(p.port, steps)).toEqual(want);
    });
    return want;
  }

  // A lock wait happens to a statement that waits for a lock: a row's, held by another
  // transaction, for a write or a locking read; a ping, a change of user or a statement naming
  // no table waits for none. A plain SELECT reads past a row lock, but is refused here: see the
  // table lock below.
  it('1205 refuses the statements that wait for a row lock held, not a ping or a statement naming no table', async () => {
    const want = await lockWaits([
      ...SERVED,
      ...LOCK_FREE,
      ...['UPDATE t SET v = 3 WHERE id = 1', 'INSERT INTO t VALUES (1, 1)', 'SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE', 'SELECT * FROM t WHERE id = 1 FOR UPDATE']
        .map((sql): Step => [sql, (c) => c.query(sql)]),
      ['execute UPDATE of the locked row', (c) => c.execute('UPDATE t SET v = ? WHERE id = 1', [4])],
      ['ping after', (c) => c.ping()],
    ], async (holder) => {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM t WHERE id = 1 FOR UPDATE');
    });
    expect(want.filter((w) => w.endsWith(': 1205'))).toHaveLength(5);
  });

  // Any statement naming a table opens it under a metadata lock, and waits behind another
  // session's table lock (a DDL, LOCK TABLES) for lock_wait_timeout: a plain SELECT too, or a
  // prepare; SHOW does not (its lock goes ahead of a table lock's).
  it('1205 refuses the statements naming a table, as a server where a table lock is held', async () => {
    const want = await lockWaits([
      ...LOCK_FREE,
      ...['SELECT * FROM t', 'SET @a = (SELECT v FROM t WHERE id = 1)', 'DO (SELECT v FROM t WHERE id = 1)'].map((sql): Step => [sql, (c) => c.query(sql)]),
      ['execute SELECT of the table', (c) => c.execute('SELECT v FROM t WHERE id = ?', [1])],
    ], (holder) => holder.query('LOCK TABLES t WRITE'));
    expect(want.filter((w) => w.endsWith(': 1205'))).toHaveLength(4);
  });

  // A deadlock and a killed query fail the statement running, and the connection's next ping is
  // served; through the proxy at 100:error of the kind, the same.
  it('1213 and 1317 fail a statement, and the ping after it is served: as after a real deadlock and a KILL QUERY', async () => {
    const a = await connect(db.port);
    const b = await connect(db.port);
    try {
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query('UPDATE t SET v = v WHERE id = 1');
      await b.query('UPDATE t SET v = v WHERE id = 2');
      const [[{ id: aId }]] = (await a.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
      const aWaits = outcome(a.query('UPDATE t SET v = v WHERE id = 2'));
      // b's statement closes the circle only once a's waits: the server says when.
      for (;;) {
        const [[{ n }]] = (await root.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${aId} AND STATE = 'Updating'`)) as unknown as [[{ n: number }]];
        if (n > 0) break;
      }
      const bDeadlocks = outcome(b.query('UPDATE t SET v = v WHERE id = 1'));
      const both = await Promise.all([aWaits, bDeadlocks]);
      expect([...both].sort()).toEqual(['1213', 'served']);
      const victim = both[0] === '1213' ? a : b;
      expect(await outcome(victim.ping())).toBe('served');

      const [[{ id: bId }]] = (await b.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
      await a.query('ROLLBACK');
      await b.query('ROLLBACK');
      const killed = outcome(b.query('SELECT SLEEP(30)'));
      for (;;) {
        const [[{ n }]] = (await root.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${bId} AND INFO LIKE 'SELECT SLEEP%'`)) as unknown as [[{ n: number }]];
        if (n > 0) break;
      }
      await root.query(`KILL QUERY ${bId}`);
      expect(await killed).toBe('1317');
      expect(await outcome(b.ping())).toBe('served');
      // MariaDB turns a DO's errors into warnings, a kill's too.
      const doKilled = outcome(b.query('DO SLEEP(30)'));
      for (;;) {
        const [[{ n }]] = (await root.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${bId} AND INFO LIKE 'DO SLEEP%'`)) as unknown as [[{ n: number }]];
        if (n > 0) break;
      }
      await root.query(`KILL QUERY ${bId}`);
      expect(await doKilled).toBe('served');
    } finally {
      a.destroy();
      b.destroy();
    }
    for (const kind of ['1213', '1317']) {
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        // A deadlock needs a lock waited for: none for a statement naming no table. A kill may
        // come as any statement runs, but for a DO, and a ROLLBACK InnoDB finishes anyway (a
        // killed ROLLBACK of 300,000 rows was answered OK).
        const steps: Step[] = [
          ...SERVED, ['DO 1', (c) => c.query('DO 1')], ['SELECT 1', (c) => c.query('SELECT 1')],
          ['UPDATE', (c) => c.query('UPDATE t SET v = v WHERE id = 1')], ['ROLLBACK', (c) => c.query('ROLLBACK')], ['ping after', (c) => c.ping()],
        ];
        expect(await outcomes(p.port, steps)).toEqual([
          ...SERVED.map(([name]) => `${name}: served`), 'DO 1: served', `SELECT 1: ${kind === '1213' ? 'served' : kind}`, `UPDATE: ${kind}`, 'ROLLBACK: served', 'ping after: served',
        ]);
        expect(p.stats().behaviors.error).toBe(kind === '1213' ? 1 : 2);
      });
    }
  });

  // MariaDB 10.11 keeps one connection past max_connections for an administrator: at the limit
  // it refuses the login of a user without CONNECTION ADMIN (for a TLS client inside TLS, where
  // no proxy can see), and once that one is taken too, a new connection in place of its greeting:
  // an ERR 1040 numbered 0, then the end of the connection. The proxy gives the latter, which
  // reaches a client going on to TLS; the connections in go on.
  it('1040 refuses a connection in place of the greeting, byte for byte as a MariaDB past max_connections, TLS clients too; the connections in go on', async () => {
    const held: mysql2.Connection[] = [];
    let want: { first: Buffer; ended: boolean };
    let tlsWant: string;
    await root.query('SET GLOBAL max_connections = 10');
    try {
      for (;;) {
        const c = await connect(db.port).catch((e: { errno?: number }) => e);
        if (!(c instanceof Error)) {
          held.push(c as mysql2.Connection);
          continue;
        }
        expect(c).toMatchObject({ errno: 1040 });
        break;
      }
      held.push(await mysql2.createConnection({ host: '127.0.0.1', port: db.port, user: 'root' }));
      want = await firstPacket(db.port);
      tlsWant = await tlsConnect(db.port);
      expect(await outcome(held[0].query('SELECT 1'))).toBe('served');
    } finally {
      await root.query('SET GLOBAL max_connections = DEFAULT');
      for (const c of held) c.destroy();
    }
    expect(want.first.toString('latin1')).toContain('Too many connections');
    expect(want.ended).toBe(true);
    expect(tlsWant).toBe('1040');
    await withProxy({ error: { percent: 100, kind: '1040' } }, async (p) => {
      const got = await firstPacket(p.port);
      expect(got.first.toString('hex')).toBe(want.first.toString('hex'));
      expect(got.ended).toBe(true);
      expect(await tlsConnect(p.port)).toBe('1040');
      expect(p.stats().behaviors.error).toBe(2);
      // A toxic (Toxiproxy's API) acts on the connections its toxicity draws: the same.
      await p.setMix('');
      await p.addToxic({ name: 'full', type: 'error', stream: 'downstream', toxicity: 1, attributes: { kind: '1040' } });
      expect((await firstPacket(p.port)).first.toString('hex')).toBe(want.first.toString('hex'));
      p.removeToxic('full');
      expect(p.stats().behaviors.error).toBe(3);
      // Connected while the mix passes (over TLS too, passed through), a connection's commands pass 1040.
      expect(await tlsConnect(p.port)).toBe('served');
      const c = await connect(p.port);
      try {
        await p.setMix({ error: { percent: 100, kind: '1040' } });
        const steps: Step[] = [...SERVED, ['SELECT', (m) => m.query('SELECT 1')], ['execute', (m) => m.execute('SELECT ?', [1])], ['ping after', (m) => m.ping()]];
        for (const [name, step] of steps) expect(`${name}: ${await outcome(step(c))}`).toBe(`${name}: served`);
      } finally {
        c.destroy();
      }
      expect(p.stats().behaviors.error).toBe(3);
    });
  });

  // At 30:error 1040 a pool meets refused connections, which it may try again; the connections in
  // serve every query. mysql2's pool hands the error to the caller, the MariaDB connector's pool
  // tries again itself.
  it('pools of mysql2 and of the MariaDB connector at 30:error 1040: connections refused, to be tried again; the queries of connections in succeed', async () => {
    await withProxy({ error: { percent: 30, kind: '1040' } }, async (p) => {
      const pool = mysql2.createPool({ host: '127.0.0.1', port: p.port, user: 'app', database: 'chaos', connectionLimit: 2 });
      let refused = 0;
      try {
        const first = await (async () => {
          for (;;) {
            const c = await pool.getConnection().catch((e: Error) => e);
            if (!(c instanceof Error)) return c;
            refused++;
          }
        })();
        for (let i = 0; i < 15; i++) {
          // A new connection each time (the one before destroyed), drawn for as it is accepted.
          const c = await pool.getConnection().catch((e: Error) => e);
          if (c instanceof Error) {
            // No SQLSTATE: refused in place of the greeting, as by MariaDB.
            expect(c).toMatchObject({ errno: 1040, code: 'ER_CON_COUNT_ERROR', sqlState: '' });
            refused++;
          } else {
            const [rows] = await c.query('SELECT ? AS n', [i]);
            expect(rows).toEqual([{ n: i }]);
            c.destroy();
          }
          const [rows] = await first.query('SELECT ? + 1 AS n', [i]);
          expect(rows).toEqual([{ n: i + 1 }]);
        }
        first.release();
      } finally {
        await pool.end();
      }
      expect(refused).toBeGreaterThan(0);
      expect(p.stats().behaviors.error).toBe(refused);

      const before = p.stats().behaviors.error;
      const mpool = mariadb.createPool({ host: '127.0.0.1', port: p.port, user: 'app', database: 'chaos', connectionLimit: 4, acquireTimeout: 20_000 });
      try {
        for (let i = 0; i < 12; i++) {
          const c = await mpool.getConnection();
          expect(await c.query('SELECT ? AS n', [i])).toEqual([{ n: i }]);
          await c.destroy();
        }
      } finally {
        await mpool.end();
      }
      expect(p.stats().behaviors.error).toBeGreaterThan(before);
    });
  });

  // The MariaDB connector took the proxy's ERR for a ping's OK; mysql2 failed the ping.
  it('mysql2 and the MariaDB connector ping through 100:error; their statements naming a table fail, each counted', async () => {
    await withProxy('100:error', async (p) => {
      const m = await connect(p.port);
      try {
        await m.ping();
        // A pool's check, naming no table, waits for no lock.
        expect(await outcome(m.query('SELECT 1'))).toBe('served');
        expect(await outcome(m.query('SELECT v FROM t'))).toBe('1205');
        await m.ping();
      } finally {
        m.destroy();
      }
      const c = await mariadb.createConnection({ host: '127.0.0.1', port: p.port, user: 'app', database: 'chaos' });
      try {
        await c.ping();
        expect(await outcome(c.query('SELECT v FROM t'))).toBe('1205');
        expect(await outcome(c.execute('SELECT v FROM t WHERE id = ?', [1]))).toBe('1205');
        expect(await outcome(c.execute('SELECT ?', [1]))).toBe('served');
        await c.ping();
      } finally {
        c.destroy();
      }
      expect(p.stats().behaviors.error).toBe(4);
      expect(p.stats().behaviors.dummy).toBeGreaterThanOrEqual(4);
    });
  });
});
