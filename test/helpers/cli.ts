/**
 * The built CLI (`bin/marteau-tui.js`, after `tsc`) as a child process, for tests that drive a
 * running `marteau-tui proxy` from outside like a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const BIN = path.resolve('bin/marteau-tui.js');

export interface RunningCli {
  child: ChildProcess;
  exited: Promise<number>;
  out(): string;
  err(): string;
  /** Resolves when stdout (or stderr) matches, with the match; rejects after `timeoutMs` or on exit. */
  waitFor(re: RegExp, opts?: { stream?: 'out' | 'err'; timeoutMs?: number }): Promise<RegExpExecArray>;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code. */
  stop(): Promise<number>;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', MARTEAU_API_TOKEN: undefined, ...env },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
  let done = false;
  void exited.then(() => { done = true; });
  const waitFor = (re: RegExp, opts: { stream?: 'out' | 'err'; timeoutMs?: number } = {}) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const text = () => (opts.stream === 'err' ? err : out);
      const pipe = opts.stream === 'err' ? child.stderr! : child.stdout!;
      const check = () => {
        const m = re.exec(text());
        if (!m) return;
        clearTimeout(timer);
        pipe.off('data', check);
        resolve(m);
      };
      const timer = setTimeout(() => {
        pipe.off('data', check);
        reject(new Error(`no ${re} within ${opts.timeoutMs ?? 10_000} ms; out=${out} err=${err}`));
      }, opts.timeoutMs ?? 10_000);
      pipe.on('data', check);
      void exited.then(() => setTimeout(() => {
        if (re.exec(text())) return;
        clearTimeout(timer);
        reject(new Error(`exited before ${re}; out=${out} err=${err}`));
      }, 50));
      check();
    });
  return {
    child,
    exited,
    out: () => out,
    err: () => err,
    waitFor,
    stop: async () => {
      if (!done) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(killer);
        return code;
      }
      return exited;
    },
  };
}

/** Start `marteau-tui proxy --api 127.0.0.1:0 ...` and wait for the API's URL. */
export async function startApi(extra: string[] = [], env: Record<string, string | undefined> = {}): Promise<RunningCli & { url: string }> {
  const cli = runCli(['proxy', '--api', '127.0.0.1:0', '--interval', '60000', ...extra], env);
  const m = await cli.waitFor(/api listening on (http:\/\/127\.0\.0\.1:\d+)/, { timeoutMs: 20_000 });
  return Object.assign(cli, { url: m[1] });
}
