/**
 * What a MySQL session learns as queries pass (mysql-session-sql.ts), as 1290 reads it: a write
 * to a temporary table the connection made passes, an EXECUTE as the statement it runs.
 * test/proxy-mysql-refusals checks the same against a read-only MariaDB.
 */
import { describe, expect, it } from 'vitest';
import { mysql } from '../../src/proxy/protocols/mysql.js';
import { tablesWritten } from '../../src/proxy/protocols/mysql-temporary.js';
import type { FramerSession } from '../../src/proxy/protocol.js';
import { pkt, u32 } from '../helpers/mysql-packets.js';

const query = (sql: string) => pkt(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'latin1')]));
const OK = pkt(1, Buffer.from([0, 0, 0, 2, 0, 0, 0]));
const ERR = pkt(1, Buffer.concat([Buffer.from([0xff, 0x7a, 0x04]), Buffer.from('#42S02no such table', 'latin1')]));
const CLIENT_MULTI_STATEMENTS = 0x10000;

const CLIENT_CONNECT_WITH_DB = 0x8;

/** A session logged in (to `database`, if given), its server offering every capability, the client asking for `caps` too. */
function session(caps = 0, database?: string): FramerSession {
  const s = mysql.createSession();
  const greeting = Buffer.concat([Buffer.from([10]), Buffer.from('10.11.19-MariaDB\0'), u32(1), Buffer.alloc(9), Buffer.from([0xff, 0xf7, 0x21, 2, 0, 0xff, 0x81]), Buffer.alloc(20)]);
  s.fromServer(pkt(0, greeting));
  const withDb = database === undefined ? 0 : CLIENT_CONNECT_WITH_DB;
  const auth = Buffer.from([20, ...Buffer.alloc(20, 7)]);
  s.fromClient(pkt(1, Buffer.concat([
    u32(0x200 | 0x8000 | caps | withDb), u32(1 << 24), Buffer.alloc(24), Buffer.from('app\0'), auth,
    database === undefined ? Buffer.alloc(0) : Buffer.from(`${database}\0`), Buffer.from('mysql_native_password\0'),
  ])));
  s.fromServer(pkt(2, Buffer.from([0, 0, 0, 2, 0, 0, 0])));
  return s;
}

/** The query is sent and answered by `reply`. */
function run(s: FramerSession, sql: string, reply = OK): void {
  s.fromClient(query(sql));
  s.fromServer(reply);
}
const refused = (s: FramerSession, sql: string) => mysql.refuses!('1290', 'COM_QUERY', query(sql), s);
const execute = (stmt: number) => pkt(0, Buffer.concat([Buffer.from([0x17]), u32(stmt), Buffer.from([0]), u32(1)]));
const executeRefused = (s: FramerSession, stmt: number) => mysql.refuses!('1290', 'COM_STMT_EXECUTE', execute(stmt), s);
const prepareOk = (stmt: number) => pkt(1, Buffer.concat([Buffer.from([0]), u32(stmt), Buffer.alloc(7)]));

describe('mysql: the temporary tables a session made, for 1290', () => {
  it('a write to one the session made passes, until it is dropped; a name written otherwise is refused', () => {
    const s = session();
    expect(refused(s, 'INSERT INTO tt VALUES (1)')).toBe(true);
    run(s, 'CREATE TEMPORARY TABLE tt (a INT)');
    run(s, '/* c */ create or replace temporary table `u``v` (a INT)');
    for (const sql of [
      'INSERT INTO tt VALUES (1)', 'insert low_priority ignore tt (a) values (1)', 'REPLACE INTO `tt` VALUES (1)', 'UPDATE tt SET a = 2 WHERE a = 1',
      'DELETE FROM tt WHERE a = 1', 'DELETE FROM tt', 'TRUNCATE TABLE tt', 'ALTER TABLE tt ADD b INT', 'INSERT INTO tt SELECT v FROM t',
      'DROP TABLE tt', 'DROP TABLE IF EXISTS tt, `u``v`', 'INSERT INTO `u``v` VALUES (1)', '-- c\nUPDATE tt SET a = 1',
    ]) expect(refused(s, sql), sql).toBe(false);
    for (const sql of [
      'INSERT INTO TT VALUES (1)', 'INSERT INTO tt2 VALUES (1)', 'INSERT INTO t SELECT a FROM tt', 'UPDATE tt, t SET t.v = 1', 'DROP TABLE tt, t',
      // Leaning to refusal: the table qualified where it was made without, a sequence written, a row locked, a statement that runs another.
      'INSERT INTO chaos.tt VALUES (1)', 'INSERT INTO tt SELECT NEXTVAL(s)', 'INSERT INTO tt SELECT v FROM t FOR UPDATE', 'SET STATEMENT max_statement_time = 1 FOR INSERT INTO tt VALUES (1)',
    ]) expect(refused(s, sql), sql).toBe(true);
    run(s, 'DROP TABLE tt');
    expect(refused(s, 'INSERT INTO tt VALUES (1)')).toBe(true);
    expect(refused(s, 'INSERT INTO `u``v` VALUES (1)')).toBe(false);
  });

  // test/proxy-mysql-refusals checks the served forms against a read-only MariaDB.
  it('a lock of its rows or of it, a write of several tables, its upkeep pass when they lock or write only temporary tables', () => {
    const s = session(0, 'chaos');
    run(s, 'CREATE TEMPORARY TABLE tt (a INT)');
    run(s, 'CREATE TEMPORARY TABLE tm (a INT)');
    for (const sql of [
      'LOCK TABLE `tt` WRITE CONCURRENT, t READ LOCAL', 'SELECT * FROM tt WHERE a = 1 FOR UPDATE', 'select a from tt as x join tm using (a) for update skip locked',
      'UPDATE LOW_PRIORITY tt x, t, tm SET x.a = t.v, tm.a = 1 WHERE t.id = x.a', "UPDATE tt JOIN t ON t.id = tt.a SET tt.a = ')', tt.a = 'x, t.v = 1' LIMIT 1",
      'DELETE QUICK tt.*, tm FROM chaos.tt, tm', 'DELETE FROM x USING tt AS x LEFT OUTER JOIN t ON t.id = x.a WHERE t.id IS NULL',
      'REPAIR NO_WRITE_TO_BINLOG TABLE tt, tm QUICK', 'ANALYZE LOCAL TABLE tt',
    ]) expect(refused(s, sql), sql).toBe(false);
    for (const sql of [
      'LOCK TABLES tt WRITE, t LOW_PRIORITY WRITE', 'SELECT * FROM tt, t FOR UPDATE',
      // Leaning to refusal: a UNION (served), a column not qualified, a join in parentheses, an index hint, a backslash, a name not in the join.
      'SELECT * FROM tt UNION SELECT * FROM tm FOR UPDATE', 'UPDATE tt, t SET a = 1', 'SELECT * FROM (tt JOIN tm) FOR UPDATE', 'SELECT * FROM tt USE INDEX (i) FOR UPDATE', "UPDATE tt, tm SET tt.a = '\\', t.v = 1",
      'UPDATE tt x, t SET tt.a = 1', "UPDATE tt, t SET tt.a = 1 /* ' */, t.v = 2 /* ' */", 'DELETE t FROM tt', 'ANALYZE TABLE tt PERSISTENT FOR ALL', 'REPAIR TABLE tt, t',
    ]) expect(refused(s, sql), sql).toBe(true);
    s.fromClient(pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('SELECT a FROM tt WHERE a = ? FOR UPDATE', 'latin1')])));
    s.fromServer(prepareOk(3));
    expect(executeRefused(s, 3)).toBe(false);
  });

  it('a query that creates and writes one passes, read statement by statement; what it does counts once its reply comes, if no ERR', () => {
    const s = session(CLIENT_MULTI_STATEMENTS);
    expect(refused(s, 'CREATE TEMPORARY TABLE m (a INT); INSERT INTO m VALUES (1); DROP TABLE m')).toBe(false);
    expect(refused(s, 'DROP TEMPORARY TABLE m; INSERT INTO m VALUES (1)')).toBe(true);
    // Framed, not yet answered (it may be refused and never reach the server): not made yet.
    s.fromClient(query('SELECT 1; CREATE TEMPORARY TABLE m (a INT)'));
    expect(refused(s, 'INSERT INTO m VALUES (1)')).toBe(true);
    s.fromServer(pkt(1, Buffer.from([0, 0, 0, 0x0a, 0, 0, 0])));
    s.fromServer(pkt(2, Buffer.from([0, 0, 0, 2, 0, 0, 0])));
    expect(refused(s, 'INSERT INTO m VALUES (1)')).toBe(false);
    run(s, 'CREATE TEMPORARY TABLE n AS SELECT * FROM nope', ERR);
    expect(refused(s, 'INSERT INTO n VALUES (1)')).toBe(true);
    // A drop counts whatever the reply; the reply to a multi-statement text that made one before its ERR makes none.
    run(s, 'DROP TABLE m, nope', ERR);
    expect(refused(s, 'INSERT INTO m VALUES (1)')).toBe(true);
    run(s, 'CREATE TEMPORARY TABLE m (a INT); INSERT INTO nope VALUES (1)', ERR);
    expect(refused(s, 'INSERT INTO m VALUES (1)')).toBe(true);
  });

  it('what may drop or hide them forgets them: a CALL, an EXECUTE, a RENAME, a change of database, of user, a reset, a text not read for sure', () => {
    for (const [sql, forgets] of [
      // An EXECUTE of a name never prepared runs nothing (1243).
      ['CALL p()', ['t1', 'db.t2']], ['EXECUTE s', []], ["PREPARE s FROM @q; EXECUTE s", ['t1', 'db.t2']], ['RENAME TABLE x TO y', ['t1', 'db.t2']], ['ALTER TABLE t1 RENAME TO t3', ['t1']],
      ['USE other', ['t1']], ["DROP TABLE t1 /* and */, `db`.t2", ['t1', 'db.t2']], ["/*!40101 DROP TABLE x */", ['t1', 'db.t2']],
      ["CREATE TEMPORARY TABLE x AS SELECT 'a\\'b'", ['t1', 'db.t2']], ['ALTER TABLE t1 ADD c INT', []], ['DROP VIEW v', []], ['SELECT 1', []],
    ] as const) {
      const s = session(CLIENT_MULTI_STATEMENTS);
      run(s, 'CREATE TEMPORARY TABLE t1 (a INT)');
      run(s, 'CREATE TEMPORARY TABLE db.t2 (a INT)');
      run(s, sql);
      expect(['t1', 'db.t2'].filter((t) => refused(s, `INSERT INTO ${t} VALUES (1)`)), sql).toEqual(forgets);
    }
    for (const [command, forgets] of [[0x02, ['t1']], [0x1f, ['t1', 'db.t2']]] as const) {
      const s = session();
      run(s, 'CREATE TEMPORARY TABLE t1 (a INT)');
      run(s, 'CREATE TEMPORARY TABLE db.t2 (a INT)');
      s.fromClient(pkt(0, Buffer.from([command, 0x78])));
      s.fromServer(OK);
      expect(['t1', 'db.t2'].filter((t) => refused(s, `INSERT INTO ${t} VALUES (1)`)), String(command)).toEqual(forgets);
    }
  });

  it('a query withheld by an injected error makes no table', () => {
    const s = session();
    s.fromClient(query('CREATE TEMPORARY TABLE w (a INT)'));
    s.skipped!(1);
    run(s, 'SELECT 1');
    expect(refused(s, 'INSERT INTO w VALUES (1)')).toBe(true);
  });

  it('the tables a statement writes, when it names them all', () => {
    expect(tablesWritten('DROP TABLE IF EXISTS a, `b`.c , `d``e`')).toEqual(['a', 'b\0c', 'd`e']);
    expect(tablesWritten('DELETE FROM a WHERE x = 1')).toEqual(['a']);
    for (const sql of ['DELETE a FROM a JOIN b', 'DELETE FROM a USING a, b', 'UPDATE a JOIN b SET a.x = 1', 'TRUNCATE a b', 'SELECT 1']) {
      expect(tablesWritten(sql), sql).toBeUndefined();
    }
  });

  // A name the session never prepared, or deallocated, is answered 1243 by any server, read-only
  // or not: it passes, to the server behind, which has no statement of the name either.
  it('an EXECUTE is judged as the text the session prepared, EXECUTE IMMEDIATE as its own; one of a name not prepared passes, one of a name a routine may have prepared is refused', () => {
    const s = session();
    run(s, "PREPARE w FROM 'INSERT INTO t VALUES (1)'");
    run(s, "PREPARE R FROM 'SELECT * FROM t WHERE id = ?'");
    expect([refused(s, 'EXECUTE w'), refused(s, 'EXECUTE r USING 1'), refused(s, 'execute `R`'), refused(s, 'EXECUTE nope')]).toEqual([true, false, false, false]);
    for (const sql of ["EXECUTE IMMEDIATE 'SELECT ?' USING 1", "execute immediate 'SELECT ''a'''"]) expect(refused(s, sql), sql).toBe(false);
    // A text not read for sure: a variable's, a backslash in it.
    for (const sql of ["EXECUTE IMMEDIATE 'INSERT INTO t VALUES (1)'", 'EXECUTE IMMEDIATE @q', "EXECUTE IMMEDIATE 'SELECT \\'a'"]) expect(refused(s, sql), sql).toBe(true);
    run(s, "PREPARE v FROM 'SELECT 2'");
    run(s, 'DEALLOCATE PREPARE r');
    run(s, 'drop prepare `v`');
    run(s, "PREPARE w FROM 'SELECT 1'", ERR);
    run(s, 'PREPARE q FROM @q');
    // Deallocated, dropped, a failed PREPARE's (the server forgets the name's statement): none; a variable's text, not read.
    expect([refused(s, 'EXECUTE r'), refused(s, 'EXECUTE v'), refused(s, 'EXECUTE w'), refused(s, 'EXECUTE q')]).toEqual([false, false, false, true]);
    // Framed, not yet answered: not prepared yet.
    s.fromClient(query("PREPARE p FROM 'SELECT 1'"));
    expect(refused(s, 'EXECUTE p')).toBe(true);
    s.fromServer(OK);
    expect(refused(s, 'EXECUTE p')).toBe(false);
    s.fromClient(pkt(0, Buffer.from([0x1f])));
    s.fromServer(OK);
    expect(refused(s, 'EXECUTE p')).toBe(false);
    // A routine may prepare one of any name (a read-only MariaDB then refuses the EXECUTE of a write), until a reset.
    run(s, "PREPARE p FROM 'SELECT 1'");
    run(s, 'CALL p()');
    expect([refused(s, 'EXECUTE p'), refused(s, 'EXECUTE nope')]).toEqual([true, true]);
    run(s, 'EXECUTE nope');
    expect(refused(s, 'EXECUTE nope')).toBe(true);
    s.fromClient(pkt(0, Buffer.from([0x1f])));
    s.fromServer(OK);
    expect(refused(s, 'EXECUTE nope')).toBe(false);
    // A binary execute of a CALL, on a connection holding nothing, the same.
    s.fromClient(pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('CALL p()', 'latin1')])));
    s.fromServer(prepareOk(9));
    s.fromClient(execute(9));
    s.fromServer(OK);
    expect(refused(s, 'EXECUTE nope')).toBe(true);
  });

  it("an execute of a write to the session's temporary tables passes while they are there; one that may drop them forgets them", () => {
    const s = session(CLIENT_MULTI_STATEMENTS);
    run(s, 'CREATE TEMPORARY TABLE tt (a INT)');
    run(s, "PREPARE z FROM 'INSERT INTO tt VALUES (?)'");
    run(s, "PREPARE d FROM 'DROP TEMPORARY TABLE tt'");
    s.fromClient(pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('UPDATE tt SET a = ?', 'latin1')])));
    expect(executeRefused(s, 0xffffffff)).toBe(false);
    s.fromServer(prepareOk(3));
    s.fromClient(pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('INSERT INTO t VALUES (?)', 'latin1')])));
    s.fromServer(prepareOk(4));
    expect([refused(s, 'EXECUTE z USING 1'), refused(s, "EXECUTE IMMEDIATE 'DELETE FROM tt'"), executeRefused(s, 3), executeRefused(s, 4)]).toEqual([false, false, false, true]);
    expect(refused(s, "CREATE TEMPORARY TABLE u (a INT); EXECUTE IMMEDIATE 'INSERT INTO u VALUES (1)'")).toBe(false);
    // Executes of statements that keep the tables keep them.
    run(s, 'EXECUTE z USING 1');
    s.fromClient(execute(3));
    s.fromServer(OK);
    expect(executeRefused(s, 3)).toBe(false);
    run(s, 'EXECUTE d');
    expect([refused(s, 'EXECUTE z USING 1'), executeRefused(s, 3)]).toEqual([true, true]);
    // A binary execute of a CALL: the routine may prepare a statement of any name.
    run(s, "PREPARE r FROM 'SELECT 1'");
    s.fromClient(pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('CALL p()', 'latin1')])));
    s.fromServer(prepareOk(5));
    expect(refused(s, 'EXECUTE r')).toBe(false);
    s.fromClient(execute(5));
    s.fromServer(OK);
    expect(refused(s, 'EXECUTE r')).toBe(true);
  });

  it('names are qualified by the default database, as the server resolves them: the login database, then COM_INIT_DB or USE', () => {
    const s = session(0, 'chaos');
    run(s, 'CREATE TEMPORARY TABLE tt (a INT)');
    run(s, 'CREATE TEMPORARY TABLE other.o (a INT)');
    for (const sql of ['INSERT INTO tt VALUES (1)', 'INSERT INTO chaos.tt VALUES (1)', 'INSERT INTO `chaos` . `tt` VALUES (1)', 'INSERT INTO other.o VALUES (1)']) {
      expect(refused(s, sql), sql).toBe(false);
    }
    for (const sql of ['INSERT INTO other.tt VALUES (1)', 'INSERT INTO o VALUES (1)']) expect(refused(s, sql), sql).toBe(true);
    run(s, 'USE nope', ERR);
    expect(refused(s, 'INSERT INTO tt VALUES (1)')).toBe(false);
    run(s, 'USE `other`');
    expect([refused(s, 'INSERT INTO tt VALUES (1)'), refused(s, 'INSERT INTO chaos.tt VALUES (1)'), refused(s, 'INSERT INTO o VALUES (1)')]).toEqual([true, false, false]);
    run(s, 'DROP TABLE o');
    expect(refused(s, 'INSERT INTO other.o VALUES (1)')).toBe(true);
    s.fromClient(pkt(0, Buffer.concat([Buffer.from([0x02]), Buffer.from('chaos')])));
    s.fromServer(OK);
    expect(refused(s, 'INSERT INTO tt VALUES (1)')).toBe(false);
  });
});
