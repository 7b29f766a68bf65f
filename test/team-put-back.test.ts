/**
 * A job an engine put back in the queue (its state dir full before the job's load), then run to
 * its end by another worker of the team: the first engine's views (the control center's) tell
 * that end as the other's, not with the summary of its own run that gave the job back. A real
 * redis-server, a real worker, and an engine as the control center runs it.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { Engine } from '../src/core/engine.js';
import type { EngineEvent } from '../src/core/events.js';
import { JOB_CONFIG_SNAPSHOT } from '../src/core/state-dir.js';
import { loadRunners } from '../src/report/runners.js';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, until, urlOf, worker } from './helpers/team.js';

const HAVE = haveServer('redis-server');
afterAll(removeTemp);

describe.skipIf(!HAVE)('a job put back in the queue, then run by another worker', () => {
  it("the engine that put it back tells its end as the other worker's", async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    let engine: Engine | undefined;
    try {
      const nodesB = await nodesFile('nodes:\n  other-b: {type: local, max_jobs: 1}\n');
      const queue = async (dir: string): Promise<string> => {
        const r = await cliDone(['enqueue', dir, '--queue', url, '--nodes', nodesB, '--state-dir', await stateDir(), '--json']);
        expect(r.code, r.err).toBe(0);
        return (JSON.parse(r.out) as { id: string }[])[0].id;
      };
      // The other worker's one node busy: the job goes to the engine first.
      const gate = path.join(await temp('gate'), 'open');
      const other = await worker(url, nodesB);
      await queue(await project(`name: busy\n${commandYaml(['sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.1; done', gate])}\n`));
      await other.waitFor(/(started|running) on other-b/, 60_000);
      const id = await queue(await project(`name: theirs\n${commandYaml(['false'])}\n`));
      // The engine cannot write the job's files (its state dir full, as /dev/full has it).
      const state = await stateDir();
      await mkdir(path.join(state, 'jobs', id), { recursive: true });
      await symlink('/dev/full', path.join(state, 'jobs', id, JOB_CONFIG_SNAPSHOT));
      const nodes = { file: '(control center)', nodes: [{ type: 'local' as const, name: 'center-a', maxJobs: 1, tags: [], enabled: true }], probeIntervalMs: 60_000, probeTimeoutMs: 2000, queue: { url: parseQueueUrl(url), lostJobs: 'interrupt' as const } };
      engine = new Engine({ runners: loadRunners, stateDir: state, nodes, run: 'all' });
      const events: EngineEvent[] = [];
      engine.events.on('*', (e) => events.push(e));
      await engine.start();
      const e = engine;
      await until('the job put back', () => events.some((x) => x.type === 'log.line' && x.line.includes('no job starts here until there is room')), 20_000);
      // The other worker's node free: it takes the job and runs it to its end (a failure).
      await writeFile(gate, '');
      // Read as the control center reads the queue while shown (a worker reads it only when woken).
      const ended = await until('the other worker to end the job', async () => {
        await e.queue.sync();
        return e.queue.get(id)?.status === 'failed' && e.queue.get(id);
      }, 60_000);
      expect(ended.owner?.pid).toBe(other.child.pid);
      await until('its end told', () => events.some((x) => x.type === 'job.finished' && x.job.id === id), 10_000);

      const told = events.flatMap((x) => (x.type === 'job.finished' && x.job.id === id ? [x] : []));
      expect(told.map((x) => x.summary)).toEqual([expect.stringMatching(/^failed: node "other-b": exit 1 in /)]);
      expect(told[0].resultDir).toBe(e.resultDir(id));
      const view = e.getSnapshot().jobs.find((j) => j.id === id)!;
      expect({ status: view.status, summary: view.summary }).toEqual({ status: 'failed', summary: undefined });
      expect(e.isOwn(id)).toBe(false);
      expect(e.takenFromHere().map((t) => [t.job.id, t.here])).toEqual([[id, expect.stringMatching(/^interrupted: the state dir .* is full \(ENOSPC writing .*\): put back in the queue in /)]]);
    } finally {
      await engine?.stop();
      await redis.stop();
    }
  }, 120_000);
});
