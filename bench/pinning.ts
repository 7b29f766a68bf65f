/**
 * Where a bench's processes run: with `taskset`, the process under test on one CPU and what
 * loads it on the other, so that a ratio compares the processes and not where the scheduler put
 * them on two cores. BENCH_PIN=0, a single CPU or no taskset leave placement to the scheduler.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

function tasksetWorks(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether this bench pins its processes. */
export const PINNED = process.env.BENCH_PIN !== '0' && os.availableParallelism() >= 2 && tasksetWorks();

/** Put a running process, all its threads, on `cpus` (taskset's list: "1", "0-1"). */
export function setCpus(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** Every CPU of the machine, in taskset's list form. */
export const ALL_CPUS = `0-${os.availableParallelism() - 1}`;
