/**
 * The CLI run to its end under strace, which sends it SIGTERM as it enters its nth `syscall` on
 * `file` (on any file: none): a stop at a set point of a command's start, with no timing. strace
 * counts per thread: pick a call only one thread makes, or set UV_THREADPOOL_SIZE=1 in `env`.
 */
import { spawn } from 'node:child_process';
import { BIN } from './dist.js';

export function stoppedAt(syscall: string, nth: number, file: string | undefined, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  const only = file ? ['-P', file] : [];
  const c = spawn('strace', ['-f', '-qq', '-o', '/dev/null', ...only, '-e', `trace=${syscall}`, '-e', `inject=${syscall}:signal=SIGTERM:when=${nth}`, process.execPath, BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let out = '';
  let err = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => c.on('close', (code, signal) => resolve({ code, signal, out, err })));
}
