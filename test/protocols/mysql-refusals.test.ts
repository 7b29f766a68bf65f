/**
 * Which MySQL requests each error kind meets (mysql-refusals.ts): the rules, by command and by
 * statement. test/proxy-mysql-refusals checks them against a MariaDB put in each state.
 */
import { describe, expect, it } from 'vitest';
import { mysql } from '../../src/proxy/protocols/mysql.js';
import { locksNothingSql } from '../../src/proxy/protocols/mysql-refusals.js';
import { writesSql } from '../../src/proxy/protocols/mysql-read-only.js';
import { pkt, u32 } from '../helpers/mysql-packets.js';

const cmd = (code: number, body: Buffer | string = '') => pkt(0, Buffer.concat([Buffer.from([code]), typeof body === 'string' ? Buffer.from(body, 'latin1') : body]));
const execute = (stmt: number) => cmd(0x17, Buffer.concat([u32(stmt), Buffer.from([0]), u32(1)]));
const writes = (sql: string) => writesSql(Buffer.from(sql, 'latin1'), 0, sql.length);
const locks = (sql: string) => !locksNothingSql(Buffer.from(sql, 'latin1'), 0, sql.length);

const COMMANDS: Record<string, Buffer> = {
  query: cmd(0x03, 'SELECT v FROM t'),
  prepare: cmd(0x16, 'SELECT v FROM t WHERE id = ?'),
  execute: execute(1),
  bulk: cmd(0xfa, Buffer.concat([u32(1), Buffer.from([0, 0])])),
  ping: cmd(0x0e),
  initDb: cmd(0x02, 'chaos'),
  statistics: cmd(0x09),
  fieldList: cmd(0x04, 't\0'),
  fetch: cmd(0x1c, Buffer.concat([u32(1), u32(10)])),
  stmtReset: cmd(0x1a, u32(1)),
  setOption: cmd(0x1b, Buffer.from([1, 0])),
  resetConnection: cmd(0x1f),
  processInfo: cmd(0x0a),
};
const refused = (kind: string) => Object.keys(COMMANDS).filter((name) => mysql.refuses!(kind, undefined, COMMANDS[name]));

describe('mysql: the requests each error kind meets', () => {
  // A lock wait, a deadlock and a killed query happen to a statement as it runs.
  it('1205, 1213 and 1317 meet the commands that run a statement: never a ping, a fetch or a change of database', () => {
    for (const kind of ['1205', '1213', '1317']) {
      expect(refused(kind), kind).toEqual(['query', 'prepare', 'execute', 'bulk']);
      // Setting variables waits for no lock (connectors send SET NAMES as they connect); SET STATEMENT runs one.
      expect(mysql.refuses!(kind, undefined, cmd(0x03, 'SET NAMES utf8mb4; set autocommit = 0'))).toBe(false);
      for (const sql of ['SET @a = (SELECT v FROM t FOR UPDATE)', 'SET STATEMENT max_statement_time = 1 FOR UPDATE t SET v = 1', 'SET @a = 1; SELECT v FROM t']) {
        expect(mysql.refuses!(kind, undefined, cmd(0x03, sql)), sql).toBe(true);
      }
    }
  });

  // Checked on MariaDB 10.11 with another session holding a row lock or LOCK TABLES ... WRITE:
  // a statement naming a table waits (for the rows or the table's metadata lock), one naming
  // none is served at once; a deadlock needs such a wait.
  it('1205 and 1213 meet statements that take locks, not those naming no table', () => {
    for (const none of [
      'DO 1', 'select 1', '/* ping */ SELECT 1', 'SELECT @@version, NOW(), CONNECTION_ID()', '(SELECT 1) UNION (SELECT 2)', 'SELECT 1 INTO @a', 'VALUES (1), (2)',
      'SET NAMES utf8mb4', 'SET @a = (SELECT 1)', 'SET autocommit = 1, @b = 2', 'SHOW TABLES', 'SHOW CREATE TABLE t', 'SHOW TABLE STATUS', 'USE chaos',
      'BEGIN', 'START TRANSACTION READ ONLY', 'SAVEPOINT a', 'RELEASE SAVEPOINT a', 'ROLLBACK', 'rollback to a', 'DO 1; SELECT 2;', '',
    ]) expect(locks(none), none).toBe(false);
    for (const lock of [
      'SELECT * FROM t', 'select v from t where id = 1', 'SELECT * FROM t FOR UPDATE', 'SELECT 1 FROM DUAL', 'DO (SELECT v FROM t)', 'SET @a = (SELECT v FROM t)',
      'WITH c AS (SELECT 1) SELECT * FROM c', 'INSERT INTO t VALUES (1)', 'UPDATE t SET v = 1', 'DELETE FROM t', 'REPLACE INTO t VALUES (1)', 'ALTER TABLE t ADD w INT',
      'LOCK TABLES t READ', 'CALL p()', 'EXECUTE s', 'COMMIT', "SELECT GET_LOCK('a', 10)", 'SELECT NEXTVAL(s)', 'SELECT NEXT VALUE FOR s',
      'SET STATEMENT max_statement_time = 1 FOR SELECT 1', 'SELECT 1; SELECT * FROM t', 'SELECT EXTRACT(YEAR FROM NOW())', '/*!40101 SELECT v FROM t */', "SELECT '\\'",
    ]) expect(locks(lock), lock).toBe(true);
    for (const kind of ['1205', '1213']) {
      expect(mysql.refuses!(kind, undefined, cmd(0x03, 'DO 1')), kind).toBe(false);
      expect(mysql.refuses!(kind, undefined, cmd(0x16, 'SELECT ? + 1')), kind).toBe(false);
      expect(mysql.refuses!(kind, undefined, cmd(0x16, 'SELECT * FROM t')), kind).toBe(true);
      expect(mysql.refuses!(kind, undefined, cmd(0x03, 'SET NAMES utf8mb4; SELECT 1')), kind).toBe(false);
    }
  });

  // Checked on MariaDB 10.11: a killed DO SLEEP(20) is answered OK, a killed SET @a = SLEEP(20) 1317, a killed ROLLBACK OK.
  it('1317 meets a statement but a DO naming no table, a ROLLBACK or a SET of variables', () => {
    for (const sql of ['DO 1', 'DO SLEEP(1); SET @a = 1', 'SET NAMES utf8mb4', 'ROLLBACK', 'rollback work']) expect(mysql.refuses!('1317', undefined, cmd(0x03, sql)), sql).toBe(false);
    for (const sql of ['SELECT 1', 'DO (SELECT v FROM t)', 'BEGIN', 'SHOW TABLES', 'DO 1; SELECT 1']) expect(mysql.refuses!('1317', undefined, cmd(0x03, sql)), sql).toBe(true);
  });

  // A server past max_connections refuses new connections in place of its greeting (connectError),
  // the connections in served; one shutting down closes every connection, idle ones too. The
  // login (the handshake response, numbered 1) passes every kind.
  it('1040 meets no command nor the login, a connection in place of its greeting; 1053 and a kind not known here every command', () => {
    const login = pkt(1, Buffer.concat([u32(0x200 | 0x8000), u32(1 << 24), Buffer.from([0x21]), Buffer.alloc(23), Buffer.from('app\0\0', 'latin1')]));
    expect(refused('1040')).toEqual([]);
    expect(mysql.connectError!('1040')!.toString('latin1')).toBe('\x17\0\0\0\xff\x10\x04Too many connections');
    for (const kind of ['1205', '1213', '1317', '1290', '1053', '9999']) expect(mysql.connectError!(kind), kind).toBeUndefined();
    for (const kind of ['1053', '9999']) expect(refused(kind), kind).toEqual(Object.keys(COMMANDS));
    for (const kind of ['1040', '1205', '1213', '1317', '1290', '1053', '9999']) expect(mysql.refuses!(kind, 'HandshakeResponse', login), kind).toBe(false);
    // Withheld: no stand-in, whatever its bytes look like as a command.
    expect(mysql.standIn!(login, true, undefined, 0, '1040')).toBeUndefined();
  });

  it('1290 meets writes only: a query that writes, an execute of a statement not known to read', () => {
    expect(refused('1290')).toEqual(['execute', 'bulk']);
    expect(mysql.refuses!('1290', undefined, cmd(0x03, 'INSERT INTO t VALUES (1)'))).toBe(true);
    expect(mysql.refuses!('1290', undefined, cmd(0x05, 'db'))).toBe(true);
    expect(mysql.refuses!('1290', undefined, cmd(0x16, 'INSERT INTO t VALUES (?)'))).toBe(false);
  });

  // As MariaDB 10.11 read-only answers a user without READ ONLY ADMIN.
  it('1290: the statements a read-only server refuses, and those it cannot be sure of', () => {
    for (const read of [
      'SELECT * FROM t', '/* c */ select 1', '(SELECT 1) UNION (SELECT 2)', 'SELECT * FROM t LOCK IN SHARE MODE', 'WITH c AS (SELECT 1) SELECT * FROM c',
      'DO 1', 'SET @a = 1', 'SET SESSION TRANSACTION READ WRITE', 'SHOW TABLES', 'DESC t', 'EXPLAIN SELECT 1', 'ANALYZE SELECT * FROM t',
      'BEGIN', 'START TRANSACTION', 'COMMIT', 'ROLLBACK', 'SAVEPOINT a', 'USE chaos', 'LOCK TABLES t READ', 'UNLOCK TABLES',
      'CREATE TEMPORARY TABLE tt (a INT)', 'CREATE OR REPLACE TEMPORARY TABLE tt (a INT)', 'DROP TEMPORARY TABLE tt', 'CHECK TABLE t',
      "PREPARE s FROM 'INSERT INTO t VALUES (1)'", 'SELECT 1; SHOW TABLES;', '-- c\nSELECT 1', '# c\nSELECT 1',
      'SELECT LASTVAL(s)', 'SET STATEMENT max_statement_time = 1 FOR SELECT 1', '/*!40101 SET NAMES utf8 */', '/*!40101 SET NAMES utf8 */;',
      'SELECT /*!40001 SQL_NO_CACHE */ * FROM t', "/*M!100100 SELECT 'x' */",
      // No read-only server's 1290: served to a user with the privilege, 1227 to one without.
      'FLUSH TABLES', 'flush privileges', 'FLUSH TABLES WITH READ LOCK', 'RESET QUERY CACHE', 'RESET MASTER', '/* c */ FLUSH LOGS',
      'PURGE BINARY LOGS BEFORE NOW()', 'BACKUP STAGE START', 'STOP SLAVE', 'START REPLICA', "CHANGE MASTER TO master_host = 'h'",
      'CACHE INDEX t IN default', 'LOAD INDEX INTO CACHE t',
    ]) expect(writes(read), read).toBe(false);
    for (const write of [
      'INSERT INTO t VALUES (1)', 'update t set v = 1', 'DELETE FROM t WHERE 0', 'REPLACE INTO t VALUES (1)', 'INSERT INTO t SELECT 1',
      'CREATE TABLE u (a INT)', 'CREATE TABLE temporary (a INT)', 'DROP TABLE IF EXISTS u', 'ALTER TABLE t ADD w INT', 'TRUNCATE t',
      'RENAME TABLE t TO u', 'CREATE DATABASE x', 'SELECT * FROM t FOR UPDATE', 'LOCK TABLES t WRITE', 'START TRANSACTION READ WRITE',
      'EXPLAIN UPDATE t SET v = 1', 'ANALYZE TABLE t', 'OPTIMIZE TABLE t', "LOAD DATA LOCAL INFILE 'f' INTO TABLE t", 'GRANT SELECT ON t TO u',
      // A read-only server answers REPAIR with a result set saying so: no ERR stands for it, the proxy leans to 1290.
      "LOAD XML INFILE 'f' INTO TABLE t", 'REPAIR TABLE t', 'CREATE USER u', "INSTALL SONAME 'ha_blackhole'",
      'SELECT 1; INSERT INTO t VALUES (1)', '/* c */ DELETE FROM t', 'SET STATEMENT max_statement_time = 1 FOR UPDATE t SET v = 1',
      "SET PASSWORD = PASSWORD('x')", 'SELECT NEXTVAL(s)', 'SELECT next value for s', 'DO SETVAL(s, 5)', '/*!40000 ALTER TABLE t DISABLE KEYS */',
      '/*M!100100 DELETE FROM t */ SELECT 1', '/*!40101 SET NAMES utf8 */; INSERT INTO t VALUES (1)',
      // Not to be read for sure: refused, as the server may refuse it.
      'CALL p()', "SELECT 'a\\'; DELETE FROM t; SELECT '", 'EXECUTE s',
    ]) expect(writes(write), write).toBe(true);
  });

  // A read-only server refuses the execute of a write, not its prepare: the session keeps which
  // statements it saw prepared read only, and the last one sent, which MariaDB's statement
  // 0xFFFFFFFF stands for (the MariaDB connector sends the execute before the prepare's reply).
  // An execute of a statement the server does not hold (never prepared, closed, reset) runs
  // nothing: 1243 in any state, so no kind meets it.
  it('1290 on an execute: by the statement the session saw prepared', () => {
    const s = mysql.createSession();
    const greeting = Buffer.concat([Buffer.from([10]), Buffer.from('10.11.19-MariaDB\0'), Buffer.alloc(40)]);
    s.fromServer(pkt(0, greeting));
    s.fromClient(pkt(1, Buffer.concat([u32(0x200 | 0x8000), u32(1 << 24), Buffer.alloc(24), Buffer.from('root\0\0')])));
    s.fromServer(pkt(2, Buffer.from([0, 0, 0, 2, 0, 0, 0])));
    const prepareOk = (stmt: number) => pkt(1, Buffer.concat([Buffer.from([0]), u32(stmt), Buffer.alloc(7)]));
    const refusedExecute = (stmt: number) => mysql.refuses!('1290', 'COM_STMT_EXECUTE', execute(stmt), s);

    s.fromClient(cmd(0x16, 'SELECT * FROM t WHERE id = ?'));
    expect(refusedExecute(0xffffffff)).toBe(false);
    s.fromServer(prepareOk(5));
    s.fromClient(cmd(0x16, 'INSERT INTO t VALUES (?)'));
    expect(refusedExecute(0xffffffff)).toBe(true);
    s.fromServer(prepareOk(6));
    expect([refusedExecute(5), refusedExecute(6), refusedExecute(7)]).toEqual([false, true, false]);
    for (const kind of ['1205', '1213', '1317']) {
      expect([6, 7].map((stmt) => mysql.refuses!(kind, 'COM_STMT_EXECUTE', execute(stmt), s)), kind).toEqual([true, false]);
      expect(mysql.refuses!(kind, 'COM_STMT_BULK_EXECUTE', cmd(0xfa, Buffer.concat([u32(7), Buffer.from([0, 0])])), s), kind).toBe(false);
    }
    s.fromClient(cmd(0x19, u32(6)));
    expect(refusedExecute(6)).toBe(false);
    s.fromClient(cmd(0x16, 'INSERT INTO t VALUES (1)'));
    s.fromServer(prepareOk(8));
    expect(refusedExecute(8)).toBe(true);
    s.fromClient(cmd(0x1f));
    s.fromServer(pkt(1, Buffer.from([0, 0, 0, 2, 0, 0, 0])));
    expect(refusedExecute(8)).toBe(false);
  });
});
