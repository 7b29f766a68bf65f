/**
 * A throwaway MariaDB server for integration tests: empty data dir in a temp dir, free loopback
 * port, stopped (and the dir removed) after.
 *
 * Startup is kept to about half a second: no mariadb-install-db (the server runs with
 * --skip-grant-tables, so any user logs in without a password and the handshake is otherwise
 * the normal one), a tiny InnoDB (small log, buffer pool and temp file, no doublewrite, no
 * fsync), no binary log, no performance schema.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { crashChild, findBinary, haveServer, startProcess, tempDir, type RunningProcessServer } from './servers.js';
import { freePort } from './net.js';

const execFileP = promisify(execFile);

export const MARIADB_BINARY = 'mariadbd';

/** Whether MariaDB tests run (under CI=true a missing server throws instead of skipping). */
export function haveMariadb(): boolean {
  return haveServer(MARIADB_BINARY);
}

export interface MariadbOptions {
  /** Extra mariadbd options, e.g. `--max-connections=5`. */
  args?: string[];
  /**
   * Grant tables (mariadb-install-db, a second more): root logs in without a password, and the
   * test may create users with fewer privileges (a read-only server refuses writes only to them).
   */
  grants?: boolean;
}

export async function startMariadb(opts: MariadbOptions = {}): Promise<RunningProcessServer> {
  const port = await freePort();
  const dir = await tempDir('mariadb');
  if (opts.grants) {
    const install = ['--no-defaults', '--user=root', `--datadir=${dir}`, '--auth-root-authentication-method=normal', '--skip-test-db'];
    await execFileP(findBinary('mariadb-install-db') ?? 'mariadb-install-db', install, { timeout: 60_000 });
  }
  const args = [
    '--no-defaults',
    '--user=root',
    `--datadir=${dir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${dir}/sock`,
    `--pid-file=${dir}/pid`,
    `--log-error=${dir}/error.log`,
    ...(opts.grants ? [] : ['--skip-grant-tables']),
    '--skip-name-resolve',
    '--skip-log-bin',
    '--performance-schema=0',
    '--innodb-buffer-pool-size=16M',
    '--innodb-log-file-size=4M',
    '--innodb-data-file-path=ibdata1:4M:autoextend',
    '--innodb-temp-data-file-path=ibtmp1:1M:autoextend',
    '--innodb-doublewrite=0',
    '--innodb-undo-tablespaces=0',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-flush-method=nosync',
    '--local-infile=1',
    '--max-allowed-packet=64M',
    ...(opts.args ?? []),
  ];
  const { child, stop } = await startProcess(findBinary(MARIADB_BINARY) ?? MARIADB_BINARY, args, port, dir, { timeoutMs: 60_000 });
  return { host: '127.0.0.1', port, dir, stop, crash: () => crashChild(child), pid: child.pid! };
}
