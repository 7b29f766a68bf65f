/**
 * The locust runner on two real SSH nodes (sshd on 127.0.0.2/3) in Locust's own distributed
 * mode: one master on this machine, a worker per node. Locust splits the users, the master's
 * stats are the job's, the per-request counts come back through the master and name their
 * node, a `chaos:` window on a proxy in front of the app is measured and attributed across both
 * workers, and a worker lost mid-cycle stops the master with nothing left running, its cycle
 * reported as far as the master had it and the node marked lost.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshNodeConfig } from '../../src/config/nodes.js';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import type { EngineEvent } from '../../src/core/events.js';
import type { JsonReport } from '../../src/report/json.js';
import { startHttpServer } from '../helpers/http-server.js';
import { LOCUSTFILE } from '../helpers/locust.js';
import { localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';
import { haveServer, tempDir } from '../helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd, type Sshd } from '../helpers/sshd.js';

const SSH_SLOW = 300_000;

let app: Awaited<ReturnType<typeof startHttpServer>>;
let dir: string;
let nodes: [Sshd, Sshd];
let knownHosts: string;
let identity: string;

describe.skipIf(!haveServer('locust') || !haveServer('sshd'))('locust runner, distributed over two SSH nodes', () => {
  beforeAll(async () => {
    app = await startHttpServer();
    dir = await tempDir('locust-dist');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    nodes = await Promise.all([startSshd('127.0.0.2', user), startSshd('127.0.0.3', user)]);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${nodes.map((n) => n.knownHostsLine).join('\n')}\n`);
  });
  afterAll(async () => {
    await Promise.all(nodes?.map((n) => n.stop()) ?? []);
    await app?.close();
    await rm(dir, { recursive: true, force: true });
    await removeTemp();
  });

  const yaml = (duration: number, cycles = '[3]') => `name: dist
runner: locust
locustfile: locustfile.py
base_url: http://127.0.0.1:${app.port}
cycles: ${cycles}
cycle_time: 0.2
duration: ${duration}
spawn_rate: 100
nodes: 2
timeout: 280s
`;
  const ssh = (n: Sshd, name: string): SshNodeConfig => sshNode(n, name, { identity, knownHosts, workDir: path.join(dir, `remote-${name}`) });

  /** A job on nodes a and b (or `o.nodes`), of `yaml(duration, cycles)` or `o.yaml`. */
  async function start(duration: number, cycles?: string, o: { yaml?: string; nodes?: SshNodeConfig[] } = {}) {
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: o.nodes ?? [ssh(nodes[0], 'a'), ssh(nodes[1], 'b')] }, run: 'all' });
    const events: EngineEvent[] = [];
    e.events.on('*', (x) => events.push(x));
    if (process.env.LOCUST_DEBUG) e.events.on('log.line', (x) => console.log('LOG', x.node, x.stream, x.line));
    await e.start();
    const job = await e.enqueue(await project(o.yaml ?? yaml(duration, cycles), { 'locustfile.py': LOCUSTFILE }));
    const logs = () => events.flatMap((x) => (x.type === 'log.line' ? [`${x.node ?? ''} ${x.stream} ${x.line}`] : []));
    return { e, job, events, logs };
  }

  it("one master, a worker per node: Locust's split, the master's stats, every request counted once and by node", async () => {
    const before = app.requests();
    const { e, job, logs } = await start(2, '[1, 3]');
    try {
      const [done] = await e.waitFor([job.id]);
      expect(done.status, `${done.reason}\n${logs().join('\n')}`).toBe('succeeded');
      const resultDir = e.resultDir(job.id);
      // The master's command line holds the result dir, the workers' the job's remote copy.
      expect(processesWith(job.id)).toEqual([]);
      // Locust split the second cycle's 3 users over both workers.
      const split = Object.fromEntries(logs().flatMap((l) => {
        const m = /^(\w+) engine cycle 2: (\d+) user\(s\) done$/.exec(l);
        return m ? [[m[1], Number(m[2])]] : [];
      }));
      expect(Object.keys(split).sort()).toEqual(['a', 'b']);
      expect(split.a + split.b).toBe(3);
      expect(Math.min(split.a, split.b)).toBeGreaterThan(0);
      // Each cycle's figures are its master's CSV.
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as { cycles: { cvus: number; requests: { total: number } }[]; nodes?: { node: string; requests: number }[] };
      expect(s.cycles.map((c) => c.cvus)).toEqual([1, 3]);
      for (const ci of [0, 1]) {
        const csv = await readFile(path.join(resultDir, 'master', `cycle-${ci}_stats.csv`), 'utf8');
        const aggregated = Number(csv.trim().split('\n').pop()!.split(',')[2]);
        expect(aggregated).toBeGreaterThan(0);
        expect(s.cycles[ci].requests.total).toBe(aggregated);
      }
      // Every request the workers saw came back through the master, named by node: the app
      // served them all, plus at most one in flight per user when Locust stopped its users.
      const record = JSON.parse(await readFile(path.join(resultDir, 'locust-run.json'), 'utf8')) as { cycles: { samples: [number, string, number, number, number, string?][] }[] };
      const samples = record.cycles.flatMap((c) => c.samples);
      expect(samples.every((x) => x[5] === 'a' || x[5] === 'b')).toBe(true);
      const counted = samples.reduce((n, x) => n + x[4], 0);
      const served = app.requests() - before;
      expect(counted).toBeLessThanOrEqual(served);
      expect(counted).toBeGreaterThanOrEqual(served - (1 + 3));
      // Recorded requests (after each ramp-up, Locust's --reset-stats) are among those counted.
      expect(s.cycles[0].requests.total + s.cycles[1].requests.total).toBeLessThanOrEqual(counted);
      // The report names both nodes, with every request counted.
      expect(s.nodes?.map((n) => n.node)).toEqual(['a', 'b']);
      expect(s.nodes!.reduce((n, x) => n + x.requests, 0)).toBe(counted);
      const html = await readFile(path.join(resultDir, 'index.html'), 'utf8');
      expect(html).toMatch(/<h2 id="nodes">Nodes<\/h2>[\s\S]*>a<[\s\S]*>b</);
      for (const n of ['a', 'b']) expect(existsSync(path.join(dir, `remote-${n}`, job.id))).toBe(false);
    } finally {
      await e.stop();
    }
  }, SSH_SLOW);

  /**
   * A job on `[kept, lost]` (node names) whose `lose` kills the lost worker once the master holds
   * samples of both: the job fails naming it, nothing is left running, and the cycle is in the
   * report as the master had it, the node marked lost. Returns the lost node's `reason`.
   */
  async function loseWorker(list: SshNodeConfig[], lose: (jobId: string) => void): Promise<string> {
    const [kept, lost] = list.map((n) => n.name);
    const { e, job, logs } = await start(120, undefined, { nodes: list });
    try {
      // Each worker reports to the master every 3 s (Locust's WORKER_REPORT_INTERVAL): 10 s of
      // recorded requests means the master holds samples of both, even with reports late on a
      // loaded machine.
      let since = 0;
      const recording = new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId !== job.id || x.progress.users !== 3 || !(x.progress.requests ?? 0)) return;
          since ||= x.at;
          if (x.at - since >= 10_000) resolve();
        }),
      );
      await recording;
      const lostAt = Date.now();
      lose(job.id);
      const [done] = await e.waitFor([job.id]);
      expect(done, logs().join('\n')).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(done.reason).toMatch(new RegExp(`^node "${lost}": node lost at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: `));
      // The master and the other worker are gone with the job.
      const deadline = Date.now() + 20_000;
      while (processesWith(job.id).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(processesWith(job.id)).toEqual([]);

      // The cycle is in the report as the master had it, with both workers' requests.
      const resultDir = e.resultDir(job.id);
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(s.aborted).toBe(false);
      expect(s.cycles).toHaveLength(1);
      expect(s.cycles[0].requests.total).toBeGreaterThan(0);
      // Its rates divide by the time it recorded (about 10 s of the 120 configured), not by 120 s.
      expect(s.cycles[0].duration).toBeGreaterThan(5);
      expect(s.cycles[0].duration).toBeLessThan(100);
      const [nk, nl] = [kept, lost].map((n) => s.nodes!.find((x) => x.node === n)!);
      expect(nk.requests).toBeGreaterThan(0);
      expect(nl.requests).toBeGreaterThan(0);
      expect(nk.lost).toBeUndefined();
      expect(nl.lost!.at).toBeGreaterThanOrEqual(lostAt);
      expect(done.reason).toBe(`node "${lost}": node lost at ${new Date(nl.lost!.at).toISOString()}: ${nl.lost!.reason}`);
      const record = JSON.parse(await readFile(path.join(resultDir, 'locust-run.json'), 'utf8')) as { lost: { node: string }[]; cycles: { samples: [number, string, number, number, number, string?][] }[] };
      expect(record.lost.map((l) => l.node)).toEqual([lost]);
      expect(record.cycles[0].samples.filter((x) => x[5] === lost).reduce((n, x) => n + x[4], 0)).toBe(nl.requests);
      const lostText = `node lost at ${new Date(nl.lost!.at).toISOString()}`;
      expect(await readFile(path.join(resultDir, 'index.html'), 'utf8')).toContain(`Node ${lost}: ${lostText}`);
      expect(await readFile(path.join(resultDir, 'junit.xml'), 'utf8')).toContain(lostText);
      return nl.lost!.reason;
    } finally {
      await e.stop();
    }
  }

  it('a worker killed mid-cycle stops the master: the cycle gathered so far is reported, the node marked lost, the job fails, nothing left running', async () => {
    const reason = await loseWorker([ssh(nodes[0], 'a'), ssh(nodes[1], 'b')], (jobId) => {
      const workers = processesWith(path.join(dir, 'remote-b', jobId));
      expect(workers.length).toBeGreaterThan(0);
      for (const pid of workers) process.kill(pid, 'SIGKILL');
    });
    expect(reason).toMatch(/^the Locust worker (was killed|exited)[^;]* during the cycle/);
  }, SSH_SLOW);

  it('a worker node whose sshd dies mid-cycle: the same, the reason being the lost connection', async () => {
    const user = { privateKey: identity, publicKey: `${identity}.pub` };
    const c = await startSshd('127.0.0.4', user);
    try {
      const hosts = path.join(dir, 'known_hosts_c');
      await writeFile(hosts, `${nodes[0].knownHostsLine}\n${c.knownHostsLine}\n`);
      const list = [sshNode(nodes[0], 'a', { identity, knownHosts: hosts, workDir: path.join(dir, 'remote-a') }), sshNode(c, 'c', { identity, knownHosts: hosts, workDir: path.join(dir, 'remote-c') })];
      const reason = await loseWorker(list, (jobId) => {
        // The node dies: its sshd and everything its sessions ran.
        c.crash();
        for (const pid of processesWith(path.join(dir, 'remote-c', jobId))) process.kill(pid, 'SIGKILL');
      });
      expect(reason).toMatch(/^SSH connection .* lost/);
    } finally {
      await c.stop();
    }
  }, SSH_SLOW);

  it('a chaos window through the proxy on both workers: its 503s measured in the window, attributed to the fault, on both nodes', async () => {
    const chaosYaml = `name: dist-chaos
runner: locust
locustfile: locustfile.py
base_url: http://\${MARTEAU_PROXY_WEB}
cycles: [4]
duration: 12
spawn_rate: 100
nodes: 2
timeout: 280s
proxies:
  web: {listen: 127.0.0.1:0, upstream: "127.0.0.1:${app.port}", protocol: http}
chaos:
  - {name: web_errors, proxy: web, at: 4s, for: 3s, behaviors: "50:error"}
`;
    const { e, job, logs } = await start(0, undefined, { yaml: chaosYaml });
    try {
      const [done] = await e.waitFor([job.id]);
      expect(done.status, `${done.reason}\n${logs().join('\n')}`).toBe('succeeded');
      const report = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'summary.json'), 'utf8')) as JsonReport;
      const [w] = report.fault_windows!;
      expect(report.fault_windows!.map((x) => [x.name, x.proxy, x.mix, x.source])).toEqual([['web_errors', 'web', '50:error', 'chaos']]);
      // The window's requests met the proxy's 503s while it lasted.
      expect(w.effect.injected.error).toBeGreaterThan(0);
      expect(w.effect.requests).toBeGreaterThan(10);
      expect(w.effect.classes['5xx'], JSON.stringify(w.effect)).toBeGreaterThan(0);
      // The failed requests are joined with the faults that caused them.
      const a = report.attribution!;
      const row = a.rows.find((r) => r.proxy === 'web' && r.behavior === 'error')!;
      expect(row.faults).toBeGreaterThan(0);
      expect(row.overlapped).toBeGreaterThan(0);
      expect(row.failed).toBeGreaterThan(0);
      // The app never fails: every failed request is a 503 the proxy injected, whichever worker
      // sent it, and each is joined with its fault (the master's sample times hold across nodes).
      expect(row.faults, JSON.stringify(a)).toBe(a.failed);
      expect(row.failed, JSON.stringify(a)).toBe(a.failed);
      expect(a.unexplained, JSON.stringify(a)).toBe(0);
      // Both workers sent requests through the proxy and met its errors.
      const byNode = Object.fromEntries(report.nodes!.map((n) => [n.node, n]));
      expect(Object.keys(byNode).sort()).toEqual(['a', 'b']);
      for (const n of ['a', 'b']) {
        expect(byNode[n].requests, n).toBeGreaterThan(0);
        expect(byNode[n].success, JSON.stringify(byNode[n])).toBeLessThan(byNode[n].requests);
      }
      expect(report.nodes!.reduce((f, n) => f + n.requests - n.success, 0)).toBe(a.failed);
    } finally {
      await e.stop();
    }
  }, SSH_SLOW);

  it("cancel mid-cycle: the master quits (its CSVs kept), the workers go, nothing left running", async () => {
    const { e, job } = await start(120);
    try {
      await new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId === job.id && x.progress.users === 3 && (x.progress.requests ?? 0) > 0) resolve();
        }),
      );
      expect(processesWith(path.join(dir, 'remote-a', job.id)).length).toBeGreaterThan(0);
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      expect(done.status).toBe('cancelled');
      const deadline = Date.now() + 20_000;
      while (processesWith(job.id).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(processesWith(job.id)).toEqual([]);
      const s = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'summary.json'), 'utf8')) as { aborted: boolean; cycles: { requests: { total: number } }[] };
      expect(s.aborted).toBe(true);
      expect(s.cycles[0].requests.total).toBeGreaterThan(0);
    } finally {
      await e.stop();
    }
  }, SSH_SLOW);
});
