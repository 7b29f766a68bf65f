/**
 * Team mode: a job a worker's nodes cannot fit stays queued for the worker whose nodes fit it,
 * and a --ci run interrupted while Redis is down exits rather than waiting for it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeConfig, NodesConfig } from '../src/config/nodes.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { nodesFile, until, urlOf, viewer } from './helpers/team.js';

const HAVE = haveServer('redis-server');
afterAll(async () => {
  await removeTemp();
});

/** An in-process worker on the queue with one local node. */
async function engineWorker(url: string, node: NodeConfig): Promise<Engine> {
  const nodes: NodesConfig = { file: `(${node.name}'s nodes)`, nodes: [node], probeIntervalMs: 60_000, probeTimeoutMs: 2000, queue: { url: parseQueueUrl(url), lostJobs: 'interrupt' } };
  const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes, run: 'all', probe: false });
  await e.start();
  return e;
}

describe.skipIf(!HAVE)('placement across a team', () => {
  it('jobs with node_tags [ssh] all run on the worker that has such a node; the other leaves them queued, once each, and fails none', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    const engines: Engine[] = [];
    try {
      // The untagged worker first, so it is waiting on the wake-ups as the jobs arrive.
      const plain = await engineWorker(url, { type: 'local', name: 'plain', maxJobs: 2, tags: [], enabled: true });
      const tagged = await engineWorker(url, { type: 'local', name: 'tagged', maxJobs: 1, tags: ['ssh'], enabled: true });
      engines.push(plain, tagged);
      const left: string[] = [];
      plain.events.on('log.line', (e) => {
        if (e.type === 'log.line' && e.jobId === undefined) left.push(e.line);
      });
      const v = await viewer(url);
      engines.push(v);
      // One at a time on the tagged node: the others wait queued while the plain worker passes.
      const dir = await project(`name: tagged-job\nrunner: command\nnode_tags: [ssh]\ncommand: [node, -e, "setTimeout(() => {}, 300)"]\ntimeout: 30s\n`);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await v.enqueue(dir, { origin: 'tui' })).id);
      const jobs = await until('all four ended', () => {
        const js = ids.map((id) => v.queue.get(id));
        return js.every((j) => j && ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(j.status)) && js;
      }, 40_000);
      expect(jobs.map((j) => [j!.status, j!.nodesTaken])).toEqual(ids.map(() => ['succeeded', ['tagged']]));
      // The plain worker did look at them (else this test proves nothing), and said so once per job.
      expect(left.length).toBeGreaterThan(0);
      for (const l of left) expect(l).toMatch(/^leaves job [0-9a-f]{8} queued: needs 1 node with tags ssh; this worker's nodes \(\(plain's nodes\)\) have none enabled$/);
      expect(new Set(left).size).toBe(left.length);
    } finally {
      for (const e of engines) await e.stop();
      await redis.stop();
    }
  }, 60_000);
});

describe.skipIf(!HAVE)('--ci on a queue that goes offline', () => {
  /** A --ci run on Redis whose job holds `holdMs`, with Redis crashed once the job has started. */
  async function ciWithRedisGone(holdMs: number) {
    const redis = await startRedis();
    const state = await stateDir();
    const dir = await project(`name: ci-offline\nrunner: command\ncommand: [node, -e, "console.log('started'); setTimeout(() => {}, ${holdMs})"]\ntimeout: 60s\n`);
    const nodes = await nodesFile('nodes:\n  box: {type: local}\n');
    const run = cli(['--ci', dir, '--queue', urlOf(redis), '--nodes', nodes, '--state-dir', state]);
    try {
      await run.waitFor(/\| started/);
      await redis.crash();
    } catch (e) {
      run.child.kill('SIGKILL');
      await redis.stop();
      throw e;
    }
    return { run, state, redis };
  }

  it('SIGTERM after the job ended, while its end waits for Redis: exit 130 within seconds, the end kept in result.json', async () => {
    const { run, state, redis } = await ciWithRedisGone(500);
    try {
      await run.waitFor(/queue offline: .*the job's end is recorded when it is back/, 15_000);
      const t0 = Date.now();
      run.child.kill('SIGTERM');
      const code = await Promise.race([run.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 12_000))]);
      expect(code, run.out() + run.err()).toBe(130);
      expect(Date.now() - t0).toBeLessThan(9000);
      expect(run.out()).toMatch(/gave up recording the job's end \(succeeded\) in the queue; it is kept in .*result\.json/);
      expect(run.out() + run.err()).not.toMatch(/internal error|\n\s+at /);
      const id = run.out().match(/gave up .* kept in (.*)result\.json/)![1];
      const result = JSON.parse(await readFile(path.join(id, 'result.json'), 'utf8')) as { status: string };
      expect(result.status).toBe('succeeded');
      // The summary tells how it ended here, not the `running` the queue was left showing.
      expect(run.out()).toMatch(/--ci: 1 job: 1 succeeded .*exit 130\n/);
      expect(id.startsWith(state)).toBe(true);
    } finally {
      run.child.kill('SIGKILL');
      await redis.stop();
    }
  }, 60_000);

  it('SIGTERM while the job runs and Redis is gone: the job is stopped here, exit 130 within seconds', async () => {
    const { run, state, redis } = await ciWithRedisGone(60_000);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      run.child.kill('SIGTERM');
      const code = await Promise.race([run.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code, run.out() + run.err()).toBe(130);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const dirOf = run.out().match(/kept in (.*)result\.json/);
      expect(dirOf, run.out()).toBeTruthy();
      const result = JSON.parse(await readFile(path.join(dirOf![1], 'result.json'), 'utf8')) as { status: string; reason: string };
      expect([result.status, result.reason]).toEqual(['cancelled', 'by SIGTERM']);
      expect(run.out()).toMatch(/--ci: 1 job: 1 cancelled .*exit 130\n/);
      expect(dirOf![1].startsWith(state)).toBe(true);
    } finally {
      run.child.kill('SIGKILL');
      await redis.stop();
    }
  }, 60_000);

  it('a worker stopped while Redis is gone: bounded too, and its summary says how its job ended here', async () => {
    const redis = await startRedis();
    const nodes = await nodesFile('nodes:\n  box: {type: local}\n');
    const dir = await project(`name: w-offline\nrunner: command\ncommand: [node, -e, "console.log('started'); setTimeout(() => {}, 60000)"]\ntimeout: 60s\n`);
    const w = cli(['worker', '--queue', urlOf(redis), '--nodes', nodes, '--state-dir', await stateDir()]);
    try {
      await w.waitFor(/running queued jobs from/);
      const q = await cliDone(['enqueue', '--queue', urlOf(redis), '--nodes', nodes, '--state-dir', await stateDir(), dir]);
      expect(q.code, q.err).toBe(0);
      await w.waitFor(/\| started/, 20_000);
      await redis.crash();
      const t0 = Date.now();
      w.child.kill('SIGTERM');
      const code = await Promise.race([w.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code, w.out() + w.err()).toBe(130);
      expect(Date.now() - t0).toBeLessThan(10_000);
      // Not the `running` the queue was left showing.
      expect(w.out()).toMatch(/worker: 1 job: 1 interrupted .*exit 130\n/);
    } finally {
      w.child.kill('SIGKILL');
      await redis.stop();
    }
  }, 60_000);
});
