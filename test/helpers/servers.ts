/**
 * Real servers for integration tests, each started on a free loopback port with its data in a
 * temp dir, and stopped after. Under CI=true a missing server binary is a failure, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './net.js';

export interface RunningServer {
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** The absolute path of a server binary, or undefined when it is not installed. */
export function findBinary(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Whether tests needing `binary` should run. Outside CI a missing server skips them; under
 * CI=true it throws, so a broken .ci/run cannot pass by skipping.
 */
export function haveServer(binary: string, extraDirs: string[] = []): boolean {
  if (findBinary(binary, extraDirs)) return true;
  if (process.env.CI === 'true') {
    throw new Error(`${binary} is not installed but CI=true: .ci/run must install it`);
  }
  return false;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `marteau-${prefix}-`));
}

/**
 * Servers still running. A test that fails before its `finally` would otherwise leave its server
 * running after the test file's process is gone, holding a port and a temp dir. Vitest ends a
 * test file's process with SIGTERM, which skips 'exit' handlers unless the signal is handled.
 */
const live = new Set<ChildProcess>();
function killLive(): void {
  for (const child of live) child.kill('SIGKILL');
}
process.once('exit', killLive);
process.once('SIGTERM', () => {
  killLive();
  process.exit(143);
});
/** Kill `child` with this test file's process if the test has not stopped it by then. */
export function killedWithTests(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Start a foreground server process and wait for its port. */
export async function startProcess(
  cmd: string,
  args: string[],
  port: number,
  dir: string,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const host = opts.host ?? '127.0.0.1';
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  killedWithTests(child);
  let output = '';
  child.stdout?.on('data', (d) => { output += d; });
  child.stderr?.on('data', (d) => { output += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port, host, opts.timeoutMs ?? 30_000),
      exited.then(() => { throw new Error(`${cmd} exited early:\n${output}`); }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisOptions {
  /** Append-only file, fsynced on every write: a kill -9 loses nothing acknowledged. */
  aof?: boolean;
  /** Start again on the same port and data dir (after `crash()`). */
  port?: number;
  dir?: string;
  /** requirepass: clients must AUTH with it. */
  password?: string;
  /** Speak only TLS on the port, showing this certificate (PEM files); clients show none. */
  tls?: { cert: string; key: string };
  /** More of redis-server's options, after the others (`--cluster-enabled yes`). */
  args?: string[];
}

export interface RunningProcessServer extends RunningServer {
  /** kill -9, keeping the data dir (for a restart with the same options) until `stop()`. */
  crash(): Promise<void>;
  /** The server's process, e.g. to SIGSTOP it so requests stay in flight. */
  pid: number;
}

export type RunningRedis = RunningProcessServer;

export async function startRedis(o: RedisOptions = {}): Promise<RunningRedis> {
  const port = o.port ?? (await freePort());
  const dir = o.dir ?? (await tempDir('redis'));
  const persistence = o.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const { child, stop } = await startProcess(
    findBinary('redis-server') ?? 'redis-server',
    [
      ...(o.tls ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', o.tls.cert, '--tls-key-file', o.tls.key, '--tls-auth-clients', 'no'] : ['--port', String(port)]),
      '--bind', '127.0.0.1', '--save', '', ...persistence, ...(o.password ? ['--requirepass', o.password] : []), '--dir', dir,
      ...(o.args ?? []),
    ],
    port,
    dir,
  );
  return { host: '127.0.0.1', port, dir, stop, crash: () => crashChild(child), pid: child.pid! };
}

/**
 * SIGSTOP a process and wait until every thread of it is stopped: the signal takes effect a
 * moment after kill() returns, and a multi-threaded server (memcached) could still answer a
 * request sent in that moment.
 */
export async function freeze(pid: number, timeoutMs = 5000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + timeoutMs;
  const stopped = () =>
    readdirSync(`/proc/${pid}/task`).every((t) => {
      // The state is the field after the command name, which may itself hold ") ".
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return /^[Tt]/.test(stat.slice(stat.lastIndexOf(') ') + 2));
    });
  while (!stopped()) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** kill -9 a server process and wait until it is gone (its sockets closed by the kernel). */
export async function crashChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

export async function startMemcached(): Promise<RunningProcessServer> {
  const port = await freePort();
  const dir = await tempDir('memcached');
  const { child, stop } = await startProcess(
    findBinary('memcached') ?? 'memcached',
    ['-u', 'root', '-l', '127.0.0.1', '-p', String(port), '-U', '0'],
    port,
    dir,
  );
  return { host: '127.0.0.1', port, dir, stop, crash: () => crashChild(child), pid: child.pid! };
}
