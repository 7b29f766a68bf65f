/** User + system CPU of a live process in ms, from /proc (Linux): undefined when it cannot be read. */
import { readFileSync } from 'node:fs';

export function processCpuMs(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold ") "): utime and stime are the 12th and 13th, in 10 ms ticks.
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return undefined;
  }
}
