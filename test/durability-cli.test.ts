/**
 * Nothing lost, as a user meets it with the built CLI: an engine killed -9 while another runs, a
 * disk that fills up during a job or under an enqueue, a disk that fails to sync, a journal
 * damaged by a crash. A full disk is a file size limit, a failing disk strace's fault injection
 * into the real fdatasync (helpers/disk-faults.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupAlive } from '../src/core/owner.js';
import { BIN, dist, ROOT } from './helpers/dist.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { limited, syncFailing } from './helpers/disk-faults.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { killWithWatchdog, queueJson, waitUntil, workerWithLongJob, type QueueRow } from './helpers/queue-cli.js';

/** Workers a test started: stopped even when it fails half-way. */
const running: ChildProcess[] = [];
afterAll(async () => {
  for (const c of running) c.kill('SIGKILL');
  await removeTemp();
});

/** The demo project (the shop app as a service, the builtin runner, about 5 s of load) where tests can copy it. */
async function demoProject(): Promise<string> {
  return project((await readFile(path.join(ROOT, 'fixtures/demo/.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/demo/serve.js', dist('fixtures/demo/serve.js')));
}

describe('an engine killed -9 while another runs on the same state dir', () => {
  it('the other notices within seconds: the job interrupted, its node freed, the next queued job run', async () => {
    const state = await stateDir();
    const long = await project(`name: long\n${commandYaml(['sh', '-c', 'echo started; sleep 60'])}\n`);
    const first = cli(['worker', '--state-dir', state]);
    running.push(first.child);
    expect((await cliDone(['enqueue', long, '--state-dir', state])).code).toBe(0);
    await first.waitFor(/local \| started/);
    const second = cli(['worker', '--state-dir', state]);
    running.push(second.child);
    await second.waitFor(/running queued jobs/);
    const next = await project(`name: next\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', next, '--state-dir', state])).code).toBe(0);

    first.child.kill('SIGKILL');
    await first.exited;
    // No other process opens the state dir from here: the second worker must see it by itself.
    await second.waitFor(/job [0-9a-f]{8} succeeded/, 15_000);
    const jobs = await queueJson(state);
    expect(jobs.map((j) => [j.name, j.status])).toEqual([['long', 'interrupted'], ['next', 'succeeded']]);
    expect(jobs[0].reason).toMatch(/^the marteau-tui process running it \(pid \d+ on .*\) stopped without finishing it$/);
    await waitUntil(() => !groupAlive(jobs[0].procs[0].pgid));
    second.child.kill('SIGINT');
    await second.exited;
  });
});

describe('an engine killed -9 with nobody else on the state dir', () => {
  it('killed with its watchdog, under lost_jobs: requeue: the job back in the queue, the processes it left stopped by the next start', async () => {
    const state = await stateDir();
    const nodes = path.join(await temp('nodes'), 'nodes.yml');
    await writeFile(nodes, 'nodes:\n  local: {type: local}\nqueue: {lost_jobs: requeue}\n');
    const long = await project(`name: long\n${commandYaml(['sh', '-c', 'echo started; sleep 60'])}\n`);
    expect((await cliDone(['enqueue', long, '--state-dir', state, '--nodes', nodes])).code).toBe(0);
    const worker = cli(['worker', '--state-dir', state, '--nodes', nodes]);
    running.push(worker.child);
    await worker.waitFor(/local \| started/);
    await waitUntil(async () => (await queueJson(state))[0].procs.length > 0);
    const [{ pgid }] = (await queueJson(state))[0].procs;
    await killWithWatchdog(worker.child.pid!, pgid);
    expect(groupAlive(pgid)).toBe(true);
    // The next start: the job to run again, not beside its old copy.
    const [job] = await queueJson(state);
    expect([job.status, job.reason]).toEqual(['queued', expect.stringMatching(/^the marteau-tui process running it \(pid \d+ on .*\) stopped without finishing it$/)]);
    await waitUntil(() => !groupAlive(pgid));
  });

  it("its job, found later, ended when it was last seen at work: its duration is not the time until someone looked", async () => {
    const state = await stateDir();
    const worker = await workerWithLongJob(state, running);
    worker.child.kill('SIGKILL');
    await worker.exited;
    const journal = await readFile(path.join(state, 'journal.jsonl'), 'utf8');
    const claimed = journal.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: string; at: number; id: string }).find((r) => r.t === 'claimed')!;
    // Its files last written after its start (a whole second: utimes takes float seconds, which
    // may round a millisecond away), and found once that time is past (a last write in the future
    // is no one's): whenever it is found dead, that is its end.
    const dir = path.join(state, 'jobs', claimed.id);
    const end = Math.floor(Date.now() / 1000) * 1000 + 1000;
    const last = new Date(end);
    for (const f of await readdir(dir)) await utimes(path.join(dir, f), last, last);
    await new Promise((r) => setTimeout(r, end - Date.now() + 50));
    const [job] = (await queueJson(state)) as (QueueRow & { durationMs: number; endedAt: number })[];
    expect(job.status).toBe('interrupted');
    expect(job.endedAt).toBe(end);
    expect(job.durationMs).toBe(end - claimed.at);
  });
});

describe('a full disk', () => {
  it('during a builtin job: the job fails saying which file, the worker lives on, the samples so far make a report', async () => {
    const dir = await demoProject();
    const state = await stateDir();
    expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
    // 16 KiB a file: the journal and the job's small files fit, its sample log does not.
    const r = await limited(32, ['worker', '--drain', '--state-dir', state]);
    expect(r.err).not.toMatch(/node:internal|\n\s+at /);
    expect(r.code, r.out + r.err).toBe(3);
    const [job] = await queueJson(state);
    const samples = path.join(state, 'jobs', job.id, 'results.samples');
    expect(job.status).toBe('failed');
    expect(job.reason).toBe(`cannot write the samples to ${samples} (EFBIG: file too large): the load was stopped; the samples until then are kept there for \`marteau-tui report\``);
    expect(r.out).toContain(`job ${job.id.slice(0, 8)} failed: cannot write the samples to ${samples}`);
    expect((await stat(samples)).size).toBe(32 * 512);
    // The report judges the run as the job ended: failed for the machines (3), not killed (130).
    const report = await cliDone(['report', job.id, '-o', path.join(state, 'report'), '--state-dir', state]);
    expect(report.out).toMatch(/\d+ requests/);
    expect(report.code, report.out + report.err).toBe(3);
    expect(report.out).toContain(`\nFAILED: the run was aborted (${job.reason})`);
    expect(report.out).not.toContain('INTERRUPTED');
    expect(JSON.parse(await readFile(path.join(state, 'report', 'summary.json'), 'utf8'))).toMatchObject({ passed: false, interrupted: false, abort: { why: 'infrastructure', reason: job.reason } });
    expect((await stat(path.join(state, 'report', 'index.html'))).size).toBeGreaterThan(0);
  });

  it('before a job can start: back in the queue, no job started until there is room, none of the queue failed', async () => {
    const state = await stateDir();
    const a = await demoProject();
    const b = await project(`name: b\n${commandYaml(['true'])}\n`);
    const queued = await cliDone(['enqueue', a, b, '--state-dir', state]);
    const [idA] = [...queued.out.matchAll(/\(([0-9a-f]{16})\)/g)].map((m) => m[1]);
    // Its sample log, opened before the load: /dev/full refuses every write with ENOSPC, as a full disk.
    const samples = path.join(state, 'jobs', idA, 'results.samples');
    await symlink('/dev/full', samples);
    const worker = cli(['worker', '--state-dir', state]);
    running.push(worker.child);
    await worker.waitFor(/no job starts here until there is room/);
    const why = `the state dir ${state} is full (ENOSPC writing ${samples})`;
    expect(worker.out()).toContain(`${why}: no job starts here until there is room (checked every 5 s); the queued jobs wait`);
    // Said once, by that line: no load was stopped, since none had started.
    expect(worker.out()).not.toContain('the load was stopped');
    const held = await queueJson(state);
    expect(held.map((j) => [j.name, j.status])).toEqual([['demo-shop', 'queued'], ['b', 'queued']]);
    expect(held[0].reason).toBe(`${why}: put back in the queue`);
    // Room again: both run, in their order.
    await rm(samples);
    await waitUntil(async () => (await queueJson(state)).every((j) => j.status === 'succeeded'), 60_000);
    worker.child.kill('SIGINT');
    await worker.exited;
  });

  it('under `worker --drain` with starts held: it ends at once, exit 3, saying which jobs are left queued and why', async () => {
    const state = await stateDir();
    const b = await project(`name: b\n${commandYaml(['true'])}\n`);
    const queued = await cliDone(['enqueue', await demoProject(), b, '--state-dir', state]);
    expect(queued.code, queued.err).toBe(0);
    const [idA] = [...queued.out.matchAll(/\(([0-9a-f]{16})\)/g)].map((m) => m[1]);
    await symlink('/dev/full', path.join(state, 'jobs', idA, 'results.samples'));
    // A CI step must not wait for ever for someone to free the disk.
    const worker = cli(['worker', '--drain', '--state-dir', state]);
    running.push(worker.child);
    expect(await worker.exited, worker.out() + worker.err()).toBe(3);
    expect(worker.out()).toContain(`marteau-tui worker: 2 jobs left queued: no room to start them in the state dir ${state} (free some space there, then run \`marteau-tui worker --drain\` again)\n`);
    expect((await queueJson(state)).map((j) => [j.name, j.status])).toEqual([['demo-shop', 'queued'], ['b', 'queued']]);
  });

  it("for a job's output: said once, the output still shown, the job's verdict its own", async () => {
    const state = await stateDir();
    const job = await project(`name: talks\n${commandYaml(['sh', '-c', 'echo one; echo two'])}\n`);
    const queued = await cliDone(['enqueue', job, '--state-dir', state]);
    const [id] = [...queued.out.matchAll(/\(([0-9a-f]{16})\)/g)].map((m) => m[1]);
    const output = path.join(state, 'jobs', id, 'console.log');
    await symlink('/dev/full', output);
    const r = await cliDone(['worker', '--drain', '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(0);
    const said = `[${id.slice(0, 8)}] cannot write the job's output to ${output} (ENOSPC: no space left on device): from here it is shown but not kept`;
    expect(r.out.split(said)).toHaveLength(2);
    expect(r.out).toMatch(/local \| one\n[\s\S]*local \| two\n/);
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['succeeded']);
  });

  it("at a job's end: the end is kept and said, not an internal error leaving the job running", async () => {
    const state = await stateDir();
    const job = await project(`name: short\n${commandYaml(['sh', '-c', 'echo started; sleep 1'])}\n`);
    expect((await cliDone(['enqueue', job, '--state-dir', state])).code).toBe(0);
    const journal = path.join(state, 'journal.jsonl');
    const blocks = 16;
    const worker = spawn('sh', ['-c', `ulimit -f ${blocks}; exec "$0" "$@"`, process.execPath, BIN, 'worker', '--state-dir', state], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    worker.stdout.on('data', (d) => { out += d; });
    worker.stderr.on('data', (d) => { out += d; });
    running.push(worker);
    const exited = new Promise((resolve) => worker.on('exit', resolve));
    await waitUntil(() => out.includes('local | started') && readFileSync(journal, 'utf8').includes('"t":"proc"'));
    // The journal at the worker's limit: its next record, the job's end, cannot be written.
    const pad = blocks * 512 - (await stat(journal)).size - `${JSON.stringify({ t: 'pad', at: 1, x: '' })}\n`.length;
    await writeFile(journal, `${JSON.stringify({ t: 'pad', at: 1, x: 'x'.repeat(pad) })}\n`, { flag: 'a' });
    await waitUntil(() => out.includes('recorded in the queue once there is room'));
    expect(out).toMatch(/\[([0-9a-f]{8})\] the job's end \(succeeded\) is kept in .*\/jobs\/\1[0-9a-f]{8}\/result\.json and recorded in the queue once there is room, or by the next marteau-tui process on this state dir\n/);
    expect(out).toContain(`the state dir ${state} is full (EFBIG writing ${journal}): no job starts here until there is room`);
    expect(out).not.toMatch(/internal error|\n\s+at /);
    worker.kill('SIGINT');
    await exited;
    expect(out).toMatch(/marteau-tui worker: 1 job: 1 succeeded/);
    // The next process finds its engine gone and records the end it reached, from its result.json.
    const [ended] = await queueJson(state);
    expect([ended.status, ended.reason]).toEqual(['succeeded', undefined]);
  });

  it('under an enqueue: a clear error naming the journal, no half record left, the queue intact', async () => {
    const state = await stateDir();
    const first = await project(`name: first\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', first, '--state-dir', state])).code).toBe(0);
    const journal = path.join(state, 'journal.jsonl');
    // Room for 64 more bytes in the journal: the next record is cut in its middle.
    const size = (await stat(journal)).size;
    const blocks = Math.ceil((size + 200) / 512);
    // A record of a type no version writes, which every reader skips, fills the rest.
    const pad = blocks * 512 - 64 - size - `${JSON.stringify({ t: 'pad', at: 1, x: '' })}\n`.length;
    await writeFile(journal, `${JSON.stringify({ t: 'pad', at: 1, x: 'x'.repeat(pad) })}\n`, { flag: 'a' });
    expect((await stat(journal)).size).toBe(blocks * 512 - 64);
    const second = await project(`name: second\n${commandYaml(['true'])}\n`);
    const r = await limited(blocks, ['enqueue', second, '--state-dir', state]);
    expect(r.code).toBe(3);
    expect(r.err).toBe(`marteau-tui: ${journal}: ENOSPC: short write: the disk (or a quota or a file size limit) is full (free some space there, or give another --state-dir)\n`);
    expect((await stat(journal)).size).toBe(blocks * 512 - 64);
    // Room again: the next record is whole, and nothing is damaged.
    expect((await cliDone(['enqueue', second, '--state-dir', state])).code).toBe(0);
    const q = await cliDone(['queue', '--state-dir', state]);
    expect(q.err).toBe('');
    expect(q.out).toMatch(/first\s+command[\s\S]*second\s+command/);
  });

  it('under an enqueue of several targets: the one queued said with its id, the others named, their directories removed at once', async () => {
    const state = await stateDir();
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => project(`name: ${n}\n${commandYaml(['true'])}\n`)));
    // a's record is as long in any state dir (the same paths; the process's id and start may take a digit more).
    const probe = await stateDir();
    expect((await cliDone(['enqueue', a, '--state-dir', probe])).code).toBe(0);
    const record = (await stat(path.join(probe, 'journal.jsonl'))).size;
    expect((await cliDone(['queue', '--state-dir', state])).code).toBe(0);
    const journal = path.join(state, 'journal.jsonl');
    // Room for a's record and 16 bytes more: b's, the second append, is cut in its middle.
    const blocks = Math.ceil((record + 16 + 200) / 512);
    const pad = blocks * 512 - record - 16 - `${JSON.stringify({ t: 'pad', at: 1, x: '' })}\n`.length;
    await writeFile(journal, `${JSON.stringify({ t: 'pad', at: 1, x: 'x'.repeat(pad) })}\n`, { flag: 'a' });
    const r = await limited(blocks, ['enqueue', a, b, c, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(3);
    const rows = await queueJson(state);
    expect(rows.map((j) => j.name)).toEqual(['a']);
    const id = rows[0].id;
    expect(r.out).toBe(`queued ${id.slice(0, 8)} "a" (${id})\n`);
    const [fa, fb, fc] = [a, b, c].map((d) => path.join(d, '.marteau.yml'));
    expect(r.err).toBe(
      `marteau-tui: ${fb}: ${journal}: ENOSPC: short write: the disk (or a quota or a file size limit) is full (free some space there, or give another --state-dir)\n` +
        `marteau-tui: queued only ${id.slice(0, 8)} (${fa}); not queued: ${fb}, ${fc}: enqueue them again once that is fixed\n`,
    );
    expect(await readdir(path.join(state, 'jobs'))).toEqual([id]);
  });
});

describe('a disk whose fdatasync fails (EIO) under an enqueue', () => {
  it("the journal's: the record is in it, so the job is queued with its snapshot, runs, and the user is warned", async () => {
    const state = await stateDir();
    const first = await project(`name: first\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', first, '--state-dir', state])).code).toBe(0);
    const journal = path.join(state, 'journal.jsonl');
    const second = await project(`name: second\n${commandYaml(['true'])}\n`);
    const r = await syncFailing(['enqueue', second, '--state-dir', state], journal);
    expect(r.code, r.out + r.err).toBe(0);
    const [id] = [...r.out.matchAll(/\(([0-9a-f]{16})\)/g)].map((m) => m[1]);
    expect(r.err).toContain(`marteau-tui: warning: job ${id.slice(0, 8)} is queued, but the journal ${journal} could not be forced to disk (EIO: i/o error): a power cut may lose it; check that disk (dmesg)\n`);
    expect(r.err).not.toMatch(/internal error|\n\s+at /);
    expect(await readFile(path.join(state, 'jobs', id, 'marteau.yml'), 'utf8')).toContain('name: second');
    const drained = await cliDone(['worker', '--drain', '--state-dir', state]);
    expect(drained.code, drained.out + drained.err).toBe(0);
    expect((await queueJson(state)).map((j) => [j.name, j.status])).toEqual([['first', 'succeeded'], ['second', 'succeeded']]);
  });

  it("under a retry, the journal's: the new job is queued with its snapshot and the user is warned, not told it failed", async () => {
    const state = await stateDir();
    const job = await project(`name: again\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', job, '--state-dir', state])).code).toBe(0);
    expect((await cliDone(['worker', '--drain', '--state-dir', state])).code).toBe(0);
    const [old] = await queueJson(state);
    const journal = path.join(state, 'journal.jsonl');
    const r = await syncFailing(['retry', old.id, '--state-dir', state], journal);
    expect(r.code, r.out + r.err).toBe(0);
    const [, again] = await queueJson(state);
    expect([again.name, again.status]).toEqual(['again', 'queued']);
    expect(r.out).toBe(`queued ${again.id.slice(0, 8)} "again" (retry of ${old.id.slice(0, 8)})\n`);
    expect(r.err).toContain(`marteau-tui: warning: job ${again.id.slice(0, 8)} is queued, but the journal ${journal} could not be forced to disk (EIO: i/o error)`);
    expect(await readFile(path.join(state, 'jobs', again.id, 'marteau.yml'), 'utf8')).toContain('name: again');
  });

  it("the snapshot's: nothing queued, no directory left, exit 3 saying which file failed and what to do, not to fix the config", async () => {
    const state = await stateDir();
    const first = await project(`name: first\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', first, '--state-dir', state])).code).toBe(0);
    const [kept] = await readdir(path.join(state, 'jobs'));
    const second = await project(`name: second\n${commandYaml(['true'])}\n`);
    // Every file's: the snapshot's is the first, before the journal record is written.
    const r = await syncFailing(['enqueue', second, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.err).toMatch(
      new RegExp(
        `^marteau-tui: ${second}: ${path.join(state, 'jobs')}/[0-9a-f]{16}/marteau\\.yml: EIO: i/o error \\(the disk failed: check it \\(dmesg\\), or give another --state-dir\\)\n` +
          `marteau-tui: nothing queued: ${second} failed on this machine's side \\(above\\), not for its config; enqueue again once that is fixed\n$`,
      ),
    );
    expect(await readdir(path.join(state, 'jobs'))).toEqual([kept]);
    expect((await queueJson(state)).map((j) => j.name)).toEqual(['first']);
  });

  it('beside a config error: only the config is to fix, the valid target failed on the disk', async () => {
    const state = await stateDir();
    const broken = await project(`name: broken\nrunner: nope\n`);
    const valid = await project(`name: valid\n${commandYaml(['true'])}\n`);
    const r = await syncFailing(['enqueue', broken, valid, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toMatch(new RegExp(`\nmarteau-tui: ${valid}: .*EIO: i/o error \\(the disk failed: [^\n]*\n`));
    expect(r.err.split('\n').at(-2)).toBe(`marteau-tui: nothing queued: fix it or leave ${broken} out; ${valid} failed on this machine's side (above), not for its config`);
    expect(await readdir(path.join(state, 'jobs')).catch(() => [])).toEqual([]);
  });
});

describe("a disk whose fdatasync fails (EIO) under the journal's other records", () => {
  it('a cancel: written whole, so the job is cancelled; said with the warning, exit 0', async () => {
    const state = await stateDir();
    const job = await project(`name: waits\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', job, '--state-dir', state])).code).toBe(0);
    const [queued] = await queueJson(state);
    const journal = path.join(state, 'journal.jsonl');
    const r = await syncFailing(['cancel', queued.id, '--state-dir', state], journal);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toBe(`cancelled ${queued.id.slice(0, 8)} "waits"\n`);
    expect(r.err).toContain(`marteau-tui: warning: the cancel of job ${queued.id.slice(0, 8)} is recorded, but the journal ${journal} could not be forced to disk (EIO: i/o error): a power cut may lose it; check that disk (dmesg)\n`);
    expect(r.err).not.toMatch(/internal error|\n\s+at /);
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['cancelled']);
  });

  it("a worker's start and end of a job: the job runs and succeeds, each record said with the warning, no internal error", async () => {
    const state = await stateDir();
    const job = await project(`name: runs\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', job, '--state-dir', state])).code).toBe(0);
    const [queued] = await queueJson(state);
    const journal = path.join(state, 'journal.jsonl');
    const r = await syncFailing(['worker', '--drain', '--state-dir', state], journal);
    expect(r.code, r.out + r.err).toBe(0);
    const but = `, but the journal ${journal} could not be forced to disk (EIO: i/o error): a power cut may lose it; check that disk (dmesg)`;
    expect(r.out).toContain(`the start of job ${queued.id.slice(0, 8)} here is recorded${but}\n`);
    expect(r.out).toContain(`the end of job ${queued.id.slice(0, 8)} (succeeded) is recorded${but}\n`);
    expect(r.out + r.err).not.toMatch(/internal error|\n\s+at /);
    expect((await queueJson(state)).map((j) => [j.name, j.status])).toEqual([['runs', 'succeeded']]);
  });

  it('a node disabled: it is, said with the warning, exit 0', async () => {
    const state = await stateDir();
    const journal = path.join(state, 'journal.jsonl');
    expect((await cliDone(['nodes', '--no-probe', '--state-dir', state])).code).toBe(0);
    const r = await syncFailing(['nodes', '--no-probe', '--disable', 'local', '--state-dir', state], journal);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.err).toBe(`marteau-tui: warning: node local is disabled, but the journal ${journal} could not be forced to disk (EIO: i/o error): a power cut may lose it; check that disk (dmesg)\n`);
    expect(r.out).toMatch(/local\s+local\s+-\s+no\s/);
  });
});

describe('a journal damaged by a crash', () => {
  it("`queue`, the first command after it, says which line it skipped and where the lost job's files are", async () => {
    const state = await stateDir();
    const a = await project(`name: a\n${commandYaml(['true'])}\n`);
    const b = await project(`name: b\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', a, b, '--state-dir', state])).code).toBe(0);
    const journal = path.join(state, 'journal.jsonl');
    const text = await readFile(journal, 'utf8');
    // A power cut in the middle of the second record.
    await writeFile(journal, text.slice(0, text.length - 40));
    const lost = JSON.parse(text.trim().split('\n')[1]) as { job: { id: string } };
    const r = await cliDone(['queue', '--state-dir', state]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\ba\s+command/);
    expect(r.err).toBe(
      `marteau-tui: warning: journal ${journal}: skipped damaged line 2 (torn by a crash or edited by hand); the jobs they recorded are not listed; job directories no record names (a lost job's config snapshot and results): ${path.join(state, 'jobs', lost.job.id)}\n`,
    );
  });
});
