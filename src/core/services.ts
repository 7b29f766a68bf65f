/**
 * A job's `services:` while it runs: each started on this machine in its own process group
 * (LocalExecutor), given a free port, waited for until ready, its output kept in the job's log,
 * and stopped (SIGTERM, then SIGKILL) after the run, last started first stopped.
 *
 * Chaos can hit them for real (`fault()`): the signal goes to the whole process group, so a
 * server's workers (PostgreSQL's backends) share the fate of their parent; a service brought
 * back runs the same command on the same port, and counts as back once it is ready again.
 */
import net from 'node:net';
import { request } from 'undici';
import { expand, isMarteauVar, UnknownVariable, type Vars } from '../config/interpolate.js';
import { serviceVars, type ServiceSpec } from '../config/services.js';
import { LocalExecutor } from '../exec/local.js';
import { shellJoin } from '../exec/quote.js';
import type { RunResult } from '../exec/executor.js';
import { ServiceError } from './service-error.js';

const POLL_MS = 50;
const STOP_GRACE_MS = 3000;
/** Lines of a service's output a failure reason shows. */
const TAIL = 8;
/** Lines kept per service to pick those from: an error line is often followed by a long stack. */
const KEPT = 200;
/** Lines that say what went wrong, kept in a reason over the lines after them. */
const TELLING = /error|fatal|cannot|can't|denied|not found|no such|refused|EADDRINUSE|panic|exception/i;

export { ServiceError };

export interface ServiceHooks {
  log(line: string, o: { service: string; stream?: 'stdout' | 'stderr' | 'engine'; level?: 'info' | 'warn' | 'error' }): void;
  /** A process group was started, for crash clean-up. */
  started?(service: string, pgid: number): void;
}

interface Running {
  spec: ServiceSpec;
  port: number;
  argv: string[];
  env: Record<string, string>;
  pgid?: number;
  /** A chaos fault stopped it on purpose: its exit is expected. */
  faulted: boolean;
  frozen: boolean;
  abort: AbortController;
  done: Promise<RunResult>;
  exited?: RunResult;
  tail: string[];
  stopping: boolean;
  /** Ready since its last launch: an exit then is a failure of the running job, not of its start. */
  ready: boolean;
  /** `ready: {log}` matched a line. */
  logReady: boolean;
}

export class ServiceSet {
  private readonly running: Running[] = [];
  private readonly executor = new LocalExecutor('local');

  constructor(private readonly hooks: ServiceHooks) {}

  /** MARTEAU_SERVICE_* of the services started so far. */
  vars(): Record<string, string> {
    return Object.assign({}, ...this.running.map((r) => serviceVars(r.spec.name, r.port))) as Record<string, string>;
  }

  /** Start these, in order, each ready before the next; on failure the caller stops the set. */
  async start(specs: readonly ServiceSpec[], vars: Vars, signal: AbortSignal): Promise<void> {
    for (const spec of specs) {
      if (signal.aborted) throw new ServiceError('cancelled while starting services');
      const port = spec.port ?? (await freeLoopbackPort());
      const known = { ...vars, ...this.vars(), port: String(port) };
      const ours = (n: string) => n === 'port' || isMarteauVar(n);
      let argv: string[];
      let env: Record<string, string>;
      try {
        argv = spec.command.map((a) => expand(a, known, ours));
        env = Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, expand(v, known, ours)]));
      } catch (e) {
        if (e instanceof UnknownVariable) throw new ServiceError(`service "${spec.name}": ${e.message} is not known when it starts`);
        throw e;
      }
      const r: Running = {
        spec,
        port,
        argv,
        env: { ...env, ...this.vars(), PORT: String(port) },
        faulted: false,
        frozen: false,
        abort: new AbortController(),
        done: Promise.resolve({} as RunResult),
        tail: [],
        stopping: false,
        ready: false,
        logReady: false,
      };
      this.launch(r);
      this.running.push(r);
      await this.waitReady(r, signal);
      this.hooks.log(`ready on 127.0.0.1:${port}`, { service: spec.name });
    }
  }

  private launch(r: Running): void {
    const { spec } = r;
    Object.assign(r, { abort: new AbortController(), exited: undefined, pgid: undefined, ready: false, logReady: false, faulted: false, frozen: false });
    this.hooks.log(`starting ${shellJoin(r.argv)} (port ${r.port})`, { service: spec.name });
    const done = this.executor.run(r.argv, {
      cwd: spec.cwd,
      env: r.env,
      signal: r.abort.signal,
      killGraceMs: STOP_GRACE_MS,
      onStart: ({ pgid }) => {
        r.pgid = pgid;
        this.hooks.started?.(spec.name, pgid);
      },
      onLine: (line, stream) => {
        r.tail.push(line);
        if (r.tail.length > KEPT) r.tail.shift();
        this.hooks.log(line, { service: spec.name, stream });
        if (spec.ready.kind === 'log' && !r.logReady && spec.ready.pattern.test(line)) r.logReady = true;
      },
    });
    r.done = done;
    void done.then((res) => {
      if (r.done !== done) return;
      r.exited = res;
      if (r.faulted) this.hooks.log(`exited (${describe(res)}): a chaos fault`, { service: spec.name });
      // Before it was ready, waitReady fails the job with this exit and the output that explains it.
      else if (!r.stopping && r.ready) this.hooks.log(`exited (${describe(res)}) while the job runs`, { service: spec.name, level: 'error' });
    });
  }

  /**
   * A real fault of a running service. kill: SIGKILL to its group; stop: its stop_signal, then
   * SIGKILL if still there after `graceMs`; freeze/thaw: SIGSTOP/SIGCONT; start: the same
   * command on the same port again, resolved once ready (a service that exited by itself too).
   */
  async fault(name: string, what: 'kill' | 'stop' | 'freeze' | 'thaw' | 'start', signal: AbortSignal, graceMs = STOP_GRACE_MS * 3): Promise<void> {
    const r = this.running.find((x) => x.spec.name === name);
    if (!r) throw new ServiceError(`no service "${name}" is running in this job`);
    if (what === 'start') {
      if (!r.exited) throw new ServiceError(`service "${name}" is still running`);
      this.launch(r);
      await this.waitReady(r, signal);
      this.hooks.log(`ready again on 127.0.0.1:${r.port}`, { service: name });
      return;
    }
    if (r.exited || r.pgid === undefined) throw new ServiceError(`service "${name}" is not running (${r.exited ? describe(r.exited) : 'not started'})`);
    const pgid = r.pgid;
    if (what === 'freeze' || what === 'thaw') {
      r.frozen = what === 'freeze';
      signalGroup(pgid, r.frozen ? 'SIGSTOP' : 'SIGCONT');
      return;
    }
    r.faulted = true;
    if (r.frozen) signalGroup(pgid, 'SIGCONT');
    r.frozen = false;
    signalGroup(pgid, what === 'kill' ? 'SIGKILL' : r.spec.stopSignal);
    const killer = setTimeout(() => {
      this.hooks.log(`still running ${graceMs / 1000}s after ${r.spec.stopSignal}: SIGKILL`, { service: name, level: 'warn' });
      signalGroup(pgid, 'SIGKILL');
    }, graceMs);
    await r.done.catch(() => undefined);
    clearTimeout(killer);
  }

  private async waitReady(r: Running, signal: AbortSignal): Promise<void> {
    const { spec } = r;
    const deadline = Date.now() + spec.readyTimeoutMs;
    const fail = (why: string) => new ServiceError(`service "${spec.name}" ${why}${outputExcerpt(r.tail)}`);
    const ready = () => {
      r.ready = true;
    };
    for (;;) {
      if (r.exited) throw fail(`exited (${describe(r.exited)}) before it was ready`);
      if (signal.aborted) throw new ServiceError('cancelled while starting services');
      if (spec.ready.kind === 'none') return ready();
      if (spec.ready.kind === 'log' ? r.logReady : await probe(spec.ready, r.port)) return ready();
      if (Date.now() > deadline) {
        const what = spec.ready.kind === 'log' ? `printed no line matching /${spec.ready.pattern.source}/` : spec.ready.kind === 'http' ? `did not answer GET ${spec.ready.path} with 2xx/3xx on port ${r.port}` : `did not accept connections on port ${r.port}`;
        throw fail(`${what} within ${spec.readyTimeoutMs / 1000}s (ready_timeout)`);
      }
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
  }

  /** Stop everything started, newest first. */
  async stop(): Promise<void> {
    for (const r of [...this.running].reverse()) {
      r.stopping = true;
      // A stopped group would sit on the SIGTERM until the grace ran out.
      if (r.frozen && r.pgid !== undefined) signalGroup(r.pgid, 'SIGCONT');
      r.abort.abort();
      await r.done.catch(() => undefined);
    }
    this.running.length = 0;
  }
}

async function probe(ready: { kind: 'tcp' } | { kind: 'http'; path: string }, port: number): Promise<boolean> {
  if (ready.kind === 'tcp') return tcpOpen(port);
  try {
    const res = await request(`http://127.0.0.1:${port}${ready.path}`, { headersTimeout: 1000, bodyTimeout: 1000 });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 400;
  } catch {
    return false;
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // The group is gone already: the fault found nothing left to hit.
  }
}

/**
 * What a failure reason adds from the service's output. Its first line carries the line that
 * explains most (the last one that looks like an error, else the last one), as one-line views
 * (`queue`, the TUI) show only that; then up to TAIL lines, error lines kept over the ones after
 * them (a stack trace would push the error out of the last lines), "..." where lines are left out.
 */
export function outputExcerpt(lines: readonly string[]): string {
  if (!lines.length) return '';
  const errors = lines.flatMap((l, i) => (TELLING.test(l) ? [i] : []));
  const key = errors.at(-1) ?? lines.length - 1;
  const head = `: ${lines[key].trim().slice(0, 200)}`;
  if (lines.length === 1) return head;
  const shown = new Set(errors.slice(-TAIL / 2));
  for (let i = lines.length - 1; i >= 0 && shown.size < TAIL; i--) shown.add(i);
  const picked = [...shown].sort((a, b) => a - b);
  const body = picked.map((i, n) => `${(n === 0 ? i > 0 : i > picked[n - 1] + 1) ? '...\n    ' : ''}${lines[i]}`);
  return `${head}\n  its last output:\n    ${body.join('\n    ')}`;
}

function describe(r: RunResult): string {
  return r.exitCode === null ? `killed by ${r.signal ?? 'a signal'}` : `exit ${r.exitCode}`;
}
