/**
 * A cancel of a Locust job on an SSH node behind a slow link (a relay in front of a real sshd,
 * slow from the node): the CSV files a cancelled Locust still writes come back and are kept, as
 * on the local node; files too big to come back within a moment of the cancel (a locustfile of
 * many request names) do not make the cancel wait for them, and leave no part behind: the cycle
 * is then reported from what Locust streamed, per request name, its failures named.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { JsonReport } from '../src/report/json.js';
import { STREAMED_PER_KIND } from '../src/runners/locust/plugin.js';
import { OTHER_NAMES } from '../src/runners/locust/stream.js';
import { localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, relayTo, sshNode, startSshd, type Relay, type Sshd } from './helpers/sshd.js';

afterAll(removeTemp);

/** From the node: 1 MiB/s. */
const RATE_BACK = 1024 * 1024;

/**
 * Requests told to Locust without a network (no server to load): each of the first 8000 under a
 * name of its own, 4 KB long, which makes a stats CSV of over 30 MB, 30 s or more at the link's
 * rate; every tenth, a 'login' that fails. Yields after each, as a request would.
 */
const MANY_NAMES = `import time
import gevent
from locust import User, constant, task

LONG = "n" * 4000
count = [0]


class Names(User):
    wait_time = constant(0)

    @task
    def tell(self):
        count[0] += 1
        name = "%s-%d" % (LONG, count[0]) if count[0] <= 8000 else "last"
        self.environment.events.request.fire(request_type="GET", name=name, response_time=1, response_length=0, response=None, context={}, exception=None, start_time=time.time())
        if count[0] % 10 == 0:
            self.environment.events.request.fire(request_type="POST", name="login", response_time=2, response_length=0, response=None, context={}, exception=ValueError("wrong password"), start_time=time.time())
        gevent.sleep(0.0001)
`;

/** The same without names: a few hundred bytes of CSV. */
const FEW_NAMES = MANY_NAMES.replace('if count[0] <= 8000 else "last"', 'if False else "home"');

const yaml = 'name: cut\nrunner: locust\nlocustfile: locustfile.py\ncycles: [2]\nduration: 60\nspawn_rate: 100\nkeep_remote: true\ntimeout: 170s\n';

describe.skipIf(!haveServer('locust') || !haveServer('sshd'))('cancel of a Locust job on an SSH node behind a slow link (real sshd, real Locust)', () => {
  let dir: string;
  let s: Sshd;
  let relay: Relay;
  let identity: string;

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-locust');
    identity = (await makeUserKey(dir)).privateKey;
    s = await startSshd('127.0.0.8', { privateKey: identity, publicKey: `${identity}.pub` });
    relay = await relayTo(s, { bytesPerSecondBack: RATE_BACK });
  });
  afterAll(async () => {
    relay?.close();
    await s?.stop();
  });

  /** Cancels the job once Locust records; the job's end, how long after the cancel, its log. */
  async function cancelled(locustfile: string) {
    const workDir = path.join(dir, `remote-${Math.random().toString(36).slice(2, 8)}`);
    const node = { ...sshNode(s, 'slow', { identity, knownHosts: relay.knownHosts, workDir, connectTimeoutMs: 20_000 }), port: relay.port };
    const proj = await project(yaml, { 'locustfile.py': locustfile });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [node] }, run: 'all' });
    await e.start();
    try {
      const job = await e.enqueue(proj);
      const log: string[] = [];
      e.events.on('log.line', (x) => x.jobId === job.id && log.push(x.line));
      await new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId === job.id && (x.progress.requests ?? 0) > 20_000) resolve();
        }),
      );
      const asked = Date.now();
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      const took = Date.now() - asked;
      expect(processesWith(job.id)).toEqual([]);
      const remote = path.join(workDir, job.id, '.marteau-locust', 'cycle-0_stats.csv');
      return { done, took, log, resultDir: e.resultDir(job.id), local: path.join(e.resultDir(job.id), 'nodes', 'slow', 'cycle-0_stats.csv'), remote };
    } finally {
      await e.stop();
    }
  }

  it('what Locust measured comes back and is kept in the report', async () => {
    const { done, local, resultDir } = await cancelled(FEW_NAMES);
    expect(done.status).toBe('cancelled');
    expect(existsSync(local)).toBe(true);
    const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as { cycles: { requests: { total: number } }[] };
    expect(summary.cycles[0].requests.total).toBeGreaterThan(20_000);
  }, 180_000);

  it('CSV files too big to come back soon are given up a moment after the cancel, no part left, the cycle reported from what Locust streamed', async () => {
    const { done, took, log, local, remote, resultDir } = await cancelled(MANY_NAMES);
    expect(done.status).toBe('cancelled');
    // The whole would take 30 s or more at the link's rate: a wait for it would show.
    expect((await stat(remote)).size).toBeGreaterThan(30 * RATE_BACK);
    expect(took).toBeLessThan(20_000);
    expect(existsSync(local)).toBe(false);
    expect(log).toContain("cycle 1: Locust's CSV files were not back 5 s after the job was stopped: the cycle is reported from what Locust streamed");
    // Per request name, as the files would have it: the first names one by one (the rest, past
    // what the stream names, together), the failing 'login' under its own step, its failures named.
    const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
    const [c] = s.cycles;
    expect(c.requests.total).toBeGreaterThan(10_000);
    expect(c.steps).toHaveLength(STREAMED_PER_KIND + 1);
    expect(c.steps.reduce((n, x) => n + x.total, 0)).toBe(c.requests.total);
    const login = c.steps.find((x) => x.url === 'login')!;
    expect(login.total).toBeGreaterThan(1000);
    expect(login.success).toBe(0);
    expect(c.errors).toEqual({ ValueError: login.total });
    expect(c.steps.find((x) => x.url === OTHER_NAMES)!.total).toBeGreaterThan(5000);
    for (const x of c.steps.filter((x) => x !== login)) expect(x.success).toBe(x.total);
    expect(s.error_samples.map((x) => [x.url, x.error, x.traceback])).toContainEqual(['login', 'ValueError', "ValueError('wrong password')"]);
  }, 180_000);
});
