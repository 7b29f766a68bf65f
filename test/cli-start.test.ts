/**
 * What the listing commands load: `queue` and `nodes --no-probe` read the state dir (or the shared
 * queue) and the nodes file, and must start without the engine that runs jobs (scheduler, job
 * runs, executors, SSH), the TUI (Ink, React), the HTTP client and the config schemas. What a
 * process loads, not how long it takes: a timing would fail on a loaded machine and pass a
 * regression on a fast one (bench:cli measures the time).
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { BIN, ROOT } from './helpers/dist.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, urlOf } from './helpers/team.js';

afterAll(async () => {
  await removeTemp();
});

const HOOK = path.join(ROOT, 'test', 'helpers', 'record-loads.mjs');

/** The CLI run to its end with every module it loads recorded: its output, and the loaded files relative to the repository. */
async function loaded(args: string[]): Promise<{ code: number | null; out: string; err: string; modules: string[] }> {
  const file = path.join(await temp('loaded'), 'modules');
  const r = spawnSync(process.execPath, ['--import', HOOK, BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', MARTEAU_LOADED_FILE: file }, timeout: 30_000 });
  const modules = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((u) => (u.startsWith('file://') ? path.relative(ROOT, new URL(u).pathname) : u));
  return { code: r.status, out: r.stdout, err: r.stderr, modules };
}

/** What a listing must not load: the engine's running half, the TUI, SSH, HTTP and the config schemas (the nodes file read through its cache). */
const HEAVY = [
  /^dist\/src\/core\/(engine|engine-runtime|scheduler|job-run|enqueue|watchdog)\.js$/,
  /^dist\/src\/(exec|runners|ui)\//,
  /^node_modules\/(ink|react|ssh2|undici|zod|yaml)\//,
  /^node:child_process$/,
];

function heavy(modules: string[]): string[] {
  return [...new Set(modules.filter((m) => HEAVY.some((re) => re.test(m))))];
}

describe('the listing commands start without the engine', () => {
  it('queue (also --json, --all, -n) and nodes --no-probe on the embedded journal', async () => {
    const state = await stateDir();
    const nodes = await nodesFile('nodes:\n  local: {type: local, max_jobs: 2}\n');
    const g = ['--state-dir', state, '--nodes', nodes];
    for (const name of ['one', 'two']) {
      const dir = await project(`name: ${name}\n${commandYaml(['true'])}\n`);
      expect((await cliDone(['enqueue', dir, ...g])).code).toBe(0);
    }
    // The first read validates the nodes file (the YAML parser and the schema), then caches it.
    expect((await cliDone(['queue', ...g])).code).toBe(0);

    const listed = await loaded(['queue', ...g]);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.out).toMatch(/^ID +STATUS +NAME/);
    expect(listed.out.match(/ queued +one /g)).toHaveLength(1);
    // The recording works: the journal reader is there, and commander (CommonJS) too.
    expect(listed.modules).toContain('dist/src/core/journal.js');
    expect(listed.modules).toContain('node_modules/commander/index.js');
    expect(heavy(listed.modules)).toEqual([]);

    const json = await loaded(['queue', '--json', '--all', '-n', '1', ...g]);
    expect(json.code, json.err).toBe(0);
    expect((JSON.parse(json.out) as { name: string }[]).map((j) => j.name)).toEqual(['one', 'two']);
    expect(heavy(json.modules)).toEqual([]);

    const nodeList = await loaded(['nodes', '--no-probe', ...g]);
    expect(nodeList.code, nodeList.err).toBe(0);
    expect(nodeList.out).toMatch(/^local +local +- +yes +up +0ms +0\/2/m);
    expect(heavy(nodeList.modules)).toEqual([]);
  });

  describe.skipIf(!haveServer('redis-server'))('on a shared queue (real redis-server)', () => {
    it('queue and nodes --no-probe load the Redis client, not the engine', async () => {
      const redis = await startRedis();
      try {
        const nodes = await nodesFile('nodes:\n  local: {type: local}\n');
        const g = ['--queue', urlOf(redis), '--nodes', nodes, '--state-dir', await stateDir()];
        const dir = await project(`name: shared\n${commandYaml(['true'])}\n`);
        expect((await cliDone(['enqueue', dir, ...g])).code).toBe(0);
        expect((await cliDone(['queue', ...g])).code).toBe(0);

        const listed = await loaded(['queue', ...g]);
        expect(listed.code, listed.err).toBe(0);
        expect(listed.out).toMatch(/ queued +shared /);
        expect(listed.modules.some((m) => m.startsWith('node_modules/ioredis/'))).toBe(true);
        expect(heavy(listed.modules)).toEqual([]);

        const nodeList = await loaded(['nodes', '--no-probe', ...g]);
        expect(nodeList.code, nodeList.err).toBe(0);
        expect(nodeList.out).toMatch(/^local +local /m);
        expect(heavy(nodeList.modules)).toEqual([]);
      } finally {
        await redis.stop();
      }
    });
  });
});
