/**
 * A power cut between a job's files and the journal record that points at them: its config
 * snapshot and its `enqueued` record, its results and its `finished` record. No power is cut:
 * the order of the real system calls of the real CLI is read with `strace`, and a record must not
 * be written before what it points at is on disk (a kill -9 cannot tell: the page cache survives it).
 */
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/dist.js';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

/** The system calls the CLI made (run to its end under strace), in the order the trace has them. */
async function traced(args: string[]): Promise<{ syncedAt(file: string): number; began(call: RegExp): number }> {
  haveServer('strace');
  const trace = path.join(await temp('strace'), 'trace');
  const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,write,fsync,fdatasync', process.execPath, BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  expect(r.status, r.stderr).toBe(0);
  // Each call with where it began and where it ended in the trace: a thread's call cut in two
  // by another's is `<unfinished ...>`, then `<... fsync resumed>`. A sync counts from its end,
  // a record from its beginning.
  const calls: { text: string; began: number; ended: number }[] = [];
  const cut = new Map<string, { text: string; began: number }>();
  (await readFile(trace, 'utf8')).split('\n').forEach((l, n) => {
    const [tid, ...rest] = l.split(/\s+/);
    const text = rest.join(' ');
    const resumed = /^<\.\.\. \w+ resumed>/.exec(text);
    if (text.endsWith('<unfinished ...>')) cut.set(tid, { text: text.slice(0, -'<unfinished ...>'.length).trimEnd(), began: n });
    else if (resumed) calls.push({ text: `${cut.get(tid)!.text}${text.slice(resumed[0].length)}`, began: cut.get(tid)!.began, ended: n });
    else if (text) calls.push({ text, began: n, ended: n });
  });
  const fdOf = (call: string) => (call.startsWith('openat(') ? / = (\d+)$/.exec(call)?.[1] : undefined);
  return {
    // Of the fd an open of the file returned, before another open returned that fd (it was
    // closed). The job's own processes have fd tables of their own but sync nothing.
    syncedAt: (file) => {
      for (let opened = 0; opened < calls.length; opened++) {
        const fd = calls[opened].text.startsWith(`openat(AT_FDCWD, "${file}", `) ? fdOf(calls[opened].text) : undefined;
        if (fd === undefined) continue;
        for (let i = opened + 1; i < calls.length && fdOf(calls[i].text) !== fd; i++) {
          if (new RegExp(`^f(data)?sync\\(${fd}\\) = 0$`).test(calls[i].text)) return calls[i].ended;
        }
      }
      return -1;
    },
    began: (call) => calls.find((c) => call.test(c.text))?.began ?? -1,
  };
}

describe('a job snapshot and its journal record', () => {
  it('the snapshot, its directory and the jobs directory are synced before the record is written (strace)', async () => {
    const state = await stateDir();
    const dir = await project(`name: synced\n${commandYaml(['true'])}\n`);
    const t = await traced(['enqueue', dir, '--state-dir', state]);
    const [id] = await readdir(path.join(state, 'jobs'));
    const record = t.began(/^write\(\d+, "\{\\"t\\":\\"enqueued\\"/);
    expect(record).toBeGreaterThan(0);
    const jobDir = path.join(state, 'jobs', id);
    for (const file of [path.join(jobDir, 'marteau.yml'), jobDir, path.join(state, 'jobs')]) {
      const at = t.syncedAt(file);
      expect(at, file).toBeGreaterThan(0);
      expect(at, file).toBeLessThan(record);
    }
  });
});

describe('a git project cloned at enqueue', () => {
  it('the clone is synced before the record, as the snapshot is (strace)', async () => {
    const repo = await project(`name: cloned\n${commandYaml(['true'])}\n`);
    const git = (...args: string[]) => expect(spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo }).status).toBe(0);
    git('init', '--quiet');
    git('add', '.marteau.yml');
    git('commit', '--quiet', '-m', 'one');
    const state = await stateDir();
    const t = await traced(['enqueue', `file://${repo}`, '--state-dir', state]);
    const [id] = await readdir(path.join(state, 'jobs'));
    const record = t.began(/^write\(\d+, "\{\\"t\\":\\"enqueued\\"/);
    expect(record).toBeGreaterThan(0);
    const clone = path.join(state, 'jobs', id, 'src');
    for (const file of [path.join(clone, '.marteau.yml'), path.join(clone, '.git', 'HEAD'), clone]) {
      const at = t.syncedAt(file);
      expect(at, file).toBeGreaterThan(0);
      expect(at, file).toBeLessThan(record);
    }
  });
});

describe("a job's results and its end's record", () => {
  it('result.json, the output and the directory are synced before the `finished` record is written (strace)', async () => {
    const state = await stateDir();
    const dir = await project(`name: synced\n${commandYaml(['sh', '-c', 'echo hello'])}\n`);
    expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
    const t = await traced(['worker', '--drain', '--state-dir', state]);
    const [id] = await readdir(path.join(state, 'jobs'));
    const record = t.began(/^write\(\d+, "\{\\"t\\":\\"finished\\"/);
    expect(record).toBeGreaterThan(0);
    const jobDir = path.join(state, 'jobs', id);
    for (const file of [path.join(jobDir, 'result.json'), path.join(jobDir, 'console.log'), jobDir]) {
      const at = t.syncedAt(file);
      expect(at, file).toBeGreaterThan(0);
      expect(at, file).toBeLessThan(record);
    }
  });
});
