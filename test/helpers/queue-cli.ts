/** The queue as the CLI shows it, for tests that drive workers and read back what they recorded. */
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

/** A `worker` on `state` once the one job enqueued there (a minute of sleep) has started; `running` gets its process, for the file's clean-up. */
export async function workerWithLongJob(state: string, running: { push(c: CliRun['child']): unknown }): Promise<CliRun> {
  const long = await project(`name: long\n${commandYaml(['sh', '-c', 'echo started; sleep 60'])}\n`);
  expect((await cliDone(['enqueue', long, '--state-dir', state])).code).toBe(0);
  const worker = cli(['worker', '--state-dir', state]);
  running.push(worker.child);
  await worker.waitFor(/local \| started/);
  return worker;
}
