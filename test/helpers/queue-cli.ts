/** The queue as the CLI shows it, for tests that drive workers and read back what they recorded. */
import { readdir, readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { cli, cliDone, type CliRun } from './marteau-cli.js';
import { commandYaml, project } from './projects.js';

export type QueueRow = { id: string; name: string; status: string; reason?: string; procs: { pgid: number }[] };

/** `marteau-tui queue --all --json`, which must succeed. */
export async function queueJson(state: string): Promise<QueueRow[]> {
  const r = await cliDone(['queue', '--all', '--json', '--state-dir', state]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as QueueRow[];
}

/** Poll a condition on real processes and files, for at most `ms`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The state of process `pid` (R, S, Z, ...), undefined once it is gone. */
async function procState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // After the command's name in parentheses: state, ppid.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/** The live children of `pid` (a zombie is dead already). */
export async function children(pid: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((f) => /^\d+$/.test(f)).map(Number);
  const stats = await Promise.all(pids.map((p) => readFile(`/proc/${p}/stat`, 'utf8').catch(() => '')));
  return pids.filter((_, i) => {
    const [state, ppid] = stats[i].slice(stats[i].lastIndexOf(')') + 2).split(' ');
    return Number(ppid) === pid && state !== 'Z';
  });
}

/**
 * The worker `pid` and its watchdog (its child that does not lead the job's group `jobPgid`)
 * killed at once, as a kill -9 of both or the OOM killer does: nothing of theirs stops the job.
 */
export async function killWithWatchdog(pid: number, jobPgid: number): Promise<void> {
  const watchdog = (await children(pid)).filter((c) => c !== jobPgid);
  expect(watchdog).toHaveLength(1);
  // Both frozen first, the worker before its watchdog: killed alone, the worker closes the
  // watchdog's pipe and the watchdog stops the job; the watchdog killed alone, the worker starts
  // another. Either, scheduled between two kills on a loaded machine, spoils what is tested.
  for (const p of [pid, ...watchdog]) process.kill(p, 'SIGSTOP');
  for (const p of [pid, ...watchdog]) process.kill(p, 'SIGKILL');
  const dead = async (p: number) => [undefined, 'Z'].includes(await procState(p));
  await waitUntil(async () => (await dead(pid)) && (await dead(watchdog[0])));
}

/** A `worker` on `state` once the one job enqueued there (a minute of sleep) has started; `running` gets its process, for the file's clean-up. */
export async function workerWithLongJob(state: string, running: { push(c: CliRun['child']): unknown }): Promise<CliRun> {
  const long = await project(`name: long\n${commandYaml(['sh', '-c', 'echo started; sleep 60'])}\n`);
  expect((await cliDone(['enqueue', long, '--state-dir', state])).code).toBe(0);
  const worker = cli(['worker', '--state-dir', state]);
  running.push(worker.child);
  await worker.waitFor(/local \| started/);
  return worker;
}
