/**
 * The headless view: engine events as plain lines, for CI logs and pipes. It only formats;
 * every decision is the engine's.
 */
import path from 'node:path';
import { formatDuration } from '../config/units.js';
import type { EngineEvent } from '../core/events.js';
import type { Job } from '../core/jobs.js';
import { ranMs } from '../core/job-outcome.js';
import { short } from '../core/queue.js';
import { reportFiles } from '../report/index.js';
import { makeStyle, quoted, safeLine, type Style } from './style.js';
import { count } from '../text/count.js';

/**
 * Why `n` jobs left queued did not start: the state dir's disk refused their claims (see
 * Engine.startsHeld), failing (`failure`, in words) or full. `again`: what to run once it is mended.
 */
export function notStarted(n: number, failure: string | undefined, stateDir: string, again: string): string {
  const them = n === 1 ? 'it' : 'them';
  return failure
    ? `${failure} to start ${them} (the disk failed: check it (dmesg), then run ${again} again)`
    : `no room to start ${them} in the state dir ${stateDir} (free some space there, then run ${again} again)`;
}

export interface ReporterOptions {
  /** Only report these jobs (the ones this process enqueued or runs). */
  mine: (id: string) => boolean;
  /** Prefix lines with the job id (when several jobs run). */
  many: () => boolean;
  now?: () => Date;
}

export class CiReporter {
  readonly style: Style;
  /** Some finished job asked for the bell (notify.bell). */
  bell = false;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }, private readonly o: ReporterOptions, env: NodeJS.ProcessEnv = process.env) {
    this.style = makeStyle(out, env);
  }

  /** Plug into `engine.events.on('*', ...)`. */
  readonly onEvent = (e: EngineEvent): void => {
    const line = this.format(e);
    if (line !== undefined) this.out.write(`${this.style.dim(this.clock(e.at))} ${line}\n`);
  };

  format(e: EngineEvent): string | undefined {
    const s = this.style;
    const mine = (id: string | undefined) => id !== undefined && this.o.mine(id);
    const tag = (id: string) => (this.o.many() ? `${s.dim(`[${short(id)}]`)} ` : '');
    switch (e.type) {
      case 'job.enqueued':
        if (!mine(e.job.id)) return undefined;
        return `job ${short(e.job.id)} ${quoted(e.job.name)} queued (runner ${e.job.runner}, ${e.job.nodes} node${e.job.nodes > 1 ? 's' : ''})`;
      case 'job.started':
        if (!mine(e.job.id)) return undefined;
        return e.job.nodesTaken.length ? `job ${short(e.job.id)} started on ${e.job.nodesTaken.join(', ')}` : undefined;
      case 'job.progress':
        if (!mine(e.jobId)) return undefined;
        return `${tag(e.jobId)}${formatProgress(e.progress)}`;
      case 'job.fixture':
        return undefined; // the engine also logs it as a line, with its context
      case 'job.finished': {
        if (!mine(e.job.id)) return undefined;
        this.bell ||= e.bell;
        const paint = e.job.status === 'succeeded' ? s.green : e.job.status === 'failed' ? s.red : s.yellow;
        return `job ${short(e.job.id)} ${paint(e.summary)}  results: ${e.resultDir}${e.report ? reportPaths(e.report) : ''}`;
      }
      case 'node.status':
        return `node ${e.node} ${e.status === 'up' ? s.green('up') : s.red('down')}${e.latencyMs !== undefined && e.status === 'up' ? ` (${e.latencyMs} ms)` : ''}${e.error ? `: ${e.error}` : ''}`;
      case 'node.enabled':
        return `node ${e.node} ${e.enabled ? 'enabled' : 'disabled'}`;
      case 'log.line': {
        if (e.jobId !== undefined && !mine(e.jobId)) return undefined;
        const text = safeLine(e.line, s.color);
        const prefix = e.jobId ? tag(e.jobId) : '';
        if (e.stream === 'engine') {
          const paint = e.level === 'error' ? s.red : e.level === 'warn' ? s.yellow : (x: string) => x;
          return `${prefix}${e.node ? `${e.node}: ` : ''}${paint(text)}`;
        }
        const mark = e.stream === 'stderr' ? s.yellow('!') : '|';
        return `${prefix}${e.node ?? '-'} ${mark} ${text}`;
      }
      default:
        return undefined;
    }
  }

  /** The closing line: counts per status, the exit code (and the jobs' own under --ci when the command's differs). */
  summary(jobs: readonly Readonly<Job>[], code: number, command = 'marteau-tui --ci', underCi?: number): string {
    const counts = new Map<string, number>();
    for (const j of jobs) counts.set(j.status, (counts.get(j.status) ?? 0) + 1);
    const parts = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
    const ran = jobs.map(ranMs).filter((ms) => ms !== undefined);
    const took = ran.length ? ` (${formatDuration(ran.reduce((t, ms) => t + ms, 0))})` : '';
    const paint = code === 0 ? this.style.green : this.style.red;
    return `${command}: ${count(jobs.length, 'job')}: ${parts || 'none'}${took} ${paint(`exit ${code}`)}${underCi === undefined ? '' : ` (--ci: exit ${underCi})`}`;
  }

  private clock(at: number): string {
    const d = new Date(at);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  }
}

export function formatProgress(p: import('../core/events.js').Progress): string {
  const parts: string[] = [];
  if (p.cycle !== undefined) parts.push(`cycle ${p.cycle + 1}${p.cycles ? `/${p.cycles}` : ''}`);
  if (p.users !== undefined) parts.push(`${p.users} users`);
  if (p.requestsPerSecond !== undefined) parts.push(`${p.requestsPerSecond.toFixed(0)} req/s`);
  if (p.requests !== undefined) parts.push(count(p.requests, 'request'));
  if (p.errors !== undefined) parts.push(count(p.errors, 'error'));
  if (p.message) parts.push(p.message);
  return `progress: ${parts.join(', ')}`;
}

/** The HTML report's path, and the JSON and JUnit ones written beside it (what a CI step uploads). */
function reportPaths(html: string): string {
  const dir = path.dirname(html);
  const files = reportFiles(dir);
  if (files.html !== html) return `  report: ${html}`;
  return `  report: ${html}  json: ${files.json}  junit: ${files.junit}`;
}
