/**
 * The builtin runner on SSH nodes, against real OpenSSH servers on 127.0.0.2 and 127.0.0.3 and
 * the demo app: the agent bundle shipped once and found again, users split over two nodes and
 * their samples merged, cancel and a silent network cut leaving nothing behind, an installed marteau-tui used as is, and
 * a node without Node.js. The agent runs from dist/, so build first (npm test does).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApp, type DemoApp } from '../../fixtures/demo/app.js';
import type { NodeConfig, SshNodeConfig } from '../../src/config/nodes.js';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import type { EngineEvent } from '../../src/core/events.js';
import type { Job } from '../../src/core/jobs.js';
import type { JsonReport } from '../../src/report/json.js';
import { readFunkloadXml } from '../../src/runners/funkload-xml.js';
import { AGENT_ENTRY } from '../../src/runners/builtin/agent-protocol.js';
import { dist, ROOT } from '../helpers/dist.js';
import { cliDone } from '../helpers/marteau-cli.js';
import { localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';
import { haveServer, tempDir } from '../helpers/servers.js';
import { makeUserKey, processesWith, relayTo, sshNode, startSshd, type Sshd, type UserKey } from '../helpers/sshd.js';

afterAll(removeTemp);

async function waitUntil(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += (await stat(path.join(e.parentPath, e.name))).size;
  return n;
}

describe.skipIf(!haveServer('sshd'))('builtin runner on SSH nodes (real sshd, demo app)', () => {
  let dir: string;
  let user: UserKey;
  let a: Sshd;
  let b: Sshd;
  let knownHosts: string;
  let app: DemoApp;

  const nodeConfig = (s: Sshd, workDir: string, o: Partial<SshNodeConfig> = {}): SshNodeConfig =>
    sshNode(s, s === a ? 'a' : 'b', { identity: user.privateKey, knownHosts, workDir: path.join(workDir, s === a ? 'a' : 'b'), connectTimeoutMs: 10_000, ...o });
  const nodes = (list: NodeConfig[]) => ({ ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 60_000, nodes: list });
  const builtinYaml = (o: { nodes?: number; cycles: number[]; duration: number; extra?: string }) =>
    [
      'name: remote-bench',
      'runner: builtin',
      `nodes: ${o.nodes ?? 1}`,
      `base_url: http://127.0.0.1:${app.port}`,
      `cycles: [${o.cycles.join(', ')}]`,
      `duration: ${o.duration}`,
      'startup_delay: 0.01',
      'sleep_time_min: 0.005',
      'sleep_time_max: 0.01',
      'scenario:',
      '  - {get: /, expect: 200}',
      '  - {get: /items/3, expect: 200}',
      o.extra ?? '',
      '',
    ].join('\n');

  async function runJob(yaml: string, list: NodeConfig[], during?: (e: Engine, job: Job, events: EngineEvent[]) => Promise<void>) {
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: nodes(list), run: 'all' });
    const events: EngineEvent[] = [];
    e.events.on('*', (x) => {
      events.push(x);
      if (process.env.DEBUG_BUILTIN_SSH && x.type !== 'job.progress') console.error(x.at % 100_000, x.type, 'line' in x ? x.line : '', 'status' in x ? x.status : '', 'error' in x ? x.error : '');
    });
    await e.start();
    try {
      const job = await e.enqueue(await project(yaml));
      if (during) await during(e, job, events);
      const [done] = await e.waitFor([job.id]);
      const logs = events.flatMap((x) => (x.type === 'log.line' && x.jobId === job.id ? [`${x.node ?? '-'}: ${x.line}`] : []));
      return { done, logs, events, resultDir: e.resultDir(job.id) };
    } finally {
      await e.stop();
    }
  }

  beforeAll(async () => {
    dist(path.relative('dist', AGENT_ENTRY));
    dir = await tempDir('builtin-ssh');
    user = await makeUserKey(dir);
    [a, b] = await Promise.all([startSshd('127.0.0.2', user), startSshd('127.0.0.3', user)]);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${a.knownHostsLine}\n${b.knownHostsLine}\n`);
    app = await startDemoApp(0);
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('ships the agent bundle once, runs the bench there, and finds the bundle cached on the next job', async () => {
    const work = path.join(dir, 'one-node');
    const node = nodeConfig(a, work);
    const first = await runJob(builtinYaml({ cycles: [2], duration: 1 }), [node]);
    expect(first.done.status, first.logs.join('\n')).toBe('succeeded');
    expect(first.logs.some((l) => /^a: builtin agent: uploading bundle 0\.\d+\.\d+-[0-9a-f]{16} \(\d+ files, [\d.]+ MB, \d+ KB packed\) to /.test(l))).toBe(true);
    // The bench ran there: its FunkLoad console lines and a result fetched back.
    expect(first.logs).toContain('a: Cycle #0 with 2 virtual users');
    const { summary } = JSON.parse(await readFile(path.join(first.resultDir, 'result.json'), 'utf8')) as { summary: string };
    expect(summary).toMatch(/^succeeded in .* \(\d+ requests, 0\.00 % errors, [\d.]+ req\/s, p95 [\d.]+m?s, Apdex 1\.00\)$/);
    expect(Number(/\((\d+) requests/.exec(summary)![1])).toBeGreaterThan(0);
    for (const f of ['results.xml', 'index.html', 'summary.json', 'junit.xml', 'nodes/a/results.xml']) expect(existsSync(path.join(first.resultDir, f)), f).toBe(true);

    // What was shipped: the agent's closure, not the package's 100+ MB of node_modules.
    const bundles = await readdir(path.join(node.workDir, 'bundles'));
    expect(bundles).toHaveLength(1);
    const bundle = path.join(node.workDir, 'bundles', bundles[0]);
    expect(existsSync(path.join(bundle, '.complete'))).toBe(true);
    expect((await readdir(path.join(bundle, 'node_modules'))).sort()).toEqual(['undici']);
    expect(await dirBytes(bundle)).toBeLessThan(3 * 1024 * 1024);
    // The job's own directory is gone; the bundle stays for the next job.
    expect((await readdir(node.workDir)).sort()).toEqual(['bundles']);

    const second = await runJob(builtinYaml({ cycles: [1], duration: 0.5 }), [node]);
    expect(second.done.status, second.logs.join('\n')).toBe('succeeded');
    expect(second.logs).toContain(`a: builtin agent: bundle ${bundles[0]} already on the node`);
    expect(second.logs.some((l) => l.includes('uploading bundle'))).toBe(false);
  }, 420_000);

  it('splits each cycle\'s users over two nodes and merges their samples into one run', async () => {
    const work = path.join(dir, 'two-nodes');
    const r = await runJob(builtinYaml({ nodes: 2, cycles: [3, 5], duration: 3 }), [nodeConfig(a, work), nodeConfig(b, work)]);
    expect(r.done.status, r.logs.join('\n')).toBe('succeeded');
    const order = r.done.nodesTaken; // index 0 first
    expect([...order].sort()).toEqual(['a', 'b']);
    // Node i of 2 runs users t with t % 2 == i: 2+1 of 3, 3+2 of 5.
    const shares = [[2, 3], [1, 2]];
    const perNode = await Promise.all(order.map((n) => readFunkloadXml(path.join(r.resultDir, 'nodes', n, 'results.xml'))));
    const merged = (await readFunkloadXml(path.join(r.resultDir, 'results.xml'))).results.summary();
    expect(merged.cycles.map((c) => c.cvus)).toEqual([3, 5]);
    for (const [i, n] of order.entries()) {
      const s = perNode[i].results.summary();
      expect(s.cycles.map((c) => c.cvus), n).toEqual(shares[i]);
      expect(s.overall.requests.total, n).toBeGreaterThan(0);
      expect(r.logs).toContain(`${n}: builtin agent starting: users per cycle ${shares[i].join('/')} of 3/5`);
      expect(r.logs.some((l) => l.startsWith(`${n}: node result: ${s.overall.requests.total} requests,`))).toBe(true);
    }
    // Counts add up, cycle by cycle; the slowest response is one of the nodes'.
    for (const c of [0, 1]) {
      const parts = perNode.map((p) => p.results.summary().cycles[c]);
      expect(merged.cycles[c].requests.total).toBe(parts[0].requests.total + parts[1].requests.total);
      expect(merged.cycles[c].tests.total).toBe(parts[0].tests.total + parts[1].tests.total);
      expect(merged.cycles[c].requests.latency.max).toBe(Math.max(parts[0].requests.latency.max, parts[1].requests.latency.max));
    }
    // The nodes started together: their recording windows overlap, cycle by cycle (how close
    // they are depends on the nodes' load; the agents aim at one common instant).
    for (const c of [0, 1]) {
      const [x, y] = perNode.map((p) => p.results.cycles.get(c)!);
      expect(x.start!).toBeLessThan(y.end!);
      expect(y.start!).toBeLessThan(x.end!);
    }
    expect(merged.overall.requests.total).toBe(perNode.reduce((n, p) => n + p.results.summary().overall.requests.total, 0));
    // The reports name the nodes, each with its own share, from the merged file's samples.
    const nodeRows = order.map((n, i) => ({ node: n, requests: perNode[i].results.summary().overall.requests.total }));
    expect(merged.info.node).toBe(order.join(', '));
    expect(merged.nodes?.map((x) => ({ node: x.node, requests: x.requests }))).toEqual([...nodeRows].sort((x, y) => (x.node < y.node ? -1 : 1)));
    const json = JSON.parse(await readFile(path.join(r.resultDir, 'summary.json'), 'utf8')) as { start: number; nodes: { node: string; requests: number }[]; timeline: { at: number }[] };
    // The time axis starts when the load does, not when the job did (before the upload and the
    // agents' start): after the agents were told to start, close to the first cycle's start.
    const told = Math.max(...r.events.flatMap((x) => (x.type === 'log.line' && x.line.startsWith('builtin agent starting') ? [x.at] : [])));
    expect(json.start).toBeGreaterThanOrEqual(told);
    expect(Math.abs(merged.cycles[0].start! - json.start)).toBeLessThan(3000);
    expect(json.timeline[0].at).toBe(Math.floor(json.start / 1000) * 1000);
    expect(json.nodes.map((x) => [x.node, x.requests])).toEqual(merged.nodes!.map((x) => [x.node, x.requests]));
    const html = await readFile(path.join(r.resultDir, 'index.html'), 'utf8');
    expect(html).toContain('<h2 id="nodes">Nodes</h2>');
    for (const x of nodeRows) expect(html).toMatch(new RegExp(`<tr><td>${x.node}</td><td>${x.requests}</td>`));
    const junit = await readFile(path.join(r.resultDir, 'junit.xml'), 'utf8');
    expect(junit).toContain(`<property name="nodes" value="a, b"/>`);
    for (const x of nodeRows) expect(junit).toMatch(new RegExp(`<property name="node\\.${x.node}" value="${x.node}: ${x.requests} requests, `));
    // `report DIR` on the per-node files: the users were split, not run on each node, so they add
    // up to the configured ones (FunkLoad's distributed files would multiply them).
    const copies = path.join(dir, 'per-node-copies');
    await mkdir(copies, { recursive: true });
    for (const n of order) await copyFile(path.join(r.resultDir, 'nodes', n, 'results.xml'), path.join(copies, `${n}.xml`));
    const rep = await cliDone(['report', copies, '-o', path.join(copies, 'out')]);
    expect(rep.code, rep.out + rep.err).toBe(0);
    const fromNodes = JSON.parse(await readFile(path.join(copies, 'out', 'summary.json'), 'utf8')) as { cycles: { cvus: number; requests: { total: number } }[]; bench: { cycles: number[] } };
    expect(fromNodes.bench.cycles).toEqual([3, 5]);
    expect(fromNodes.cycles.map((c) => [c.cvus, c.requests.total])).toEqual(merged.cycles.map((c) => [c.cvus, c.requests.total]));
    // Progress is the sum of both nodes: more users than either node ever runs alone.
    const users = r.events.flatMap((x) => (x.type === 'job.progress' ? [x.progress.users ?? 0] : []));
    expect(Math.max(...users)).toBeGreaterThan(3);
  }, 420_000);

  it('every injected 503 on two nodes is attributed to its fault: sample times keep their precision and land on the engine\'s clock', async () => {
    const work = path.join(dir, 'faults');
    const yaml = builtinYaml({ nodes: 2, cycles: [4], duration: 4 })
      .replace(`base_url: http://127.0.0.1:${app.port}`, `base_url: http://\${MARTEAU_PROXY_APP}`)
      .replace(
        'name: remote-bench',
        ['name: remote-faults', `proxies:`, `  app: {listen: 127.0.0.1:0, upstream: "127.0.0.1:${app.port}", protocol: http}`, 'fixtures:', '  errors: {proxy: app, behaviors: "25:error", at: 1s, for: 2s, expect: 503}'].join('\n'),
      );
    const r = await runJob(yaml, [nodeConfig(a, work), nodeConfig(b, work)]);
    expect(r.done.status, r.logs.join('\n')).toBe('succeeded');
    const json = JSON.parse(await readFile(path.join(r.resultDir, 'summary.json'), 'utf8')) as JsonReport;
    const att = json.attribution!;
    const row = att.rows.find((x) => x.proxy === 'app' && x.behavior === 'error')!;
    expect(row.faults, JSON.stringify(att)).toBeGreaterThan(3);
    // Each 503 the proxy sent overlapped its fault: none is "unexplained" (the faults were timed
    // by the engine, the requests by the agents).
    expect(att.failed).toBeGreaterThan(3);
    expect(row.failed, JSON.stringify(att)).toBe(att.failed);
    expect(att.unexplained, JSON.stringify(att)).toBe(0);
    // Both nodes met the faults, and their clocks were measured against the engine's.
    const merged = (await readFunkloadXml(path.join(r.resultDir, 'results.xml'))).results;
    expect(merged.summary().nodes!.every((n) => n.success < n.requests), JSON.stringify(merged.summary().nodes)).toBe(true);
    for (const n of ['a', 'b']) expect(r.logs.some((l) => new RegExp(`^${n}: clock [+-]\\d+\\.\\d ms from the engine's \\(round trip \\d+\\.\\d ms\\)$`).test(l)), r.logs.join('\n')).toBe(true);
    // The common start is measured once the agents are loaded: a couple of round trips, not the upload's time.
    const start = r.logs.map((l) => /^-: agents ready on 2 node\(s\): the load starts in (\d+) ms \(slowest round trip ([\d.]+) ms\)$/.exec(l)).find(Boolean);
    expect(start, r.logs.join('\n')).toBeTruthy();
    expect(Number(start![1])).toBeLessThan(5000);
    const [delay, rtt] = [Number(start![1]), Number(start![2])];
    // Twice the slowest round trip (printed to 0.1 ms) plus 250 ms.
    expect(delay).toBeGreaterThanOrEqual(Math.min(5000, Math.ceil((rtt - 0.05) * 2) + 250));
    expect(delay).toBeLessThanOrEqual(Math.min(5000, Math.ceil((rtt + 0.05) * 2) + 250));
    // Sample times travel to the microsecond, not FunkLoad's 10 ms.
    const xml = await readFile(path.join(r.resultDir, 'nodes', 'a', 'results.xml'), 'utf8');
    expect(/<response [^>]* time="\d+\.\d{6}"/.test(xml)).toBe(true);
  }, 420_000);

  it('a node whose agent is killed mid-run: both nodes\' samples stay in the report, the node is marked lost, the job fails', async () => {
    const marker = `lost-${randomBytes(4).toString('hex')}`;
    const work = path.join(dir, marker);
    let killedAt = 0;
    const r = await runJob(builtinYaml({ nodes: 2, cycles: [4], duration: 60 }), [nodeConfig(a, work), nodeConfig(b, work)], async (_e, job, events) => {
      await waitUntil(() => events.some((x) => x.type === 'job.progress' && x.jobId === job.id && (x.progress.requests ?? 0) > 40), 180_000);
      const agents = processesWith(path.join(work, 'a', 'bundles'));
      expect(agents.length).toBeGreaterThan(0);
      killedAt = Date.now();
      for (const pid of agents) process.kill(pid, 'SIGKILL');
    });
    expect(r.done.status, r.logs.join('\n')).toBe('failed');
    expect(r.done.failure).toBe('infrastructure');
    expect(r.done.reason).toMatch(/^node "a": node lost at \d{4}-\d\d-\d\dT[\d:.]+Z: the builtin agent was killed by SIGKILL$/);
    const json = JSON.parse(await readFile(path.join(r.resultDir, 'summary.json'), 'utf8')) as JsonReport;
    const [na, nb] = ['a', 'b'].map((n) => json.nodes!.find((x) => x.node === n)!);
    // Both nodes' samples are there: a's until it was killed (its file flushed every second).
    expect(na.requests).toBeGreaterThan(0);
    expect(nb.requests).toBeGreaterThan(0);
    expect(na.lost!.reason).toBe('the builtin agent was killed by SIGKILL');
    expect(na.lost!.at).toBeGreaterThanOrEqual(killedAt);
    expect(nb.lost).toBeUndefined();
    expect(json.cycles.reduce((n, c) => n + c.requests.total, 0)).toBe(na.requests + nb.requests);
    const lostText = `node lost at ${new Date(na.lost!.at).toISOString()}`;
    expect(await readFile(path.join(r.resultDir, 'index.html'), 'utf8')).toContain(`Node a: ${lostText}`);
    expect(await readFile(path.join(r.resultDir, 'junit.xml'), 'utf8')).toContain(lostText);
    // The loss stopped both nodes: the run ended there, its rates over the time it recorded, not the 60 s configured.
    expect(json).toMatchObject({ aborted: true, abort: { why: 'infrastructure', reason: r.done.reason, at: na.lost!.at } });
    const [cy] = json.cycles;
    const recorded = (cy.end! - cy.start!) / 1000;
    expect(recorded).toBeLessThan(30);
    // (summary.json's window is to the millisecond: within 0.5 %, where 60 s would be a 20th.)
    expect((cy.requests.rps * recorded) / cy.requests.total).toBeCloseTo(1, 2);
    // A report rebuilt from the job's results says the same: the node lost (exit 3, as --ci gave the job), the same rates.
    const rebuiltDir = path.join(work, 'rebuilt');
    const rebuilt = await cliDone(['report', r.resultDir, '-o', rebuiltDir, '--state-dir', path.dirname(path.dirname(r.resultDir))]);
    expect(rebuilt.code, rebuilt.out + rebuilt.err).toBe(3);
    expect(rebuilt.out).toContain(`FAILED: the run was aborted (${r.done.reason})`);
    const back = JSON.parse(await readFile(path.join(rebuiltDir, 'summary.json'), 'utf8')) as JsonReport;
    expect(back.cycles[0].requests.rps).toBeCloseTo(cy.requests.rps, 0);
    // The other node was stopped: nothing of the job runs on either.
    await waitUntil(() => processesWith(marker).length === 0, 30_000);
  }, 420_000);

  it('a node whose SSH connection dies mid-run: its samples until then and the other node\'s are reported, the lost node is named, the job fails', async () => {
    const c = await startSshd('127.0.0.4', user);
    try {
      const marker = `crash-${randomBytes(4).toString('hex')}`;
      const work = path.join(dir, marker);
      const hosts = path.join(dir, `${marker}-known_hosts`);
      await writeFile(hosts, `${b.knownHostsLine}\n${c.knownHostsLine}\n`);
      const cNode = sshNode(c, 'c', { identity: user.privateKey, knownHosts: hosts, workDir: path.join(work, 'c'), connectTimeoutMs: 10_000 });
      let crashedAt = 0;
      const r = await runJob(builtinYaml({ nodes: 2, cycles: [4], duration: 60 }), [nodeConfig(b, work, { knownHosts: hosts }), cNode], async (e, job) => {
        // c has streamed samples: nothing of them is on c's disk for a final fetch to find.
        const copy = path.join(e.resultDir(job.id), 'nodes', 'c', 'results.xml');
        await waitUntil(() => existsSync(copy) && (readFileSync(copy, 'utf8').match(/<response /g)?.length ?? 0) > 20, 180_000);
        crashedAt = Date.now();
        // The node dies: its sshd and everything its sessions ran.
        c.crash();
        for (const pid of processesWith(path.join(work, 'c'))) process.kill(pid, 'SIGKILL');
      });
      expect(r.done.status, r.logs.join('\n')).toBe('failed');
      expect(r.done.failure).toBe('infrastructure');
      // The node is named once ('node "c": node lost at ...: node "c": SSH connection ...' before).
      expect(r.done.reason).toMatch(/^node "c": node lost at \S+Z: SSH connection .* lost/);
      const json = JSON.parse(await readFile(path.join(r.resultDir, 'summary.json'), 'utf8')) as JsonReport;
      const [nb, nc] = ['b', 'c'].map((n) => json.nodes!.find((x) => x.node === n)!);
      expect(nb.requests).toBeGreaterThan(0);
      expect(nb.lost).toBeUndefined();
      expect(nc.lost?.reason).toMatch(/SSH connection .* lost/);
      expect(nc.lost!.at).toBeGreaterThanOrEqual(crashedAt);
      // c's samples are in the report: every one the engine received, all from before the loss.
      let lastStart = 0;
      const copy = await readFunkloadXml(path.join(r.resultDir, 'nodes', 'c', 'results.xml'), { sink: { request: (x) => (lastStart = Math.max(lastStart, x.start)), test: () => {} } });
      expect(copy.truncated).toBe(true);
      expect(nc.requests).toBe(copy.results.summary().overall.requests.total);
      expect(nc.requests).toBeGreaterThan(20);
      expect(lastStart).toBeLessThanOrEqual(nc.lost!.at);
      expect(json.cycles.reduce((n, cy) => n + cy.requests.total, 0)).toBe(nb.requests + nc.requests);
      expect(r.logs.some((l) => /^c: node result until it was lost: \d+ requests/.test(l)), r.logs.join('\n')).toBe(true);
      const lostText = `Node c: node lost at ${new Date(nc.lost!.at).toISOString()}`;
      expect(await readFile(path.join(r.resultDir, 'index.html'), 'utf8')).toContain(lostText);
      expect(await readFile(path.join(r.resultDir, 'junit.xml'), 'utf8')).toContain(`node lost at ${new Date(nc.lost!.at).toISOString()}`);
      // b's agent was stopped by the engine; nothing of the job runs on either node.
      await waitUntil(() => processesWith(marker).length === 0, 60_000);
    } finally {
      await c.stop();
    }
  }, 420_000);

  it('a job on the local node and an SSH node runs an agent on each, users split the same way', async () => {
    const work = path.join(dir, 'local-and-ssh');
    const local = localNodes(1).nodes[0];
    const r = await runJob(builtinYaml({ nodes: 2, cycles: [4], duration: 1 }), [local, nodeConfig(b, work)]);
    expect(r.done.status, r.logs.join('\n')).toBe('succeeded');
    expect([...r.done.nodesTaken].sort()).toEqual(['b', 'local']);
    for (const n of ['local', 'b']) {
      const s = (await readFunkloadXml(path.join(r.resultDir, 'nodes', n, 'results.xml'))).results.summary();
      expect(s.cycles[0].cvus, n).toBe(2);
      expect(s.overall.requests.total, n).toBeGreaterThan(0);
    }
    expect((await readFunkloadXml(path.join(r.resultDir, 'results.xml'))).results.summary().cycles[0].cvus).toBe(4);
  }, 420_000);

  it('a node no cycle gives a user runs no agent, and the log says so', async () => {
    const work = path.join(dir, 'idle-node');
    // Long enough for the one user to finish requests on a loaded machine.
    const r = await runJob(builtinYaml({ nodes: 2, cycles: [1], duration: 2 }), [nodeConfig(a, work), nodeConfig(b, work)]);
    expect(r.done.status, r.logs.join('\n')).toBe('succeeded');
    const [busy, idle] = r.done.nodesTaken;
    expect(r.logs).toContain(`${idle}: no users in any cycle (1 over 2 nodes): no agent started here`);
    expect(r.logs.some((l) => l.startsWith(`${idle}: builtin agent`))).toBe(false);
    expect(r.logs).toContain(`-: agents ready on 1 node(s): the load starts in ${/the load starts in (\d+) ms/.exec(r.logs.join('\n'))?.[1]} ms (slowest round trip ${/slowest round trip ([\d.]+) ms/.exec(r.logs.join('\n'))?.[1]} ms)`);
    // Nothing was uploaded to the idle node; the busy one ran the load alone.
    expect(existsSync(path.join(work, idle, 'bundles'))).toBe(false);
    const s = (await readFunkloadXml(path.join(r.resultDir, 'results.xml'))).results.summary();
    expect(s.overall.requests.total).toBeGreaterThan(0);
    expect(s.nodes?.map((n) => n.node)).toEqual([busy]);
  }, 420_000);

  it('cancel mid-run stops the agent and leaves no process on the node', async () => {
    const marker = `cancel-${randomBytes(4).toString('hex')}`;
    const work = path.join(dir, marker);
    const r = await runJob(builtinYaml({ cycles: [2], duration: 120 }), [nodeConfig(b, work)], async (e, job, events) => {
      await waitUntil(() => events.some((x) => x.type === 'job.progress' && x.jobId === job.id && (x.progress.requests ?? 0) > 0), 180_000);
      expect(processesWith(marker).length).toBeGreaterThan(0);
      await e.cancel(job.id);
    });
    expect(r.done.status).toBe('cancelled');
    await waitUntil(() => processesWith(marker).length === 0, 30_000);
  }, 420_000);

  it('a silent network cut mid-run (no FIN, no RST): the agent on the node stops within the sentinel\'s 20 s, not at the end of its duration', async () => {
    const marker = `cut-${randomBytes(4).toString('hex')}`;
    const work = path.join(dir, marker);
    const relay = await relayTo(b);
    try {
      const r = await runJob(builtinYaml({ cycles: [2], duration: 120 }), [nodeConfig(b, work, { port: relay.port, knownHosts: relay.knownHosts })], async (e, job, events) => {
        await waitUntil(() => events.some((x) => x.type === 'job.progress' && x.jobId === job.id && (x.progress.requests ?? 0) > 0), 180_000);
        expect(processesWith(marker).length).toBeGreaterThan(0);
        relay.cut();
      });
      expect(r.done.status).toBe('failed');
      // sshd sees nothing: only the agent's missing heartbeats can stop it before its 120 s.
      await waitUntil(() => processesWith(marker).length === 0, 40_000);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
      relay.close();
    }
  }, 420_000);

  it('uses an installed marteau-tui of the same version instead of shipping', async () => {
    const work = path.join(dir, 'installed');
    const r = await runJob(builtinYaml({ cycles: [1], duration: 0.5 }), [nodeConfig(a, work, { marteauTui: ROOT })]);
    expect(r.done.status, r.logs.join('\n')).toBe('succeeded');
    expect(r.logs.some((l) => l.startsWith(`a: builtin agent: marteau-tui `) && l.endsWith(` installed in ${ROOT}`))).toBe(true);
    expect(existsSync(path.join(work, 'a', 'bundles'))).toBe(false);
  }, 420_000);

  it('a node without Node.js fails the job with the node\'s name and the fix', async () => {
    const work = path.join(dir, 'no-node');
    const r = await runJob(builtinYaml({ cycles: [1], duration: 0.5 }), [nodeConfig(b, work, { nodeBin: '/nonexistent/bin/node' })]);
    expect(r.done.status).toBe('failed');
    expect(r.done.failure).toBe('infrastructure');
    expect(r.done.reason).toBe(
      'node "b": the builtin runner needs Node.js on the node: "/nonexistent/bin/node" is not found there (exit 127) (install Node.js >= 20.18 there, or set node_bin: /path/to/node for node "b" in marteau.nodes.yml)',
    );
    // What was uploaded for the job is removed even so.
    expect(await readdir(path.join(work, 'b'))).toEqual([]);
  }, 420_000);
});
