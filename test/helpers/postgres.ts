/**
 * A throwaway PostgreSQL server for integration tests: initdb into a temp dir, postgres on a
 * free loopback port, trust authentication for user `postgres`, stopped with an immediate
 * shutdown (and the dir removed) after.
 *
 * initdb and postgres refuse to run as root: as root they run as the `postgres` system user
 * (spawned with its uid/gid, which is what `runuser -u postgres` does, minus the extra process).
 * Startup is about 1.3 s, nearly all of it initdb (--no-sync); the server runs with fsync,
 * synchronous_commit and full_page_writes off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { findBinary, haveServer, killedWithTests, tempDir, type RunningServer } from './servers.js';
import { freePort, waitForPort } from './net.js';

const PG_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

/** Whether PostgreSQL tests run (under CI=true a missing server throws instead of skipping). */
export function havePostgres(): boolean {
  return haveServer('postgres', PG_DIRS) && findBinary('initdb', PG_DIRS) !== undefined;
}

interface Account { uid: number; gid: number }

async function postgresAccount(): Promise<Account | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no postgres system user to run initdb/postgres as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(cmd: string, args: string[], account: Account | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...account });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${output}`))));
  });
}

export interface PostgresOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<RunningServer> {
  const account = await postgresAccount();
  const port = await freePort();
  const dir = await tempDir('postgres');
  const data = path.join(dir, 'data');
  if (account) await chown(dir, account.uid, account.gid);
  const initdb = findBinary('initdb', PG_DIRS) ?? 'initdb';
  const postgresBin = findBinary('postgres', PG_DIRS) ?? 'postgres';
  try {
    await run(initdb, ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], account);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: '16MB',
    max_connections: 40,
    ...opts.settings,
  };
  const args = ['-D', data, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const child: ChildProcess = spawn(postgresBin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...account });
  killedWithTests(child);
  let output = '';
  // The port opens before recovery is over ("the database system is starting up"): wait for
  // the log line that says the server accepts connections, then for the port.
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  const collect = (d: Buffer) => {
    output += d;
    if (output.includes('ready to accept connections')) onReady();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready.then(() => waitForPort(port, '127.0.0.1', 30_000)),
      exited.then(() => { throw new Error(`postgres exited early:\n${output}`); }),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`postgres not ready after 30 s:\n${output}`)), 30_000); }),
    ]);
    clearTimeout(timer);
  } catch (e) {
    clearTimeout(timer);
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host: '127.0.0.1',
    port,
    dir,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT'); // immediate shutdown
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
