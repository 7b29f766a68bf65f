/**
 * A worker whose journal writes the disk refuses, as a user meets it with the built CLI: a disk
 * failing (strace's EIO injected into the real write() of the journal) or full (a file size limit)
 * when a job is to start or end. Said once, never spinning in silence, nothing lost.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failWrites, limited, writeFailing } from './helpers/disk-faults.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { queueJson, waitUntil } from './helpers/queue-cli.js';

/** Workers a test started: stopped even when it fails half-way. */
const running: ChildProcess[] = [];
afterAll(async () => {
  for (const c of running) c.kill('SIGKILL');
  await removeTemp();
});

/** A state dir with one job queued (`argv` its command); its id. */
async function queuedJob(state: string, name: string, argv: string[]): Promise<string> {
  const r = await cliDone(['enqueue', await project(`name: ${name}\n${commandYaml(argv)}\n`), '--state-dir', state]);
  expect(r.code, r.err).toBe(0);
  return /\(([0-9a-f]{16})\)/.exec(r.out)![1];
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

describe('a journal whose write fails (EIO) when a job is to start', () => {
  it('under `worker --drain`: said once, the worker ends at once with exit 3, the job left queued', async () => {
    const state = await stateDir();
    await queuedJob(state, 'one', ['true']);
    const journal = path.join(state, 'journal.jsonl');
    const r = await writeFailing(journal, ['worker', '--drain', '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(3);
    const failed = `cannot write ${journal} (EIO: i/o error)`;
    expect(occurrences(r.out, `${failed}: the disk failed: check it (dmesg), or give another --state-dir; no job starts here until it can be written again (tried every second), the queued jobs wait\n`)).toBe(1);
    expect(r.out).toContain(`marteau-tui worker: 1 job left queued: ${failed} to start it (the disk failed: check it (dmesg), then run \`marteau-tui worker --drain\` again)\n`);
    expect(r.out + r.err).not.toMatch(/internal error|\n\s+at /);
    expect((await queueJson(state)).map((j) => [j.name, j.status])).toEqual([['one', 'queued']]);
  });

  it('under a long-running worker: said once however often it is tried, and when it mends; the job then runs', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    const worker = cli(['worker', '--state-dir', state]);
    running.push(worker.child);
    await worker.waitFor(/running queued jobs/);
    const disk = await failWrites(worker.child.pid!, journal);
    const id = await queuedJob(state, 'waits', ['true']);
    const said = `cannot write ${journal} (EIO: i/o error): the disk failed`;
    await worker.waitFor(/the disk failed/);
    // Tried again every second meanwhile, said no more.
    await new Promise((r) => setTimeout(r, 3500));
    expect(occurrences(worker.out(), said)).toBe(1);
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['queued']);
    await disk.mend();
    await worker.waitFor(/jobs start again/);
    expect(worker.out()).toContain(`${journal} can be written again: jobs start again\n`);
    await waitUntil(async () => (await queueJson(state))[0].status === 'succeeded');
    expect(occurrences(worker.out(), said)).toBe(1);
    expect(worker.out() + worker.err()).not.toMatch(/internal error|\n\s+at /);
    worker.child.kill('SIGINT');
    await worker.exited;
    expect(worker.out()).toContain(`job ${id.slice(0, 8)} succeeded`);
  });
});

describe('a full journal when a job is to start', () => {
  it('under `worker --drain`: starts held, said once, exit 3 with the jobs left queued, not a silent wait', async () => {
    const state = await stateDir();
    await queuedJob(state, 'one', ['true']);
    const journal = path.join(state, 'journal.jsonl');
    // The journal filled to the worker's file size limit: its claim cannot be written.
    const blocks = Math.ceil(((await stat(journal)).size + 1) / 512);
    const pad = blocks * 512 - (await stat(journal)).size - `${JSON.stringify({ t: 'pad', at: 1, x: '' })}\n`.length;
    await writeFile(journal, `${JSON.stringify({ t: 'pad', at: 1, x: 'x'.repeat(pad) })}\n`, { flag: 'a' });
    const r = await limited(blocks, ['worker', '--drain', '--state-dir', state], 30);
    expect(r.code, r.out + r.err).toBe(3);
    expect(occurrences(r.out, `the state dir ${state} is full (EFBIG writing ${journal}): no job starts here until there is room`)).toBe(1);
    expect(r.out).toContain(`marteau-tui worker: 1 job left queued: no room to start it in the state dir ${state}`);
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['queued']);
    expect(await readFile(journal, 'utf8')).not.toContain('"t":"claimed"');
  });
});
