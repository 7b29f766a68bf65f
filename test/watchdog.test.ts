/**
 * The watchdog (the process that kills an engine's job processes should the engine die) killed on
 * its own, with the built CLI: real processes, real signals.
 */
import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { groupAlive } from '../src/core/owner.js';
import { removeTemp, stateDir } from './helpers/projects.js';
import { queueJson, waitUntil, workerWithLongJob } from './helpers/queue-cli.js';

/** What a test started: stopped even when it fails half-way (a job's group: its `sleep 60`). */
const running: ChildProcess[] = [];
const groups: number[] = [];
afterAll(async () => {
  for (const c of running) c.kill('SIGKILL');
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  await removeTemp();
});

describe('the watchdog killed on its own', () => {
  it('is started again at once and said once, so the engine dying later still stops its job', async () => {
    const state = await stateDir();
    const worker = await workerWithLongJob(state, running);
    const [job] = await queueJson(state);
    const pgid = job.procs[0].pgid;
    groups.push(pgid);
    const watchdogs = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
            return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(worker.child.pid) && readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[1] === '-e';
          } catch {
            return false;
          }
        })
        .map(Number);
    const [first] = watchdogs();
    expect(first).toBeGreaterThan(0);

    process.kill(first, 'SIGKILL');
    const [, second] = await worker.waitFor(/the watchdog \(pid \d+\) that stops this engine's job processes should the engine die was ended \(SIGKILL\); started again \(pid (\d+)\), watching 1 process group\n/);
    expect(watchdogs()).toEqual([Number(second)]);
    expect(worker.out().match(/the watchdog/g)).toHaveLength(1);

    worker.child.kill('SIGKILL');
    await worker.exited;
    await waitUntil(() => !groupAlive(pgid), 5000);
  });
});

