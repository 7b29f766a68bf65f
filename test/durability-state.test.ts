/**
 * What a crash, a full disk or a hand edit leaves in the state dir, read back: a record of the
 * wrong shape, an engine killed but not yet reaped, a job file the disk refused. Real files, real
 * processes, real system-call failures (/dev/full); nothing mocked. The CLI's side of it is
 * durability-cli.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JobFiles } from '../src/core/job-files.js';
import { isOwnerAlive, processStartTime } from '../src/core/owner.js';
import { JournalQueue, newJobId } from '../src/core/queue.js';
import { StateDir } from '../src/core/state-dir.js';
import { removeTemp, temp } from './helpers/projects.js';

afterAll(removeTemp);

const spec = (name: string) => ({ name, source: { kind: 'dir' as const, dir: '/p', configFile: '/p/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [] });

/** Poll a condition on real processes (a reap, a state change), for at most `ms`. */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** /proc/PID/stat, or '' once the process is gone. */
function procStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

describe('journal records read back after damage', () => {
  it('a line of valid JSON with the wrong shape is skipped with its line number, and the other jobs load', async () => {
    const file = path.join(await temp('dur'), 'journal.jsonl');
    const q = new JournalQueue(file);
    await q.open();
    const a = await q.enqueue(spec('a'));
    await q.close();
    // What a hand edit (or bit rot that still parses) leaves: a claim with no nodes, an
    // enqueue with no owner, a finish with a status no version writes.
    await appendFile(file, '{"t":"claimed","at":1,"id":"abcd","claim":"c"}\n{"t":"enqueued","at":1,"job":{"id":"beef","name":"x","nodes":1,"source":{}}}\n');
    await appendFile(file, `{"t":"finished","at":1,"id":"${a.id}","claim":"c","status":"exploded"}\n`);
    const again = new JournalQueue(file);
    await again.open();
    await again.enqueue(spec('b'));
    expect(again.list().map((j) => [j.name, j.status])).toEqual([['a', 'queued'], ['b', 'queued']]);
    expect(again.damagedLines).toEqual([2, 3, 4]);
    await again.close();
  });
});

describe('an engine killed but not reaped yet', () => {
  it('is dead: its running job is recovered at once, not left running until its zombie is gone', async () => {
    // A parent that never reaps: `sleep 30` replaces the shell, so the child it started stays a
    // zombie once killed, as an engine kill -9ed does under an init that reaps lazily.
    const parent: ChildProcess = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d).trim()))));
      const owner = { host: os.hostname(), pid, start: processStartTime(pid) };
      expect(owner.start).toBeDefined();
      const file = path.join(await temp('dur'), 'journal.jsonl');
      const theirs = new JournalQueue(file, owner);
      await theirs.open();
      const job = await theirs.enqueue(spec('long'));
      expect(await theirs.claim(job.id, [{ name: 'local', max: 1 }])).toBeDefined();
      await theirs.close();

      process.kill(pid, 'SIGKILL');
      await until(() => /^\d+ \(.*\) Z/.test(procStat(pid)));
      expect(isOwnerAlive(owner)).toBe(false);
      const mine = new JournalQueue(file);
      await mine.open();
      expect((await mine.recoverInterrupted()).map((j) => j.id)).toEqual([job.id]);
      expect(mine.get(job.id)).toMatchObject({ status: 'interrupted', reason: `the marteau-tui process running it (pid ${pid} on ${os.hostname()}) stopped without finishing it` });
      expect(mine.nodeUse('local')).toBe(0);
      await mine.close();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('a full disk', () => {
  it("a job file the disk refuses: the error names the file (Node's write errors do not)", async () => {
    const state = new StateDir(await temp('dur'));
    const id = newJobId();
    await mkdir(state.jobDir(id), { recursive: true });
    const target = path.join(state.jobDir(id), 'marteau.yml');
    // /dev/full answers every write with ENOSPC.
    await symlink('/dev/full', target);
    const files = new JobFiles(state, new JournalQueue(state.journalFile));
    await expect(files.keepHere(id, { 'marteau.yml': 'name: x\n' })).rejects.toMatchObject({ code: 'ENOSPC', path: target });
  });
});
