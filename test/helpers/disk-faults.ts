/**
 * The built CLI on a disk that fails it, with no privilege: a full disk is a file size limit
 * (`ulimit -f`: write() then takes what fits and fails with EFBIG, as with ENOSPC on a full disk);
 * a failing disk is strace's fault injection into the real system call (EIO, as a failing disk
 * answers it), for one file or every file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './dist.js';
import { cli, type CliRun } from './marteau-cli.js';
import { haveServer } from './servers.js';

export type Done = { code: number; out: string; err: string };

/** The CLI run to its end by `wrapper` (a command that runs the argv following it). */
export function wrapped(wrapper: string[], args: string[]): Promise<Done> {
  return new Promise((resolve) => {
    const c = spawn(wrapper[0], [...wrapper.slice(1), process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

/**
 * The CLI run to its end under a file size limit of `blocks` × 512 bytes (sh's `ulimit -f` unit);
 * with `seconds`, stopped after them (exit 124) should it hang.
 */
export function limited(blocks: number, args: string[], seconds?: number): Promise<Done> {
  return wrapped([...(seconds ? ['timeout', String(seconds)] : []), 'sh', '-c', `ulimit -f ${blocks}; exec "$0" "$@"`], args);
}

/**
 * strace's arguments that fail `syscall` with `error`, on the file `only` names or on every file;
 * with `from`, only its calls from the nth on. strace counts a thread's calls, so the process
 * gets one thread for its file system calls (libuv's pool): n then counts them all, in order.
 */
function injecting(syscall: string, only?: string, from?: number, error = 'EIO'): string[] {
  haveServer('strace');
  const when = from ? ['-E', 'UV_THREADPOOL_SIZE=1'] : [];
  return ['strace', '-f', '-qq', '-o', '/dev/null', ...when, ...(only ? ['-P', only] : []), '-e', `trace=${syscall}`, '-e', `inject=${syscall}:error=${error}${from ? `:when=${from}+` : ''}`];
}

/** The CLI run to its end on a disk whose fdatasync fails. */
export function syncFailing(args: string[], only?: string): Promise<Done> {
  return wrapped(injecting('fdatasync', only), args);
}

/**
 * The CLI run on a disk whose write() to `file` fails (with `from`, from the process's nth write
 * to it on), stopped after 30 s (exit 124) should it hang.
 */
export function writeFailing(file: string, args: string[], from?: number): Promise<Done> {
  return wrapped(['timeout', '30', ...injecting('write', file, from)], args);
}

/**
 * The CLI running on a disk whose write() to `file` fails from the process's `from`th write to it
 * on, in a process group of its own (strace, the CLI and its watchdog: see `cli`).
 */
export function writeFailingRun(file: string, args: string[], from: number): CliRun {
  return cli(args, {}, { wrapper: injecting('write', file, from), detached: true });
}

/**
 * From now until `mend` is called, a running process's write() to `file` fails with `error`
 * (strace attached to all its threads): what a disk that fails (EIO) or fills up (ENOSPC) for a
 * while does to a long-running worker.
 */
export async function failWrites(pid: number, file: string, error = 'EIO'): Promise<{ mend(): Promise<void> }> {
  const [cmd, ...args] = injecting('write', file, undefined, error).filter((a) => a !== '-qq');
  const strace: ChildProcess = spawn(cmd, [...args, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    strace.stderr!.on('data', (d) => {
      err += d;
      // Only once it is attached does the injection hold.
      if (/attached/.test(err)) resolve();
    });
    strace.on('exit', () => reject(new Error(`strace did not attach to ${pid}: ${err}`)));
  });
  const exited = new Promise((resolve) => strace.on('exit', resolve));
  return {
    mend: async () => {
      // strace detaches on SIGTERM, leaving the process running.
      strace.kill('SIGTERM');
      await exited;
    },
  };
}
