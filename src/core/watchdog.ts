/**
 * A job's processes die with the engine that runs them. Each job process runs in a process
 * group of its own (so a cancel kills the whole tree), which also means a kill -9 of the engine
 * leaves them running: a worker gone from the team while its load still hits the app, and with
 * `lost_jobs: requeue` a second copy started elsewhere next to it.
 *
 * The watchdog is a small separate process holding a pipe from the engine. The engine tells it
 * which groups it started; when the pipe closes (the engine died, however) it stops them all.
 * In team mode with `lost_jobs: requeue` it also holds the engine's lease: the engine passes on
 * the time of each heartbeat Redis took, and once the lease would have run out (the engine hung,
 * was stopped, or lost Redis while the others may judge it dead) the groups are killed, before
 * anyone can have started the job again. SIGKILL at once: a grace period would overlap.
 * Node has no PR_SET_PDEATHSIG; a pipe's end is the portable signal of a parent's death.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { processStartTime } from './owner.js';

/**
 * The watchdog itself, run with `node -e` (no file to find, the same from src and dist). A group
 * is killed only if its leader is gone or is still the process we started (same start time):
 * a recycled pid is never hit.
 */
const SCRIPT = `
const fs = require('node:fs');
const groups = new Map();
let leaseMs = 0, beatAt = Date.now(), buf = '';
const startOf = (pid) => { try { const s = fs.readFileSync('/proc/' + pid + '/stat', 'utf8'); return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]; } catch { return undefined; } };
const stopAll = () => {
  for (const [pgid, start] of groups) {
    const now = startOf(pgid);
    if (now !== undefined && start && now !== start) continue;
    try { process.kill(-pgid, 'SIGKILL'); } catch {}
  }
  groups.clear();
};
process.on('SIGINT', () => {}); process.on('SIGTERM', () => {}); process.on('SIGHUP', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d; const lines = buf.split('\\n'); buf = lines.pop();
  for (const l of lines) {
    const [op, a, b] = l.split(' ');
    if (op === '+') groups.set(Number(a), b || '');
    else if (op === '-') groups.delete(Number(a));
    else if (op === 'lease') { leaseMs = Number(a); beatAt = Date.now(); }
    else if (op === 'beat') beatAt = Number(a);
  }
});
process.stdin.on('end', () => { stopAll(); process.exit(0); });
setInterval(() => { if (leaseMs && groups.size && Date.now() >= beatAt + leaseMs) stopAll(); }, 100);
`;

export class Watchdog {
  private child?: ChildProcess;

  /**
   * Start the watchdog; with a lease, stop the groups when no `beat()` came for `ttlMs`
   * (without: only when the engine dies).
   */
  constructor(private readonly lease?: { ttlMs: number; lastBeat: () => number }) {}

  /** A process group the engine started (its leader's pid). */
  add(pgid: number): void {
    // The beats come every so often: a job started just after a lapse (Redis back a moment ago,
    // its job requeued here) would otherwise be killed on a beat the watchdog has yet to hear.
    if (this.lease) this.beat(this.lease.lastBeat());
    this.send(`+ ${pgid} ${processStartTime(pgid) ?? ''}`);
  }

  remove(pgid: number): void {
    this.send(`- ${pgid}`);
  }

  /** The engine's lease was renewed at `at` (ms): it holds until `at + leaseMs`. */
  beat(at: number): void {
    if (this.child) this.send(`beat ${at}`);
  }

  /** A clean stop: the engine has ended its groups itself; the watchdog goes without killing. */
  close(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  private send(line: string): void {
    const c = (this.child ??= this.spawn());
    c.stdin?.write(`${line}\n`);
  }

  private spawn(): ChildProcess {
    // Its own group and session: a Ctrl-C or a kill of the engine's group leaves it to do its work.
    const c = spawn(process.execPath, ['-e', SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    c.on('error', () => {});
    c.stdin?.on('error', () => {});
    c.unref();
    (c.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    if (this.lease) c.stdin?.write(`lease ${this.lease.ttlMs}\n`);
    return c;
  }
}
