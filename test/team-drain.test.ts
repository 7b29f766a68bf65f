/**
 * `worker --drain` on a team queue, as a CI job scripting workers runs it: a queued job no node
 * of this worker fits, which another live worker of the team runs once its node frees, is not
 * this worker's failure. It ends once its own jobs are done, its exit code theirs (0), and says
 * the job is left for the others, so a script reading that 0 knows the job is still to run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, urlOf, worker } from './helpers/team.js';

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
});
