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

/** A watchdog that dies this soon after its start is started again only after as long: no spawn loop. */
const RESPAWN_PAUSE_MS = 1000;

export class Watchdog {
  private child?: ChildProcess;
  private childStarted = 0;
  /** The groups it watches (leader pid -> start time): what a new watchdog is told again. */
  private readonly groups = new Map<number, string>();

  /**
   * Start the watchdog; with a lease, stop the groups when no `beat()` came for `ttlMs`
   * (without: only when the engine dies). `restarted`: told when the watchdog alone died (a
   * user's kill, the OOM killer) and another took its place.
   */
  constructor(
    private readonly lease?: { ttlMs: number; lastBeat: () => number },
    private readonly restarted?: (words: string) => void,
  ) {}

  /** A process group the engine started (its leader's pid). */
  add(pgid: number): void {
    // The beats come every so often: a job started just after a lapse (Redis back a moment ago,
    // its job requeued here) would otherwise be killed on a beat the watchdog has yet to hear.
    if (this.lease) this.beat(this.lease.lastBeat());
    const start = String(processStartTime(pgid) ?? '');
    this.groups.set(pgid, start);
    this.send(`+ ${pgid} ${start}`);
  }

  remove(pgid: number): void {
    this.groups.delete(pgid);
    this.send(`- ${pgid}`);
  }

  /** The engine's lease was renewed at `at` (ms): it holds until `at + leaseMs`. */
  beat(at: number): void {
    if (this.child) this.send(`beat ${at}`);
  }

  /** A clean stop: the engine has ended its groups itself; the watchdog goes without killing. */
  close(): void {
    const c = this.child;
    this.child = undefined;
    this.groups.clear();
    c?.kill('SIGKILL');
  }

  private send(line: string): void {
    const c = (this.child ??= this.spawn());
    c.stdin?.write(`${line}\n`);
  }

  private spawn(): ChildProcess {
    // Its own group and session: a Ctrl-C or a kill of the engine's group leaves it to do its work.
    const c = spawn(process.execPath, ['-e', SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    this.childStarted = Date.now();
    c.on('error', () => {});
    c.on('exit', (code, signal) => this.died(c, signal ?? `exit code ${code}`));
    c.stdin?.on('error', () => {});
    c.unref();
    (c.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    if (this.lease) c.stdin?.write(`lease ${this.lease.ttlMs}\n`);
    return c;
  }

  /**
   * The watchdog died while the engine lives: without another, the engine's death would leave
   * its jobs running. One that died idle is started at the next group, as the first was.
   */
  private died(c: ChildProcess, how: string): void {
    if (this.child !== c) return; // closed, or already replaced
    this.child = undefined;
    if (!this.groups.size) return;
    const pause = Date.now() - this.childStarted < RESPAWN_PAUSE_MS ? RESPAWN_PAUSE_MS : 0;
    setTimeout(() => {
      if (this.child || !this.groups.size) return;
      const next = (this.child = this.spawn());
      for (const [pgid, start] of this.groups) next.stdin?.write(`+ ${pgid} ${start}\n`);
      if (this.lease) this.beat(this.lease.lastBeat());
      this.restarted?.(`the watchdog (pid ${c.pid}) that stops this engine's job processes should the engine die was ended (${how}); started again (pid ${next.pid}), watching ${this.groups.size} process group${this.groups.size > 1 ? 's' : ''}`);
    }, pause).unref();
  }
}
