/**
 * A power cut between a job's config snapshot and its journal record. No power is cut: the
 * order of the real system calls of a real `enqueue` is read with `strace`, and a record must not
 * be written before what it points at is on disk (a kill -9 cannot tell: the page cache survives it).
 */
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/dist.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

describe('a job snapshot and its journal record', () => {
  it('the snapshot, its directory and the jobs directory are synced before the record is written (strace)', async () => {
    haveServer('strace');
    const state = await stateDir();
    const dir = await project(`name: synced\n${commandYaml(['true'])}\n`);
    const trace = path.join(await temp('strace'), 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,write,fsync,fdatasync', process.execPath, BIN, 'enqueue', dir, '--state-dir', state], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const [id] = await readdir(path.join(state, 'jobs'));
    // Each call with where it began and where it ended in the trace: a thread's call cut in two
    // by another's is `<unfinished ...>`, then `<... fsync resumed>`. A sync counts from its end,
    // the record from its beginning.
    const calls: { text: string; began: number; ended: number }[] = [];
    const cut = new Map<string, { text: string; began: number }>();
    (await readFile(trace, 'utf8')).split('\n').forEach((l, n) => {
      const [pid, ...rest] = l.split(/\s+/);
      const text = rest.join(' ');
      const resumed = /^<\.\.\. \w+ resumed>/.exec(text);
      if (text.endsWith('<unfinished ...>')) cut.set(pid, { text: text.slice(0, -'<unfinished ...>'.length).trimEnd(), began: n });
      else if (resumed) calls.push({ text: `${cut.get(pid)!.text}${text.slice(resumed[0].length)}`, began: cut.get(pid)!.began, ended: n });
      else if (text) calls.push({ text, began: n, ended: n });
    });
    const fdOf = (call: string) => (call.startsWith('openat(') ? / = (\d+)$/.exec(call)?.[1] : undefined);
    /** Where the first sync of `file` ended: of the fd an open of it returned, before another open returned that fd. */
    const syncedAt = (file: string): number => {
      for (let opened = 0; opened < calls.length; opened++) {
        const fd = calls[opened].text.startsWith(`openat(AT_FDCWD, "${file}", `) ? fdOf(calls[opened].text) : undefined;
        if (fd === undefined) continue;
        for (let i = opened + 1; i < calls.length && fdOf(calls[i].text) !== fd; i++) {
          if (new RegExp(`^f(data)?sync\\(${fd}\\) = 0$`).test(calls[i].text)) return calls[i].ended;
        }
      }
      return -1;
    };
    const record = calls.find((c) => /^write\(\d+, "\{\\"t\\":\\"enqueued\\"/.test(c.text))?.began ?? -1;
    expect(record).toBeGreaterThan(0);
    const jobDir = path.join(state, 'jobs', id);
    for (const file of [path.join(jobDir, 'marteau.yml'), jobDir, path.join(state, 'jobs')]) {
      const at = syncedAt(file);
      expect(at, file).toBeGreaterThan(0);
      expect(at, file).toBeLessThan(record);
    }
  });
});

