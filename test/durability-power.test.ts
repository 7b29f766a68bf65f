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
import { BIN, dist } from './helpers/dist.js';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

/** The system calls the CLI made (run to its end under strace), in the order the trace has them. */
async function traced(args: string[]): Promise<{
  syncedAt(file: string, after?: number): number;
  dirSyncs(dir: string, from: number, until: number): number[];
  began(call: RegExp): number;
  all(call: RegExp): { text: string; began: number }[];
}> {
  haveServer('strace');
  const trace = path.join(await temp('strace'), 'trace');
  const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,write,fsync,fdatasync,rename,renameat,renameat2', process.execPath, BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
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
    // Of the fd an open of the file returned (the first open beginning after `after`), before
    // another open returned that fd (it was closed). The job's own processes have fd tables of
    // their own but sync nothing.
    syncedAt: (file, after = -1) => {
      for (let opened = 0; opened < calls.length; opened++) {
        if (calls[opened].began <= after) continue;
        const fd = calls[opened].text.startsWith(`openat(AT_FDCWD, "${file}", `) ? fdOf(calls[opened].text) : undefined;
        if (fd === undefined) continue;
        for (let i = opened + 1; i < calls.length && fdOf(calls[i].text) !== fd; i++) {
          if (new RegExp(`^f(data)?sync\\(${fd}\\) = 0$`).test(calls[i].text)) return calls[i].ended;
        }
      }
      return -1;
    },
    // Where each sync of `dir` ended, through opens beginning after `from`, until another file is
    // opened after `until` (the end of what syncs it: the process goes on to other files).
    dirSyncs: (dir, from, until) => {
      const ends: number[] = [];
      const open = new Map<string, boolean>();
      for (const c of calls) {
        if (c.began <= from) continue;
        const opened = /^openat\(AT_FDCWD, "([^"]+)", /.exec(c.text);
        const fd = fdOf(c.text);
        if (opened && fd !== undefined) {
          if (opened[1] !== dir && c.began > until) break;
          open.set(fd, opened[1] === dir);
        }
        const synced = /^f(?:data)?sync\((\d+)\) = 0$/.exec(c.text);
        if (synced && open.get(synced[1])) ends.push(c.ended);
      }
      return ends;
    },
    began: (call) => calls.find((c) => call.test(c.text))?.began ?? -1,
    all: (call) => calls.filter((c) => call.test(c.text)),
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

describe("a job's result files replaced whole", () => {
  it('result.json, timeline.json and the reports are written aside and synced, renamed into place, then their directory synced once per batch (strace)', async () => {
    // A builtin job, for the reports (summary.json, index.html, junit.xml) it writes beside result.json.
    const dir = await project(
      `name: whole\nrunner: builtin\nservices:\n  app:\n    command: [node, ${JSON.stringify(dist('fixtures/demo/serve.js'))}, --port, "\${port}"]\n    ready: {http: /}\n` +
        'base_url: http://127.0.0.1:${MARTEAU_SERVICE_APP_PORT}\ncycles: [1]\nduration: 1\nsleep_time_max: 0.05\nscenario:\n  - {get: /, expect: 200}\n',
    );
    const state = await stateDir();
    expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
    const t = await traced(['worker', '--drain', '--state-dir', state]);
    const [id] = await readdir(path.join(state, 'jobs'));
    const jobDir = path.join(state, 'jobs', id);
    // The runner's reports, then the engine's end: each batch is written by one call.
    for (const batch of [['summary.json', 'index.html', 'junit.xml'], ['result.json', 'timeline.json']]) {
      const renames = batch.map((name) => {
        const file = path.join(jobDir, name);
        // Opened for writing under its own name, a crash mid-write would leave it torn.
        expect(t.all(new RegExp(`^openat\\(AT_FDCWD, "${file}", O_(WR|RDWR)`)), name).toEqual([]);
        const found = t.all(new RegExp(`^rename\\("${jobDir}/\\.${name.replace('.', '\\.')}\\.[0-9a-f]+\\.tmp", "${file}"\\) = 0$`));
        expect(found, name).toHaveLength(1);
        return { name, ...found[0], aside: /^rename\("([^"]+)"/.exec(found[0].text)![1] };
      });
      const first = Math.min(...renames.map((r) => r.began));
      const last = Math.max(...renames.map((r) => r.began));
      // No name points at a file before every file of the batch is on disk.
      for (const r of renames) {
        const synced = t.syncedAt(r.aside);
        expect(synced, r.name).toBeGreaterThan(0);
        expect(synced, r.name).toBeLessThan(first);
      }
      const syncs = t.dirSyncs(jobDir, first, last);
      expect(syncs, batch.join(' ')).toHaveLength(1);
      expect(syncs[0], batch.join(' ')).toBeGreaterThan(last);
    }
    expect(JSON.parse(await readFile(path.join(jobDir, 'result.json'), 'utf8'))).toMatchObject({ id, status: 'succeeded' });
  });
});
