/** The queue as the CLI shows it, for tests that drive workers and read back what they recorded. */
import { expect } from 'vitest';
import { cliDone } from './marteau-cli.js';

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
