/**
 * A worker's "job X started on ..." line, when the queue shows the job running before the reply
 * to the worker's own claim comes (a shared queue's change read on another connection, under
 * load): the line is printed once for a job the worker runs, never for one another worker took.
 * A real redis-server and an engine as a worker runs it, the CI reporter reading its events; the
 * claim's reply is held until the engine has handled the queue's change, the order the race
 * gives.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CiReporter } from '../src/ci/reporter.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { Engine } from '../src/core/engine.js';
import type { EngineEvent } from '../src/core/events.js';
import { short } from '../src/core/queue.js';
import { RedisQueue } from '../src/core/redis-queue.js';
import { StateDir } from '../src/core/state-dir.js';
import { loadRunners } from '../src/report/runners.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { until, urlOf } from './helpers/team.js';

const HAVE = haveServer('redis-server');
afterAll(removeTemp);

/** Two turns of the event loop: the engine's queue change, deferred to one, is handled first. */
const afterChange = () => new Promise((r) => setImmediate(r)).then(() => new Promise((r) => setImmediate(r)));

describe.skipIf(!HAVE)("a worker's started line, its claim's reply coming after the queue's change", () => {
  it('is printed once for each job it runs (claimed in a pass and handed its nodes), never for a job another took', async () => {
    const redis = await startRedis();
    const url = parseQueueUrl(urlOf(redis));
    const state = await stateDir();
    const queue = new RedisQueue({ url, lostJobs: 'interrupt', resultsRoot: new StateDir(state).jobsDir, readPresence: false });
    const thief = new RedisQueue({ url, lostJobs: 'interrupt' });
    let steal = false;
    let held = 0;
    // Its claims' replies held until the change they made has been handled by the engine.
    const claimFirst = queue.claimFirst.bind(queue);
    queue.claimFirst = async (ids, nodes) => {
      // Another worker takes the job first: the claim falls through, the job shown running.
      if (steal) expect(await thief.claimFirst(ids, [{ name: 'elsewhere', max: 1 }])).toEqual({ id: ids[0], claim: expect.any(String) });
      const got = await claimFirst(ids, nodes);
      await afterChange();
      held++;
      return got;
    };
    const finishAndClaim = queue.finishAndClaim.bind(queue);
    queue.finishAndClaim = async (...a) => {
      const got = await finishAndClaim(...a);
      await afterChange();
      if (got) held++;
      return got;
    };
    let engine: Engine | undefined;
    try {
      await thief.open();
      const nodes = { file: '(worker)', nodes: [{ type: 'local' as const, name: 'box-a', maxJobs: 1, tags: [], enabled: true }], probeIntervalMs: 60_000, probeTimeoutMs: 2000, queue: { url, lostJobs: 'interrupt' as const } };
      engine = new Engine({ runners: loadRunners, stateDir: state, nodes, run: 'all', queue });
      const e = engine;
      let text = '';
      const out = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
      const reporter = new CiReporter(out, { mine: (id) => e.isOwn(id), many: () => false }, {});
      const events: EngineEvent[] = [];
      e.events.on('*', (x) => {
        events.push(x);
        reporter.onEvent(x);
      });
      await e.start();
      const finished = (id: string) => until(`job ${id} to end`, () => events.some((x) => x.type === 'job.finished' && x.job.id === id), 30_000);

      // The first job holds the node until the gate opens; the second gets it at the first's end.
      const gate = path.join(await temp('gate'), 'open');
      const first = await e.enqueue(await project(`name: first\n${commandYaml(['sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.1; done', gate])}\n`));
      await until('the first job to run', () => e.queue.get(first.id)?.status === 'running' && held === 1, 30_000);
      const second = await e.enqueue(await project(`name: second\n${commandYaml(['true'])}\n`));
      await writeFile(gate, '');
      await finished(first.id);
      await finished(second.id);
      expect(held).toBe(2);

      steal = true;
      const theirs = await e.enqueue(await project(`name: theirs\n${commandYaml(['true'])}\n`));
      await until('the other worker to take it', () => held === 3, 30_000);
      await afterChange();
      expect(e.queue.get(theirs.id)?.nodesTaken).toEqual(['elsewhere']);

      const started = (id: string) => events.filter((x) => x.type === 'job.started' && x.job.id === id).length;
      expect([first, second, theirs].map((j) => started(j.id))).toEqual([1, 1, 1]);
      expect(text.split('\n').filter((l) => l.includes(' started on '))).toEqual([`job ${short(first.id)} started on box-a`, `job ${short(second.id)} started on box-a`].map((l) => expect.stringMatching(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${l}$`))));
    } finally {
      await engine?.stop();
      await thief.close();
      await redis.stop();
    }
  }, 90_000);
});
