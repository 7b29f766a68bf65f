/** What a live process has spent, from /proc (Linux). */
import { readFileSync } from 'node:fs';

/** User + system CPU of a live process in ms: undefined when it cannot be read. */
export function processCpuMs(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold ") "): utime and stime are the 12th and 13th, in 10 ms ticks.
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * Read and write system calls a live process has made (syscr + syscw of /proc/PID/io), or
 * undefined: on small pipelined messages they are most of what a process in the middle costs.
 */
export function processIoCalls(pid: number): number | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
    const n = field('syscr') + field('syscw');
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
