/**
 * The journal and the queue on it: durable appends, torn lines, several processes appending at
 * once, claim races decided the same way by every reader, crash recovery.
 */
import { spawn } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal, MAX_RECORD_BYTES, parseLines, RecordTooLargeError } from '../src/core/journal.js';
import { JournalQueue, QueueError } from '../src/core/queue.js';
import { currentOwner } from '../src/core/owner.js';
import { dist } from './helpers/dist.js';
import { removeTemp, temp } from './helpers/projects.js';

afterAll(removeTemp);

const tmp = () => temp('queue');
const spec = (name: string, nodes = 1) => ({ name, source: { kind: 'dir' as const, dir: '/p', configFile: '/p/.marteau.yml' }, runner: 'command', nodes, nodeTags: [] });
const otherOwner = (pid: number) => ({ host: os.hostname(), pid, start: 1 });

function runNode(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    c.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('journal', () => {
  it('appends and reads records, incrementally from an offset', async () => {
    const j = new Journal(path.join(await tmp(), 'j.jsonl'));
    await j.open();
    await j.append({ a: 1 });
    await j.append({ b: 'two\nlines' });
    const first = await j.read();
    expect(first.records).toEqual([{ a: 1 }, { b: 'two\nlines' }]);
    await j.append({ c: 3 });
    const next = await j.read(first.offset);
    expect(next.records).toEqual([{ c: 3 }]);
    await j.close();
  });

  it('refuses a record over the atomic-append size', async () => {
    const j = new Journal(path.join(await tmp(), 'j.jsonl'));
    await j.open();
    await expect(j.append({ big: 'x'.repeat(MAX_RECORD_BYTES) })).rejects.toBeInstanceOf(RecordTooLargeError);
    await j.close();
  });

  it('skips a torn or damaged line, and closes a torn tail before appending after it', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    await writeFile(file, '{"a":1}\n{"broken":\n{"b":2}\n{"torn":tr');
    const j = new Journal(file);
    await j.open(); // sees no newline at the end: terminates the torn line
    await j.append({ c: 3 });
    const r = await j.read();
    expect(r.records).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    expect(r.corrupt).toBe(2);
    expect(r.damaged).toEqual([2, 4]);
    await j.close();
    // The queue keeps their line numbers in the file (the engine warns with them at start),
    // with those of the lines that parse but are no queue record (1, 3, 5: no `t`, no `at`).
    await writeFile(file, '{"x":\n', { flag: 'a' });
    const q = new JournalQueue(file);
    await q.open();
    expect(q.damagedLines).toEqual([1, 2, 3, 4, 5, 6]);
    await q.close();
  });

  it('leaves a line still being written for the next read', () => {
    const r = parseLines(Buffer.from('{"a":1}\n{"b":'), 100);
    expect(r.records).toEqual([{ a: 1 }]);
    expect(r.offset).toBe(108);
  });

  it('two processes appending at once: every record intact, each writer in order', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    const mod = dist('src/core/journal.js');
    const writer = path.resolve('test/helpers/journal-writer.mjs');
    const codes = await Promise.all(['A', 'B'].map((w) => runNode([writer, mod, file, w, '400'])));
    expect(codes).toEqual([0, 0]);
    const j = new Journal<{ writer: string; i: number }>(file);
    const r = await j.read();
    expect(r.corrupt).toBe(0);
    expect(r.records).toHaveLength(800);
    for (const w of ['A', 'B']) {
      expect(r.records.filter((x) => x.writer === w).map((x) => x.i)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    }
    // And the raw file is exactly the records, one per line.
    expect((await readFile(file, 'utf8')).split('\n').filter(Boolean)).toHaveLength(800);
  });
});

describe('queue', () => {
  it('enqueue, cancel a queued job, resolve id prefixes', async () => {
    const q = new JournalQueue(path.join(await tmp(), 'j.jsonl'));
    await q.open();
    const a = await q.enqueue(spec('a'));
    const b = await q.enqueue(spec('b'));
    expect(q.list().map((j) => [j.name, j.status])).toEqual([['a', 'queued'], ['b', 'queued']]);
    expect(q.resolve(a.id.slice(0, 6))).toBe(a.id);
    expect(() => q.resolve('zz')).toThrow(QueueError);
    expect(() => q.resolve('abcdef12')).toThrow(/no job abcdef12 in the queue/);
    const c = await q.cancel(b.id);
    expect(c.status).toBe('cancelled');
    await expect(q.cancel(b.id)).rejects.toThrow(/already cancelled/);
    await q.close();
  });

  it('a running job: cancel is a request; finish with the claim ends it; a stale claim is ignored', async () => {
    const q = new JournalQueue(path.join(await tmp(), 'j.jsonl'));
    await q.open();
    const a = await q.enqueue({ ...spec('a'), proxies: ['db'] });
    const claim = await q.claim(a.id, [{ name: 'local', max: 1 }]);
    expect(claim).toBeDefined();
    expect(q.nodeUse('local')).toBe(1);
    expect((await q.cancel(a.id)).cancelRequested).toBe(true);
    await q.finish(a.id, 'not-the-claim', { status: 'succeeded' });
    expect(q.get(a.id)!.status).toBe('running');
    await q.finish(a.id, claim!, { status: 'cancelled', reason: 'by a user' });
    expect(q.get(a.id)).toMatchObject({ status: 'cancelled', reason: 'by a user' });
    expect(q.nodeUse('local')).toBe(0);
    const r = await q.retry(a.id);
    // With its proxies, which the Proxies pane names while it waits.
    expect(r).toMatchObject({ status: 'queued', retryOf: a.id, name: 'a', proxies: ['db'] });
    await q.close();
  });

  it('two queues on one file: a claim race has one winner, decided alike by both', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    const q1 = new JournalQueue(file, otherOwner(process.pid));
    const q2 = new JournalQueue(file, currentOwner());
    await q1.open();
    await q2.open();
    const job = await q1.enqueue(spec('race'));
    await q2.sync();
    const [c1, c2] = await Promise.all([q1.claim(job.id, [{ name: 'n', max: 5 }]), q2.claim(job.id, [{ name: 'n', max: 5 }])]);
    expect([c1, c2].filter(Boolean)).toHaveLength(1);
    await q1.sync();
    await q2.sync();
    expect(q1.get(job.id)!.claim).toBe(c1 ?? c2);
    expect(q2.get(job.id)!.claim).toBe(c1 ?? c2);
    await q1.close();
    await q2.close();
  });

  it('two queues claiming different jobs on a node with room for one: only the first in the file runs', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    const q1 = new JournalQueue(file);
    const q2 = new JournalQueue(file);
    await q1.open();
    await q2.open();
    const a = await q1.enqueue(spec('a'));
    const b = await q1.enqueue(spec('b'));
    await q2.sync();
    const [ca, cb] = await Promise.all([q1.claim(a.id, [{ name: 'box', max: 1 }]), q2.claim(b.id, [{ name: 'box', max: 1 }])]);
    expect([ca, cb].filter(Boolean)).toHaveLength(1);
    await q1.sync();
    expect(q1.list().map((j) => j.status).sort()).toEqual(['queued', 'running']);
    expect(q1.nodeUse('box')).toBe(1);
    await q1.close();
    await q2.close();
  });

  it('a disabled node takes no claim; the override is shared through the journal', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    const q1 = new JournalQueue(file);
    const q2 = new JournalQueue(file);
    await q1.open();
    await q2.open();
    await q1.setNodeEnabled('box', false);
    await q2.sync();
    expect(q2.nodeEnabled('box')).toBe(false);
    const a = await q2.enqueue(spec('a'));
    expect(await q2.claim(a.id, [{ name: 'box', max: 1 }])).toBeUndefined();
    await q1.close();
    await q2.close();
  });

  it('recovery: a running job whose owner process is dead becomes interrupted; a live owner keeps it', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    // A real pid that has exited.
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    const dead = new JournalQueue(file, { host: os.hostname(), pid: deadPid, start: 12345 });
    await dead.open();
    const lost = await dead.enqueue(spec('lost'));
    await dead.claim(lost.id, [{ name: 'local', max: 1 }]);
    const waiting = await dead.enqueue(spec('waiting'));
    const ciJob = await dead.enqueue({ ...spec('ci-orphan'), origin: 'ci' });
    await dead.close();
    const alive = new JournalQueue(file);
    await alive.open();
    const mine = await alive.enqueue(spec('mine'));
    await alive.claim(mine.id, [{ name: 'other', max: 1 }]);
    const recovered = await alive.recoverInterrupted();
    expect(recovered.map((j) => j.id)).toEqual([lost.id, ciJob.id]);
    expect(alive.get(ciJob.id)).toMatchObject({ status: 'interrupted', reason: `the --ci process that queued it (pid ${deadPid}) stopped before it started` });
    expect(alive.get(lost.id)).toMatchObject({ status: 'interrupted', failure: 'infrastructure' });
    expect(alive.get(lost.id)!.reason).toContain(`pid ${deadPid}`);
    expect(alive.get(waiting.id)!.status).toBe('queued');
    expect(alive.get(mine.id)!.status).toBe('running');
    expect(alive.nodeUse('local')).toBe(0);
    await alive.close();
  });

  it('two processes enqueueing at once: no job lost, none doubled', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    const mod = dist('src/core/queue.js');
    const writer = path.resolve('test/helpers/journal-writer.mjs');
    const codes = await Promise.all(['p1', 'p2'].map((w) => runNode([writer, mod, file, w, '150', 'queue'])));
    expect(codes).toEqual([0, 0]);
    const q = new JournalQueue(file);
    await q.open();
    const names = q.list().map((j) => j.name);
    expect(names).toHaveLength(300);
    expect(new Set(names).size).toBe(300);
    expect(new Set(q.list().map((j) => j.id)).size).toBe(300);
    expect(q.corruptLines).toBe(0);
    await q.close();
  });

  it('watchers see records appended by another queue', async () => {
    const file = path.join(await tmp(), 'j.jsonl');
    const q1 = new JournalQueue(file);
    const q2 = new JournalQueue(file);
    await q1.open();
    await q2.open();
    const seen = new Promise<void>((resolve) => {
      const off = q2.watch(() => {
        if (q2.list().length) {
          off();
          resolve();
        }
      });
    });
    await q1.enqueue(spec('x'));
    await seen;
    expect(q2.list()[0].name).toBe('x');
    await appendFile(file, ''); // no-op append keeps the file valid
    await q1.close();
    await q2.close();
  });
});
