/**
 * A real terminal for end-to-end TUI tests: tmux runs the command in a detached session of a
 * given size; keys are sent with send-keys and the screen read with capture-pane.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class TmuxSession {
  private constructor(readonly name: string, private readonly socket: string) {}

  static async start(command: string, opts: { cols?: number; rows?: number; cwd?: string; env?: Record<string, string> } = {}): Promise<TmuxSession> {
    const name = `marteau-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    // A private server socket per session keeps parallel tests apart.
    const socket = name;
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
    // The new server's environment, which the command gets, is this process's without the
    // NODE_ENV=test vitest sets: a user's shell leaves it unset, and the TUI then runs React's
    // production build, as users run it (opts.env may still set it).
    const { NODE_ENV: _, ...user } = process.env;
    await run('tmux', ['-L', socket, 'new-session', '-d', '-s', name, '-x', String(opts.cols ?? 100), '-y', String(opts.rows ?? 30), '-c', opts.cwd ?? process.cwd(), `${env} ${command}; sleep 30`], { env: user });
    return new TmuxSession(name, socket);
  }

  async keys(...keys: string[]): Promise<void> {
    await run('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, ...keys]);
  }

  /** Any other tmux command on this session's server (e.g. `set-option`, `show-buffer`). */
  async tmux(...args: string[]): Promise<string> {
    const { stdout } = await run('tmux', ['-L', this.socket, ...args]);
    return stdout;
  }

  async screen(): Promise<string> {
    const { stdout } = await run('tmux', ['-L', this.socket, 'capture-pane', '-p', '-t', this.name]);
    return stdout;
  }

  /** Poll the screen until `test` passes, or fail with the last screen after `timeoutMs`. */
  async waitFor(test: RegExp | ((screen: string) => boolean), timeoutMs = 15_000): Promise<string> {
    const ok = typeof test === 'function' ? test : (s: string) => test.test(s);
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await this.screen();
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`screen never matched ${String(test)}; last screen:\n${last}`);
  }

  async kill(): Promise<void> {
    await run('tmux', ['-L', this.socket, 'kill-server']).catch(() => undefined);
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
