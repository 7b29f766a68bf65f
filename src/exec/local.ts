/**
 * Runs programs on this machine with execa, each in its own process group (detached) so a
 * cancel can kill the tool and everything it started, and no shell ever parses an argument.
 */
import { addAbortListener } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { mkdirp } from '../fs/mkdirp.js';
import path from 'node:path';
import type { execa } from 'execa';
import { type Executor, type ProbeResult, type RunOptions, type RunResult, type TransferOptions, DEFAULT_TRANSFER, TransferCancelled } from './executor.js';
import { LineSplitter } from './lines.js';
import { scanTree } from './tree.js';

const DEFAULT_GRACE_MS = 3000;
/** After the leader exits, how long to wait for its pipes to close once the group is killed. */
const DRAIN_MS = 2000;

export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;

  constructor(readonly node: string = 'local') {}

  async run(argv: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    if (!argv.length) throw new Error('run: empty argv');
    const started = performance.now();
    if (o.signal?.aborted) return { exitCode: null, signal: null, cancelled: true, durationMs: 0 };
    // Loaded on the first run: what only lists nodes starts without execa.
    const sub = (await import('execa')).execa(argv[0], argv.slice(1), {
      cwd: o.cwd,
      env: o.env ? { ...o.env } : undefined,
      extendEnv: true,
      // Its own process group: kill(-pgid) reaches the tool's children too.
      detached: true,
      stdin: o.input ? 'pipe' : 'ignore',
      buffer: false,
      reject: false,
      // The whole group is managed here; execa's exit hook would only kill the leader.
      cleanup: false,
    });
    const pgid = sub.pid;
    const out = new LineSplitter((l) => o.onLine?.(l, 'stdout'), o.maxLineChars, o.onPartial);
    const err = new LineSplitter((l) => o.onLine?.(l, 'stderr'));
    sub.stdout?.on('data', (d: Buffer) => out.push(d));
    sub.stderr?.on('data', (d: Buffer) => err.push(d));
    if (pgid !== undefined) o.onStart?.({ pgid });
    // A program that exits without reading all of it must not crash us with EPIPE.
    sub.stdin?.on('error', () => {});
    if (sub.stdin) {
      const stdin = sub.stdin;
      o.input?.((text) => { if (stdin.writable) stdin.write(text); });
    }

    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cancelled = true;
      if (pgid === undefined) return;
      killGroupNow(pgid, 'SIGTERM');
      killTimer = setTimeout(() => killGroupNow(pgid, 'SIGKILL'), o.killGraceMs ?? DEFAULT_GRACE_MS);
    };
    // Also when the cancel came while execa loaded or the program spawned: it is stopped now.
    const listening = o.signal && addAbortListener(o.signal, onAbort);
    // When the leader exits, whatever it left running in its group goes too: a background
    // child holding stdout open would otherwise keep the run (and the node) busy forever.
    sub.once('exit', () => {
      if (pgid !== undefined) killGroupNow(pgid, 'SIGKILL');
    });
    try {
      const result = await withDeadlineAfterExit(sub, DRAIN_MS);
      out.end();
      err.end();
      if (result.failed && result.exitCode === undefined && !result.signal) {
        // Could not start at all (ENOENT, EACCES, bad cwd): report it like a shell would, 127.
        const why = notStarted(argv[0], o.cwd, result.code ?? (result.cause as Error | undefined)?.message ?? 'failed to start');
        o.onLine?.(`marteau-tui: cannot run ${JSON.stringify(argv[0])}${o.cwd ? ` in ${o.cwd}` : ''}: ${why}`, 'stderr');
        return { exitCode: 127, signal: null, cancelled, durationMs: performance.now() - started, notStarted: why };
      }
      return {
        exitCode: result.exitCode ?? null,
        signal: result.signal ?? null,
        cancelled,
        durationMs: performance.now() - started,
      };
    } finally {
      clearTimeout(killTimer);
      listening?.[Symbol.dispose]();
    }
  }

  async put(localPath: string, remotePath: string, options: TransferOptions = {}): Promise<void> {
    const { signal } = options;
    const cancelled = () => new TransferCancelled(`the copy of ${localPath} to ${remotePath} was cancelled`);
    if (signal?.aborted) throw cancelled();
    const st = await stat(localPath);
    if (st.isDirectory()) {
      await scanTree(localPath, options); // enforce the same limits as a remote copy
      const exclude = new Set(options.exclude ?? DEFAULT_TRANSFER.exclude);
      // Stopped between two files (the files copied stay, for the caller to remove, as over SSH).
      await cp(localPath, remotePath, {
        recursive: true,
        filter: (src) => {
          if (signal?.aborted) throw cancelled();
          return !exclude.has(path.basename(src));
        },
      });
    } else {
      await mkdirp(path.dirname(remotePath), 0o777);
      await copyStopping(localPath, remotePath, signal, cancelled);
    }
  }

  async get(remotePath: string, localPath: string, options: Pick<TransferOptions, 'signal'> = {}): Promise<void> {
    const cancelled = () => new TransferCancelled(`the copy of ${remotePath} to ${localPath} was cancelled`);
    if (options.signal?.aborted) throw cancelled();
    await mkdirp(path.dirname(localPath), 0o777);
    await copyStopping(remotePath, localPath, options.signal, cancelled);
  }

  async exists(p: string): Promise<boolean> {
    return stat(p).then(() => true, () => false);
  }

  async mkdirp(p: string): Promise<void> {
    await mkdirp(p, 0o777);
  }

  /** Jobs run in the project itself here: no copy is ever left behind to remove. */
  async makeJobDir(p: string): Promise<string[]> {
    await mkdirp(p, 0o777);
    return [];
  }

  async remove(p: string): Promise<void> {
    await rm(p, { recursive: true, force: true });
  }

  async killGroup(pgid: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    killGroupNow(pgid, signal);
  }

  async probe(): Promise<ProbeResult> {
    return { latencyMs: 0, removed: [] };
  }

  async close(): Promise<void> {}
}

/** What a local copy reads and writes at a time. */
const PIECE = 8 * 1024 * 1024;

/**
 * Copy a file (its mode too), stopped at once by `signal`: the part copied is removed, since a
 * cut-off file would read as a whole one (a FunkLoad result ended early). A big result or artifact
 * takes seconds to copy, which a cancel should not wait for.
 */
async function copyStopping(from: string, to: string, signal: AbortSignal | undefined, cancelled: () => TransferCancelled): Promise<void> {
  // The source opened first: a missing one leaves no empty copy behind.
  const source = await open(from, 'r');
  let target: FileHandle | undefined;
  try {
    target = await open(to, 'w', (await source.stat()).mode & 0o777);
    // Pieces of 8 MiB into one buffer, the signal read between two: copyFile's in-kernel copy
    // cannot be stopped, and a stream's pieces (new memory each) copied at a third of its speed.
    const piece = Buffer.allocUnsafe(PIECE);
    for (;;) {
      if (signal?.aborted) throw cancelled();
      const { bytesRead } = await source.read(piece, 0, PIECE, null);
      if (bytesRead === 0) break;
      for (let at = 0; at < bytesRead; ) at += (await target.write(piece, at, bytesRead - at)).bytesWritten;
    }
    await target.close();
  } catch (e) {
    await target?.close().catch(() => {});
    // A part left by a failed copy (a full disk) would read as whole too.
    if (target) await rm(to, { force: true });
    throw signal?.aborted ? cancelled() : e;
  } finally {
    await source.close();
  }
}

function killGroupNow(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone, which is the goal.
  }
}

type Sub = ReturnType<typeof execa>;

/** The execa result, but never waiting forever for pipes after the leader has exited. */
async function withDeadlineAfterExit(sub: Sub, drainMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const exitedThenLate = new Promise<void>((resolve) => {
    sub.once('exit', () => {
      timer = setTimeout(() => {
        sub.stdout?.destroy();
        sub.stderr?.destroy();
        resolve();
      }, drainMs);
    });
  });
  try {
    await Promise.race([sub, exitedThenLate]);
    return await sub;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a program did not start, in words: spawn's bare ENOENT stood for a program not on the PATH,
 * a wrong path and a missing working directory alike, and said how to fix none of them.
 */
function notStarted(program: string, cwd: string | undefined, code: string): string {
  if (code === 'ENOENT' && cwd !== undefined && !existsSync(cwd)) return `ENOENT: the directory ${cwd} does not exist`;
  if (code === 'ENOENT') return program.includes('/') ? 'ENOENT: no such file (check its path)' : "ENOENT: not found on this machine's PATH (install it, or give its full path)";
  if (code === 'EACCES') return 'EACCES: permission denied (is it an executable file? chmod +x it, or run it through its interpreter)';
  return code;
}
