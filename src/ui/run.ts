/**
 * Starts the Ink TUI on a real terminal: alternate screen, app-owned ctrl-c, at most 15 frames/s.
 * Ink is loaded only here (see loadInk), never by the CLI's other commands.
 * Without a terminal it refuses clearly (raw mode needs one) and points to --ci.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { EXIT, UsageError } from '../core/exit.js';
import type { TuiBackend } from './backend.js';
import { dropInkResize, inkTerminal } from './ink-terminal.js';

export interface TuiIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
}

/** Raw mode needs a terminal: say so, and what to run instead, before anything starts. */
export function assertTerminal(io: TuiIo = { stdin: process.stdin, stdout: process.stdout }): void {
  if (!io.stdout.isTTY || !io.stdin.isTTY) {
    throw new UsageError(
      'the control center needs a terminal (stdin and stdout are not both a TTY); run headless with `marteau-tui --ci [dir]`, or try `marteau-tui demo --plain`',
      EXIT.usage,
    );
  }
}

/**
 * Resolves when the user quits, or `stop` aborts (a signal: as a quit that leaves any job
 * running here interrupted); `interrupted` when a running job was left behind.
 *
 * `afterFirstFrame` runs once the first frame is drawn: what the frame does not need (the
 * engine, with `backend` a StartingBackend it attaches to), so the screen is there at once,
 * however busy the machine; begunNow starts that work beside Ink's loading rather than after
 * it. `closed` aborts when the TUI closes first; runTui resolves only once it has settled, and
 * its rejection closes the TUI and is thrown.
 */
export async function runTui(
  backend: TuiBackend,
  title: string,
  io: TuiIo = { stdin: process.stdin, stdout: process.stdout },
  stop?: AbortSignal,
  afterFirstFrame?: (closed: AbortSignal) => Promise<void>,
): Promise<{ interrupted: boolean }> {
  assertTerminal(io);
  let interrupted = false;
  const altScreen = process.env.MARTEAU_NO_ALT_SCREEN ? '' : '\x1b[?1049h';
  io.stdout.write(`${altScreen}\x1b[?25l`);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    io.stdout.write(`\x1b[?25h${altScreen ? '\x1b[?1049l' : ''}`);
  };
  process.once('exit', restore);
  try {
    const { render, createElement, App } = await loadInk();
    const resizeBefore = io.stdout.listeners('resize');
    const app = render(createElement(App, { backend, title, onQuit: (i: boolean) => { interrupted = i; } }), {
      stdin: io.stdin,
      stdout: inkTerminal(io.stdout),
      exitOnCtrlC: false,
      patchConsole: false,
      maxFps: 15,
    });
    dropInkResize(io.stdout, resizeBefore);
    const onStop = () => {
      interrupted = true;
      app.unmount();
    };
    if (stop?.aborted) onStop();
    else stop?.addEventListener('abort', onStop, { once: true });
    const closed = new AbortController();
    let failed: { error: unknown } | undefined;
    const after = afterFirstFrame?.(closed.signal).catch((error: unknown) => {
      failed = { error };
      app.unmount();
    });
    await app.waitUntilExit();
    closed.abort();
    stop?.removeEventListener('abort', onStop);
    // The terminal is the user's again before anything is waited for: Ink has left raw mode.
    restore();
    await after;
    if (failed) throw failed.error;
  } finally {
    process.off('exit', restore);
    restore();
  }
  return { interrupted };
}

/**
 * `start` begun now, while Ink loads, and its end awaited by the first frame's afterFirstFrame:
 * the frame waits for none of it, and its I/O (the demo app starting, the queue read, the nodes
 * probed) overlaps Ink's loading instead of following it (after it, the demo's full screen came
 * 1.5 s later at load 9). afterFirstFrame stops waiting once the TUI has `closed`: a start that
 * hangs (a queue that never answers) must not hold a user who quit; `done` says whether it ended.
 * `settled` never rejects: a caller's cleanup awaits it even when the TUI failed before it was
 * attached.
 */
export function begunNow(start: () => Promise<void>): { afterFirstFrame: (closed: AbortSignal) => Promise<void>; settled: Promise<void>; done: () => boolean } {
  let failure: { error: unknown } | undefined;
  let done = false;
  const settled = start()
    .catch((error: unknown) => {
      failure = { error };
    })
    .finally(() => {
      done = true;
    });
  return {
    afterFirstFrame: async (closed) => {
      if (!closed.aborted) await Promise.race([settled, new Promise((resolve) => closed.addEventListener('abort', resolve, { once: true }))]);
      if (failure) throw failure.error;
    },
    settled,
    done: () => done,
  };
}

/**
 * Ink decides once, when its `is-in-ci` is first imported, whether it runs in CI (env CI set) and
 * then draws no live frame. Here a terminal is known to be there, so that module alone is
 * imported with CI hidden, and CI restored as soon as it is read: a caller that starts work beside
 * Ink's loading (begunNow) awaits this first, so no job or child process it starts misses the
 * user's CI (Ink's whole import, seconds on a busy machine, was that window before). Resolved
 * from Ink, so it is the copy Ink imports, already evaluated when Ink gets it.
 */
export function inkOutOfCi(): Promise<void> {
  ciRead ??= (async () => {
    const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    try {
      await import(pathToFileURL(createRequire(import.meta.resolve('ink')).resolve('is-in-ci')).href);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
    }
  })();
  return ciRead;
}
let ciRead: Promise<void> | undefined;

async function loadInk() {
  productionReact();
  await inkOutOfCi();
  const [{ render }, { createElement }, { App }] = await Promise.all([import('ink'), import('react'), import('./App.js')]);
  return { render, createElement, App };
}

/**
 * React's production build, unless the user set NODE_ENV: unset, react, react-reconciler and
 * scheduler load their development builds, more code to load and run before the first frame and
 * at every frame (the reconciler's 750 kB against 408 kB) for checks and warnings no user of the
 * CLI reads. Each picks its build when first required, so they are required
 * here with NODE_ENV set, in one synchronous step: no other code runs meanwhile (no job, no child
 * process sees it), and Ink's imports then find them loaded. Resolved from Ink, so the copies are
 * the ones it imports. Only when none is loaded yet (this module holds no JSX for that reason):
 * a production reconciler over a development React renders nothing.
 */
function productionReact(): void {
  if (process.env.NODE_ENV !== undefined) return;
  const require = createRequire(import.meta.resolve('ink'));
  const files = REACT_MODULES.map((m) => require.resolve(m));
  if (files.some((f) => require.cache[f])) return;
  process.env.NODE_ENV = 'production';
  try {
    for (const f of files) require(f);
  } finally {
    delete process.env.NODE_ENV;
  }
}

const REACT_MODULES = ['react', 'react/jsx-runtime', 'react-reconciler', 'react-reconciler/constants.js', 'scheduler'];
