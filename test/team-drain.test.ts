/**
 * `worker --drain` on a team queue, as a CI job scripting workers runs it: a queued job no node
 * of this worker fits, which another live worker of the team runs once its node frees, is not
 * this worker's failure. It ends once its own jobs are done, its exit code theirs (0), and says
 * the job is left for the others, so a script reading that 0 knows the job is still to run.
 * Nor is a job it took and put back in the queue, which another worker then ran to its end or
 * still runs.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JOB_CONFIG_SNAPSHOT } from '../src/core/state-dir.js';
import { cli, cliDone, type CliRun } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, started, until, urlOf, worker } from './helpers/team.js';

const HAVE = haveServer('redis-server');
afterAll(removeTemp);

describe.skipIf(!HAVE)('worker --drain on a team queue', () => {
  it('a job only another worker fits is left to it: exit 0 for the jobs run here, the job named as left, still queued', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    try {
      const plainNodes = await nodesFile('nodes:\n  drain-plain: {type: local, max_jobs: 1}\n');
      const queue = async (dir: string): Promise<string> => {
        const r = await cliDone(['enqueue', dir, '--queue', url, '--nodes', plainNodes, '--state-dir', await stateDir(), '--json']);
        expect(r.code, r.err).toBe(0);
        return (JSON.parse(r.out) as { id: string }[])[0].id;
      };
      // The other worker's one node busy with a long job: the next tagged job waits for it.
      const tagged = await worker(url, await nodesFile('nodes:\n  other-tagged: {type: local, max_jobs: 1, tags: [ssh]}\n'));
      await queue(await project(`name: long\nnode_tags: [ssh]\n${commandYaml(['sleep', '60'])}\n`));
      await tagged.waitFor(/started on other-tagged/);
      // A failure of it would not be this worker's either: it never runs here.
      const theirs = await queue(await project(`name: theirs\nnode_tags: [ssh]\n${commandYaml(['false'])}\n`));
      const mine = await queue(await project(`name: mine\n${commandYaml(['true'])}\n`));

      const d = await cliDone(['worker', '--drain', '--queue', url, '--nodes', plainNodes, '--state-dir', await stateDir()]);
      const said = d.out + d.err;
      expect(d.code, said).toBe(0);
      expect(said).toContain(`job ${mine.slice(0, 8)} succeeded`);
      expect(said).toContain(`marteau-tui worker: 1 job left queued for the team's other workers (${theirs.slice(0, 8)}): needs 1 node with tags ssh; this worker's nodes (${plainNodes}) have none enabled; not this worker's to run, not counted in its exit code\n`);
      expect(said).toMatch(/marteau-tui worker: 1 job: 1 succeeded \([^)]*\) exit 0\n/);

      const list = await cliDone(['queue', '--all', '--json', '--queue', url, '--nodes', plainNodes, '--state-dir', await stateDir()]);
      const status = new Map((JSON.parse(list.out) as { id: string; status: string }[]).map((j) => [j.id, j.status]));
      expect([status.get(theirs), status.get(mine)]).toEqual(['queued', 'succeeded']);
    } finally {
      await redis.stop();
    }
  }, 90_000);

  it('a job it put back in the queue, then run by another worker, is not its own: named, not in its exit code', async () => {
    const redis = await startRedis();
    try {
      const { d, state, open, mine, theirs, inQueue } = await putBack(urlOf(redis), ['false']);
      await until('the other worker to run the job to its end', async () => (await inQueue(theirs))?.status === 'failed', 60_000);
      await open('mine');
      const said = await drained(d, mine);
      // Its end is the other worker's to tell: not told here (before, with this worker's summary).
      expect(said).not.toMatch(new RegExp(`\\d job ${theirs.slice(0, 8)} (failed|interrupted)`));
      const line = said.split('\n').find((l) => l.startsWith(`marteau-tui worker: job ${theirs.slice(0, 8)} `));
      expect(line, said).toMatch(/^marteau-tui worker: job \w{8} put back in the queue here \(interrupted: the state dir .* is full \(ENOSPC writing .*\): put back in the queue in [^)]*\), then run by another worker: failed: .*; not counted in this worker's exit code$/);
      expect(line).toContain(`the state dir ${state} is full (ENOSPC writing ${path.join(state, 'jobs', theirs, JOB_CONFIG_SNAPSHOT)})`);
    } finally {
      await redis.stop();
    }
  }, 120_000);

  it('a job it put back in the queue, still running on another worker when it ends, is named with that node, not in its exit code', async () => {
    const redis = await startRedis();
    try {
      const { d, open, mine, theirs, inQueue } = await putBack(urlOf(redis), 'held');
      // The other worker runs it, and holds it there while this worker drains.
      await until('the other worker to run the job', async () => {
        const j = await inQueue(theirs);
        return j?.status === 'running' && j.nodesTaken.includes('back-b');
      }, 60_000);
      await open('mine');
      const said = await drained(d, mine);
      expect(said).not.toMatch(new RegExp(`\\d job ${theirs.slice(0, 8)} (failed|interrupted|succeeded)`));
      const line = said.split('\n').find((l) => l.startsWith(`marteau-tui worker: job ${theirs.slice(0, 8)} `));
      expect(line, said).toMatch(/^marteau-tui worker: job \w{8} put back in the queue here \(interrupted: the state dir .* is full \(ENOSPC writing .*\): put back in the queue in [^)]*\), then taken by another worker, running on back-b; not counted in this worker's exit code$/);
      await open('theirs');
    } finally {
      await redis.stop();
    }
  }, 120_000);
});

/**
 * A `worker --drain` that puts its job `theirs` back in the queue (its state dir full for it) while
 * its job `mine` runs, held until the test opens its gate; then the other worker's node (back-b,
 * busy until now) is freed to take `theirs`, which runs `theirsCmd` or is held on its gate too.
 */
async function putBack(url: string, theirsCmd: string[] | 'held') {
  const nodesA = await nodesFile('nodes:\n  back-a: {type: local, max_jobs: 2}\n');
  const nodesB = await nodesFile('nodes:\n  back-b: {type: local, max_jobs: 1}\n');
  const queue = async (dir: string): Promise<string> => {
    const r = await cliDone(['enqueue', dir, '--queue', url, '--nodes', nodesA, '--state-dir', await stateDir(), '--json']);
    expect(r.code, r.err).toBe(0);
    return (JSON.parse(r.out) as { id: string }[])[0].id;
  };
  const gates = await temp('gates');
  const held = (name: string) => project(`name: ${name}\n${commandYaml(['sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.1; done', path.join(gates, name)])}\n`);
  const open = (name: string) => writeFile(path.join(gates, name), '');
  // The other worker's one node busy: the next job can only go to this one first.
  const other = await worker(url, nodesB);
  await queue(await held('busy'));
  await other.waitFor(/(started|running) on back-b/, 60_000);
  const mine = await queue(await held('mine'));
  const theirs = await queue(theirsCmd === 'held' ? await held('theirs') : await project(`name: theirs\n${commandYaml(theirsCmd)}\n`));
  // This worker cannot write the job's files (its state dir full, as /dev/full has it): it puts
  // the job back in the queue and holds its starts until there is room.
  const state = await stateDir();
  await mkdir(path.join(state, 'jobs', theirs), { recursive: true });
  await symlink('/dev/full', path.join(state, 'jobs', theirs, JOB_CONFIG_SNAPSHOT));
  const d = cli(['worker', '--drain', '--queue', url, '--nodes', nodesA, '--state-dir', state]);
  started.push(d);
  await d.waitFor(/no job starts here until there is room/, 60_000);
  await d.waitFor(new RegExp(`(job ${mine.slice(0, 8)} started|\\[${mine.slice(0, 8)}\\] progress: running) on back-a`), 60_000);
  // The other worker's node free: it takes the job.
  await open('busy');
  /** The job as the queue has it, read by another process. */
  const inQueue = async (id: string) => {
    const r = await cliDone(['queue', '--all', '--json', '--queue', url, '--nodes', nodesA, '--state-dir', await stateDir()]);
    const j = (JSON.parse(r.out) as { id: string; status: string; nodesTaken: string[]; owner?: { pid: number } }[]).find((x) => x.id === id);
    if (j && j.status !== 'queued') expect(j.owner?.pid).toBe(other.child.pid);
    return j;
  };
  return { d, state, open, mine, theirs, inQueue };
}

/** The drain's output once it ended: exit 0, its own job `mine` the one it counts. */
async function drained(d: CliRun, mine: string): Promise<string> {
  const code = await d.exited;
  const said = d.out() + d.err();
  expect(code, said).toBe(0);
  expect(said).toContain(`job ${mine.slice(0, 8)} succeeded`);
  expect(said).toMatch(/marteau-tui worker: 1 job: 1 succeeded \([^)]*\) exit 0\n/);
  return said;
}
