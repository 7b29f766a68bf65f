/**
 * One program run over SSH, watched on its channel: its pgid line (printed before it starts),
 * its output as lines (what a login printed before that kept out of stdout), its exit status,
 * a cancel that kills its process group (TERM, then KILL after a grace), and the connection's
 * loss, which fails it.
 */
import { addAbortListener } from 'node:events';
import { NodeError, type RunOptions, type RunResult } from './executor.js';
import { LineSplitter } from './lines.js';
import { HEARTBEAT_MS, killGroupCommand, NOT_FOUND_MARKER, notFoundText, notRunByShell, PGID_MARKER } from './remote-command.js';
import type { SimpleResult } from './ssh-job-dirs.js';
import type { Ssh2Channel } from './ssh2-api.js';

const DEFAULT_GRACE_MS = 3000;
/** How long to wait for the pgid line after a cancel before closing the channel instead. */
const PGID_WAIT_MS = 2000;

/** A command's channel, and its exit status once sshd sent it (exec). */
export interface Session {
  channel: Ssh2Channel;
  exit: { code: number | null; signal: string | undefined } | undefined;
}

/** A session that ended with no exit status and no output: it says nothing of the command. */
export class SilentEnd extends NodeError {}

/** What a run needs of its executor. */
export interface RunHost {
  readonly node: string;
  readonly address: string;
  /** Runs in flight, each failed with the connection's loss. */
  readonly inflight: Set<(e: NodeError) => void>;
  /** The connection's loss, once seen. */
  lost(): NodeError | undefined;
  /** A fixed internal command run to completion (the kill of a group). */
  simple(command: string): Promise<SimpleResult>;
  /** The last resort of a cancel whose kill finds no channel. */
  dropConnection(): void;
}

export function watchRun(host: RunHost, session: Session, o: RunOptions, started: number, program: string): Promise<RunResult> {
  const channel = session.channel;
  return new Promise<RunResult>((resolve, reject) => {
    let pgid: number | undefined;
    let sawMarker = false;
    /** Why the program was not started (the wrapper's not-found line), said as the local executor says it. */
    let notStarted: string | undefined;
    let firstLine = true;
    let spoke = false;
    let exit: { code: number | null; signal: string | null } | undefined;
    let cancelled = false;
    let settled = false;
    /** The abort listener, set once onAbort exists; finish() drops it. */
    let listening: Disposable | undefined;
    const timers: NodeJS.Timeout[] = [];
    const pgidWaiters: (() => void)[] = [];
    // What the login printed before our marker (for the message when the command never ran).
    const preamble: string[] = [];
    const out = new LineSplitter((line) => {
      if (!sawMarker) {
        // Our pgid line, printed before the program starts.
        if (line.startsWith(PGID_MARKER)) {
          sawMarker = true;
          pgid = Number(line.slice(PGID_MARKER.length));
          if (Number.isInteger(pgid) && pgid > 1) o.onStart?.({ pgid });
          for (const w of pgidWaiters.splice(0)) w();
          return;
        }
        // Printed by the node's login (a banner in .bashrc), not by the program: kept out of
        // its stdout, which runners read as data (a version, result lines).
        spoke = true;
        if (preamble.length < 5) preamble.push(line);
        o.onLine?.(line, 'stderr');
        return;
      }
      spoke = true;
      // Only as the first line after the marker: printed before the program would start.
      if (firstLine && line === NOT_FOUND_MARKER) {
        notStarted = notFoundText(program, o.env, host.node);
        o.onLine?.(`marteau-tui: cannot run ${JSON.stringify(program)}${o.cwd ? ` in ${o.cwd}` : ''}: ${notStarted}`, 'stderr');
        return;
      }
      firstLine = false;
      o.onLine?.(line, 'stdout');
    }, o.maxLineChars, (text) => sawMarker && o.onPartial?.(text));
    const err = new LineSplitter((line) => {
      spoke = true;
      if (!sawMarker && preamble.length < 5) preamble.push(line);
      o.onLine?.(line, 'stderr');
    });
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      host.inflight.delete(onLost);
      listening?.[Symbol.dispose]();
      f();
    };
    const onLost = (e: NodeError) => finish(() => reject(e));
    host.inflight.add(onLost);
    const kill = (signal: 'TERM' | 'KILL') => {
      if (pgid) void host.simple(killGroupCommand(pgid, signal)).catch(() => { if (cancelled && !settled) host.dropConnection(); });
    };
    const onAbort = () => {
      cancelled = true;
      const escalate = () => {
        kill('TERM');
        timers.push(setTimeout(() => kill('KILL'), o.killGraceMs ?? DEFAULT_GRACE_MS));
      };
      if (pgid) return escalate();
      // Not started far enough to know its group: wait briefly for it, else drop the channel.
      pgidWaiters.push(escalate);
      timers.push(setTimeout(() => { if (!pgid) channel.close(); }, PGID_WAIT_MS));
    };
    // Also when the cancel came while the channel opened: the program is stopped once it says its group.
    if (o.signal) listening = addAbortListener(o.signal, onAbort);
    // What is written before the program starts waits in the channel for its stdin.
    o.input?.((text) => { if (!settled) channel.write(text); });
    timers.push(setInterval(() => { if (!settled) channel.write('\n'); }, HEARTBEAT_MS));
    channel.on('data', (d) => out.push(d));
    channel.stderr.on('data', (d) => err.push(d));
    const onExit = () => {
      if (exit || !session.exit) return;
      const { code, signal } = session.exit;
      // ssh2 names the signal as Node does (SIGKILL), from the protocol's bare name.
      exit = { code, signal: signal ? (signal.startsWith('SIG') ? signal : `SIG${signal}`) : null };
      // Children left in the group would keep the channel (and the node) busy: stop them.
      kill('KILL');
    };
    channel.on('exit', onExit);
    channel.on('close', () => {
      // An exit status that came before this listener was (exec): the pgid is known by now.
      onExit();
      out.end();
      err.end();
      if (exit && !sawMarker && !cancelled) {
        finish(() => reject(notRunByShell(host.node, host.address, exit!, preamble)));
      } else if (exit || cancelled) {
        const why = notStarted && exit?.code === 127 ? { notStarted } : {};
        finish(() => resolve({ exitCode: exit?.code ?? null, signal: exit?.signal ?? null, cancelled, durationMs: performance.now() - started, ...why }));
      } else {
        const why = `the command ended without an exit status (SSH connection to ${host.address} lost?)`;
        finish(() => reject(host.lost() ?? (spoke ? new NodeError(host.node, why) : new SilentEnd(host.node, why))));
      }
    });
  });
}
