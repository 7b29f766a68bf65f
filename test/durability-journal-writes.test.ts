/**
 * A worker whose journal writes the disk refuses, as a user meets it with the built CLI: a disk
 * failing (strace's EIO injected into the real write() of the journal) or full (a file size
 * limit, or strace's ENOSPC) when a job is to start or end. Said once, never spinning in
 * silence, nothing lost.
 */
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupAlive } from '../src/core/owner.js';
import { failWrites, limited, writeFailing, writeFailingRun } from './helpers/disk-faults.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { children, killWithWatchdog, queueJson, waitUntil } from './helpers/queue-cli.js';

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

/**
 * A --ci run of a job that waits for a go, the journal's writes failing with `code` from its
 * process record on, then the go: the job's end is refused. Exits 0 (the job's verdict), mended.
 */
async function ciEndRefused(code: 'EIO' | 'ENOSPC') {
  const state = await stateDir();
  const journal = path.join(state, 'journal.jsonl');
  const go = path.join(state, 'go');
  const dir = await project(`name: ends\n${commandYaml(['sh', '-c', `echo started; for i in $(seq 600); do [ -e '${go}' ] && exit 0; sleep 0.1; done; exit 1`])}\n`);
  const run = cli(['--ci', dir, '--state-dir', state]);
  running.push(run.child);
  await run.waitFor(/local \| started/);
  await waitUntil(async () => (await readFile(journal, 'utf8')).includes('"t":"proc"'));
  const disk = await failWrites(run.child.pid!, journal, code);
  await writeFile(go, '');
  expect(await run.exited, run.out() + run.err()).toBe(0);
  await disk.mend();
  return { state, journal, run };
}

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

  it('under --ci (its enqueue written, its claim refused): said once, exit 3 at once, the job recorded interrupted by the next process', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    const dir = await project(`name: one\n${commandYaml(['true'])}\n`);
    // The run's first write to the journal is its enqueue, the second its claim.
    const r = await writeFailing(journal, ['--ci', dir, '--state-dir', state], 2);
    expect(r.code, r.out + r.err).toBe(3);
    const failed = `cannot write ${journal} (EIO: i/o error)`;
    expect(occurrences(r.out, `${failed}: the disk failed`)).toBe(1);
    expect(r.out).toContain(`marteau-tui --ci: 1 job not started: ${failed} to start it (the disk failed: check it (dmesg), then run \`marteau-tui --ci\` again)\n`);
    expect(r.out).toMatch(/marteau-tui --ci: 1 job: 1 queued exit 3\n$/);
    expect(r.out + r.err).not.toMatch(/internal error|\n\s+at /);
    // Its run gone, nobody else would start a --ci job: the next process ends it.
    const [job] = await queueJson(state);
    expect([job.name, job.status, job.reason]).toEqual(['one', 'interrupted', expect.stringMatching(/^the --ci process that queued it \(pid \d+\) stopped before it started$/)]);
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

describe("a job's process whose record is refused (EIO)", () => {
  it('by the journal: said once in the job\'s log; the worker killed with its watchdog, the next start stops it by its pgid file', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    const id = await queuedJob(state, 'long', ['sh', '-c', 'echo started; sleep 60']);
    // The worker's first write to the journal is its claim, the second its process's record.
    const worker = writeFailingRun(journal, ['worker', '--state-dir', state], 2);
    const killAll = () => process.kill(-worker.child.pid!, 'SIGKILL');
    try {
      await worker.waitFor(/not recorded in the queue/);
      const dir = path.join(state, 'jobs', id);
      expect(worker.out()).toContain(`[${id.slice(0, 8)}] cannot write ${journal} (EIO: i/o error): this job's processes are not recorded in the queue; should this marteau-tui die with its watchdog, the next start finds them by their pgid-* files in ${dir}\n`);
      const pgid = Number((await readFile(path.join(dir, 'pgid-local'), 'utf8')).split(' ')[0]);
      // The worker (strace's child) killed with its watchdog. Not strace: its end would kill
      // every process it traces, the job's too.
      const [pid] = await children(worker.child.pid!);
      await killWithWatchdog(pid, pgid);
      expect(groupAlive(pgid)).toBe(true);
      const [job] = await queueJson(state);
      expect([job.status, job.procs]).toEqual(['interrupted', []]);
      await waitUntil(() => !groupAlive(pgid));
    } finally {
      try {
        killAll();
      } catch {
        // gone
      }
    }
  });

  it('by its pgid file: said in the job\'s log with the group to stop by hand should the worker die', async () => {
    const state = await stateDir();
    const id = await queuedJob(state, 'one', ['sh', '-c', 'echo started']);
    const file = path.join(state, 'jobs', id, 'pgid-local');
    const r = await writeFailing(file, ['worker', '--drain', '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(0);
    const pgid = /process group (\d+)/.exec(r.out)?.[1];
    expect(r.out).toContain(`[${id.slice(0, 8)}] cannot write ${file} (EIO: i/o error): should this marteau-tui die with its watchdog, the next start cannot stop the processes of local (process group ${pgid}); stop them by hand then (kill -KILL -- -${pgid})\n`);
    expect(r.out + r.err).not.toMatch(/internal error|\n\s+at /);
  });
});

describe('a journal whose write fails (EIO) when a job ends', () => {
  /** A worker (`args`) whose one job has started and waits for `go` to exist (bounded: 60 s) before it ends, exit 0. */
  async function jobWaiting(state: string, args: string[]): Promise<{ worker: ReturnType<typeof cli>; id: string; go: string }> {
    const go = path.join(state, 'go');
    const id = await queuedJob(state, 'ends', ['sh', '-c', `echo started; for i in $(seq 600); do [ -e '${go}' ] && exit 0; sleep 0.1; done; exit 1`]);
    const worker = cli([...args, '--state-dir', state]);
    running.push(worker.child);
    await worker.waitFor(/local \| started/);
    // Its process is recorded: the next write to the journal is the job's end.
    await waitUntil(async () => (await readFile(path.join(state, 'journal.jsonl'), 'utf8')).includes('"t":"proc"'));
    return { worker, id, go };
  }

  it('the end is kept and said, no internal error; recorded by the worker once the journal takes writes again', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    const { worker, id, go } = await jobWaiting(state, ['worker']);
    const disk = await failWrites(worker.child.pid!, journal);
    await writeFile(go, '');
    await worker.waitFor(/is kept in/);
    const kept = path.join(state, 'jobs', id, 'result.json');
    expect(worker.out()).toContain(`cannot write ${journal} (EIO: i/o error): the disk failed: check it (dmesg), or give another --state-dir;`);
    expect(worker.out()).toContain(`[${id.slice(0, 8)}] the job's end (succeeded) cannot be written to the journal (EIO: i/o error): it is kept in ${kept} and recorded once the journal can be written again, or by the next marteau-tui process on this state dir\n`);
    expect(worker.out() + worker.err()).not.toMatch(/internal error|\n\s+at /);
    expect(JSON.parse(await readFile(kept, 'utf8'))).toMatchObject({ status: 'succeeded' });
    // Not in the journal yet: every other process sees it running, its worker alive.
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['running']);
    // Its end said here all the same, once, with where its results are.
    const ended = ` job ${id.slice(0, 8)} succeeded in `;
    await worker.waitFor(new RegExp(ended));
    await disk.mend();
    await worker.waitFor(/is recorded in the queue/);
    expect(worker.out()).toContain(`${journal} can be written again: jobs start again\n`);
    expect(worker.out()).toContain(`[${id.slice(0, 8)}] the job's end (succeeded) is recorded in the queue\n`);
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['succeeded']);
    expect(occurrences(worker.out(), ended)).toBe(1);
    expect(worker.child.exitCode).toBe(null);
    worker.child.kill('SIGINT');
    await worker.exited;
  });

  it('under `worker --drain`: it ends with the job\'s verdict, the end said kept, and the next process records it', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    const { worker, id, go } = await jobWaiting(state, ['worker', '--drain']);
    const disk = await failWrites(worker.child.pid!, journal);
    await writeFile(go, '');
    expect(await worker.exited, worker.out() + worker.err()).toBe(0);
    await disk.mend();
    expect(worker.out()).toContain(`[${id.slice(0, 8)}] the job's end (succeeded) cannot be written to the journal (EIO: i/o error): it is kept in ${path.join(state, 'jobs', id, 'result.json')}`);
    expect(worker.out()).toMatch(/marteau-tui worker: 1 job: 1 succeeded/);
    expect(occurrences(worker.out(), ` job ${id.slice(0, 8)} succeeded in `)).toBe(1);
    expect(worker.out() + worker.err()).not.toMatch(/internal error|\n\s+at /);
    const [ended] = await queueJson(state);
    expect([ended.status, ended.reason]).toEqual(['succeeded', undefined]);
  });

  it('under --ci: it exits with the job\'s verdict rather than wait for ever, the end said kept, and the next process records it', async () => {
    const { state, run } = await ciEndRefused('EIO');
    expect(run.out()).toMatch(/the job's end \(succeeded\) cannot be written to the journal \(EIO: i\/o error\): it is kept in /);
    expect(run.out()).toMatch(/marteau-tui --ci: 1 job: 1 succeeded/);
    expect(run.out() + run.err()).not.toMatch(/internal error|\n\s+at /);
    const [job] = await queueJson(state);
    expect([job.status, job.reason]).toEqual(['succeeded', undefined]);
    // Its line with where its results are, as for any end.
    expect(occurrences(run.out(), ` job ${job.id.slice(0, 8)} succeeded in `)).toBe(1);
    expect(run.out()).toContain(`results: ${path.join(state, 'jobs', job.id)}\n`);
  });
});

describe('a full journal (ENOSPC) when a job ends', () => {
  it('under --ci: it exits with the job\'s verdict rather than wait for room, the end said kept, and the next process records it', async () => {
    const { state, journal, run } = await ciEndRefused('ENOSPC');
    expect(run.out()).toContain(`the state dir ${state} is full (ENOSPC writing ${journal}): no job starts here until there is room`);
    expect(run.out()).toMatch(/marteau-tui --ci: 1 job: 1 succeeded/);
    expect(run.out() + run.err()).not.toMatch(/internal error|\n\s+at /);
    const [job] = await queueJson(state);
    expect([job.status, job.reason]).toEqual(['succeeded', undefined]);
    expect(occurrences(run.out(), ` job ${job.id.slice(0, 8)} succeeded in `)).toBe(1);
    expect(run.out()).toContain(`results: ${path.join(state, 'jobs', job.id)}\n`);
    // This run ends: the words do not promise that it records the end later itself.
    expect(run.out()).toContain(` the job's end (succeeded) is kept in ${path.join(state, 'jobs', job.id, 'result.json')} and recorded in the queue once there is room, or by the next marteau-tui process on this state dir\n`);
  });
});

describe('a journal whose write fails (EIO) under a command', () => {
  it('enqueue, cancel, nodes --disable: exit 3 naming the journal and what to do, nothing changed, no directory left', async () => {
    const state = await stateDir();
    const id = await queuedJob(state, 'stays', ['true']);
    const journal = path.join(state, 'journal.jsonl');
    const said = `${journal}: EIO: i/o error (the disk failed: check it (dmesg), or give another --state-dir)\n`;
    const other = await project(`name: other\n${commandYaml(['true'])}\n`);
    const enqueue = await writeFailing(journal, ['enqueue', other, '--state-dir', state]);
    expect([enqueue.code, enqueue.out, enqueue.err]).toEqual([3, '', `marteau-tui: ${said}`]);
    const cancel = await writeFailing(journal, ['cancel', id, '--state-dir', state]);
    expect([cancel.code, cancel.out, cancel.err]).toEqual([3, '', `marteau-tui: ${said}`]);
    const disable = await writeFailing(journal, ['nodes', '--no-probe', '--disable', 'local', '--state-dir', state]);
    expect([disable.code, disable.out, disable.err]).toEqual([3, '', `marteau-tui: ${said}`]);
    expect((await queueJson(state)).map((j) => [j.name, j.status])).toEqual([['stays', 'queued']]);
    expect(await readdir(path.join(state, 'jobs'))).toEqual([id]);
    expect((await cliDone(['nodes', '--no-probe', '--json', '--state-dir', state])).out).toMatch(/"enabled": true/);
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

  it('under --ci (room for its enqueue, none for its claim): said once, exit 3 at once, not a silent wait', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    const dir = await project(`name: one\n${commandYaml(['true'])}\n`);
    // The journal short of the limit by the size of the run's enqueue (as another state dir
    // measures it) and 80 bytes: its claim (over 150) does not fit.
    const scratch = await stateDir();
    expect((await cliDone(['enqueue', dir, '--state-dir', scratch])).code).toBe(0);
    const room = (await stat(path.join(scratch, 'journal.jsonl'))).size + 80;
    const pad = 4 * 512 - room - `${JSON.stringify({ t: 'pad', at: 1, x: '' })}\n`.length;
    await writeFile(journal, `${JSON.stringify({ t: 'pad', at: 1, x: 'x'.repeat(pad) })}\n`);
    const r = await limited(4, ['--ci', dir, '--state-dir', state], 30);
    expect(r.code, r.out + r.err).toBe(3);
    expect(occurrences(r.out, `the state dir ${state} is full (ENOSPC writing ${journal}): no job starts here until there is room`)).toBe(1);
    expect(r.out).toContain(`marteau-tui --ci: 1 job not started: no room to start it in the state dir ${state} (free some space there, then run \`marteau-tui --ci\` again)\n`);
    expect(r.out).toMatch(/marteau-tui --ci: 1 job: 1 queued exit 3\n$/);
    expect(await readFile(journal, 'utf8')).toContain('"t":"enqueued"');
    expect(await readFile(journal, 'utf8')).not.toContain('"t":"claimed"');
  });
});
