/**
 * Who runs a job, precisely enough to tell later whether that process is still alive: host, pid
 * and the kernel's start time of the pid (so a recycled pid is not mistaken for the owner).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface Owner {
  host: string;
  pid: number;
  /** Process start time in clock ticks since boot (Linux /proc), when known. */
  start?: number;
  /** Which queue connection of the process (team mode: one process may hold several). */
  session?: string;
}

let self: Owner | undefined;

export function currentOwner(): Owner {
  self ??= { host: os.hostname(), pid: process.pid, start: processStartTime(process.pid) };
  return self;
}

export function processStartTime(pid: number): number | undefined {
  return procStat(pid)?.start;
}

/**
 * Fields of /proc/PID/stat: its state letter (field 3), process group (5) and start time (22);
 * undefined when there is no such process (or no /proc).
 */
function procStat(pid: number | string): { state: string; pgrp: number; start: number | undefined } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(rest[19]); // rest[0] is field 3
    return { state: rest[0], pgrp: Number(rest[2]), start: Number.isFinite(start) ? start : undefined };
  } catch {
    return undefined;
  }
}

/** A zombie (Z) or dead (X) process: its pid answers kill(pid, 0) until its parent reaps it. */
const gone = (state: string | undefined) => state === 'Z' || state === 'X';

/** true/false when it can be told from here; undefined for a process on another host. */
export function isOwnerAlive(o: Owner): boolean | undefined {
  if (o.host !== os.hostname()) return undefined;
  if (o.pid === process.pid) return o.start === undefined || o.start === currentOwner().start;
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    // EPERM: exists but belongs to someone else, so not our engine unless start times match.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStat(o.pid);
  // Killed (kill -9) but not yet reaped: an init that reaps lazily (containers) leaves it a zombie
  // for a second or more, and a worker restarted meanwhile must not take its jobs for running.
  if (gone(now?.state)) return false;
  if (o.start === undefined || now?.start === undefined) return true;
  return now.start === o.start;
}

/**
 * Is a process group still there with a live (non-zombie) member? kill(-pgid, 0) alone also
 * counts zombies, which linger until an init that reaps lazily (containers) collects them.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!existsSync('/proc/self/stat')) return true;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    // undefined: the process ended while we looked
    const st = procStat(name);
    if (st?.pgrp === pgid && !gone(st.state)) return true;
  }
  return false;
}
