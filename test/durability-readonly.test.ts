/**
 * A state dir that cannot be written (a colleague's results on a read-only mount, a CI artifact
 * directory), as a user meets it with the built CLI: a real read-only bind mount, made in a mount
 * namespace of the CLI's own (`unshare`), so that it goes with the process whatever becomes of
 * the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/dist.js';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { queueJson, workerWithLongJob } from './helpers/queue-cli.js';
import { haveServer } from './helpers/servers.js';

/** Workers a test started: stopped even when it fails half-way. */
const running: ChildProcess[] = [];
afterAll(async () => {
  for (const c of running) c.kill('SIGKILL');
  await removeTemp();
});

/**
 * The CLI with `dir` mounted read-only over itself. Root needs no user namespace (which a
 * container may forbid); anyone else gets one.
 */
function readOnlyCli(dir: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const ns = process.getuid?.() === 0 ? ['--mount', '--propagation', 'private'] : ['--map-root-user', '--mount'];
  const script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && exec "$@"';
  return new Promise((resolve) => {
    const c = spawn('unshare', [...ns, 'sh', '-c', script, dir, process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.on('exit', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

/** The files in a directory tree, as paths relative to it with their contents. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name))] = readFileSync(path.join(e.parentPath, e.name), 'utf8');
  }
  return out;
}

describe('a state dir on a read-only mount', () => {
  it('`queue` lists its jobs; enqueue, cancel and worker say nothing can be done there and write nothing', async () => {
    haveServer('unshare');
    const state = await stateDir();
    const done = await project(`name: done\n${commandYaml(['true'])}\n`);
    const waiting = await project(`name: waiting\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', done, '--state-dir', state])).code).toBe(0);
    expect((await cliDone(['worker', '--drain', '--state-dir', state])).code).toBe(0);
    expect((await cliDone(['enqueue', waiting, '--state-dir', state])).code).toBe(0);
    const before = tree(state);

    const list = await readOnlyCli(state, ['queue', '--state-dir', state]);
    expect([list.code, list.err]).toEqual([0, '']);
    expect(list.out).toMatch(/succeeded\s+done\s+command[\s\S]*queued\s+waiting\s+command/);

    const said = `marteau-tui: the state dir ${state} is read-only (EROFS: read-only file system): its jobs can be listed and reported, but nothing can be enqueued, cancelled or run there; give a writable --state-dir (or copy it to one)\n`;
    const [, id] = /^(\S+)\s+queued/m.exec(list.out)!;
    for (const args of [['enqueue', waiting], ['cancel', id], ['worker', '--drain']]) {
      const r = await readOnlyCli(state, [...args, '--state-dir', state]);
      expect([args[0], r.code, r.err]).toEqual([args[0], 2, said]);
    }
    expect(tree(state)).toEqual(before);
  });
});


describe('a read-only state dir whose engine was killed -9 mid-job', () => {
  it('`queue` shows the job interrupted, as the next writer records it, and writes nothing', async () => {
    haveServer('unshare');
    const state = await stateDir();
    const worker = await workerWithLongJob(state, running);
    worker.child.kill('SIGKILL');
    await worker.exited;
    const before = tree(state);

    const list = await readOnlyCli(state, ['queue', '--json', '--state-dir', state]);
    expect([list.code, list.err]).toEqual([0, '']);
    const [shown] = JSON.parse(list.out) as { status: string; reason: string; endedAt: number }[];
    expect(tree(state)).toEqual(before);
    // What a process that can write records: the same end.
    const [recorded] = (await queueJson(state)) as unknown as (typeof shown)[];
    expect(shown.status).toBe('interrupted');
    expect([shown.reason, shown.endedAt]).toEqual([recorded.reason, recorded.endedAt]);
  });
});
