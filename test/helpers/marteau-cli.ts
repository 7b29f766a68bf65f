/** Run the built `marteau-tui` CLI as a separate process and watch its output. */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';
import { BIN } from './dist.js';

export interface CliRun {
  child: ChildProcess;
  exited: Promise<number>;
  out(): string;
  err(): string;
  /** Resolves when stdout matches, rejects if the process exits first or after timeoutMs. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/**
 * `wrapper`: a command that runs the argv following it (strace, ...); `detached`: in a process
 * group of its own, which a test can kill whole (what takes a worker and its watchdog at once).
 */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, o: { wrapper?: string[]; detached?: boolean } = {}): CliRun {
  const [cmd, ...argv] = [...(o.wrapper ?? []), process.execPath, BIN, ...args];
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
    detached: o.detached,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : 128))));
  return {
    child,
    exited,
    out: () => out,
    err: () => err,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${re} within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`)); }, timeoutMs);
        const check = () => {
          const m = out.match(re);
          if (m) { cleanup(); resolve(m); }
        };
        const onExit = () => { check(); cleanup(); reject(new Error(`exited before ${re}\nstdout:\n${out}\nstderr:\n${err}`)); };
        const cleanup = () => { clearTimeout(timer); child.stdout!.off('data', check); child.off('exit', onExit); };
        child.stdout!.on('data', check);
        child.on('exit', onExit);
        check();
      }),
  };
}

/** Run to completion: exit code and output. */
export async function cliDone(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const r = cli(args, env);
  const code = await r.exited;
  return { code, out: r.out(), err: r.err() };
}

/** Runs a test file starts: each one still running at the end of its test is killed, then awaited. */
export function reapedAfterEach(): CliRun[] {
  const runs: CliRun[] = [];
  afterEach(async () => {
    for (const r of runs.splice(0)) {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      await r.exited;
    }
  });
  return runs;
}
