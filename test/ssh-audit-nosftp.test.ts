/**
 * A node whose sshd has no SFTP subsystem (a real OpenSSH server started without one): it runs
 * commands, so it is up, said "up, no SFTP" with the sshd_config line that fixes it, and takes
 * the jobs that copy no files (a command job with upload: false); a job that copies files never
 * lands there (nor is handed it on a shared queue) and waits saying why. It used to be down, and
 * took no job at all.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshNodeConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { loadRunners } from '../src/report/runners.js';
import { engineBackend } from '../src/ui/engine-backend.js';
import { cli } from './helpers/marteau-cli.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis, tempDir } from './helpers/servers.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

const NO_SFTP = 'SFTP is not available: Unable to start subsystem: sftp';
const FIX = "add the line Subsystem sftp internal-sftp to the node's sshd_config and reload sshd";
const ONLY = 'until then it takes only jobs that copy no files (runner: command with upload: false, no artifacts: nor xml:)';

describe.skipIf(!haveServer('sshd'))('a node whose sshd has no SFTP subsystem (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  let knownHosts: string;

  const cfg = (o: Partial<SshNodeConfig> = {}): SshNodeConfig => sshNode(s, 'box', { identity: user.privateKey, knownHosts, workDir: path.join(dir, 'remote'), connectTimeoutMs: 10_000, ...o });

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-nosftp');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.7', user, { sftpServer: null });
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('the probe finds it up and says what it lacks and the fix', async () => {
    const x = new SshExecutor(cfg());
    try {
      const r = await x.probe(10_000);
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
      expect(r.noSftp).toEqual({ error: `node "box": ${NO_SFTP}`, hint: FIX });
    } finally {
      await x.close();
    }
  });

  it('a command job that copies nothing runs there; one that copies the project waits for a node with SFTP, saying so', async () => {
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [cfg()] }, run: 'all', nodeWaitMs: 4000 });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(x.line));
    await e.start();
    try {
      const marker = path.join(dir, 'ran');
      const bare = await e.enqueue(await project(['name: bare', 'upload: false', commandYaml(['touch', marker]), ''].join('\n')));
      const copying = await e.enqueue(await project(['name: copying', commandYaml(['true']), ''].join('\n'), { 'data.txt': 'x' }));
      const [a, b] = await e.waitFor([bare.id, copying.id]);
      expect(a.status, `${a.reason}\n${logs.join('\n')}`).toBe('succeeded');
      expect(a.nodesTaken).toEqual(['box']);
      expect(existsSync(marker)).toBe(true);
      expect(b).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(b.nodesTaken).toEqual([]);
      expect(b.reason).toBe(`waited 4s for 1 free node: box up without SFTP, which this job needs (node "box": ${NO_SFTP}; ${FIX}; ${ONLY})`);
      expect(e.getSnapshot().nodes.find((n) => n.name === 'box')).toMatchObject({ health: 'up', sftp: false });
      // The control center's Nodes pane: its own state, counted up, the error beside it.
      const tui = engineBackend(e, { cwd: dir });
      expect(tui.getSnapshot().nodes).toEqual([{ name: 'box', state: 'no sftp', latencyMs: expect.any(Number), job: `node "box": ${NO_SFTP}` }]);
      tui.stop();
    } finally {
      await e.stop();
    }
  }, 60_000);

  it.skipIf(!haveServer('redis-server'))('on a shared queue, the node a job without files frees is not handed to a queued job that copies files', async () => {
    const redis = await startRedis();
    const queue = { url: parseQueueUrl(`redis://127.0.0.1:${redis.port}/0`), lostJobs: 'interrupt' as const };
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [cfg()], queue }, run: 'all', nodeWaitMs: 6000 });
    try {
      await e.start();
      await e.probeNodes();
      // The job without files holds the node while the other is queued: its end hands the node on.
      const bare = await e.enqueue(await project(['name: bare', 'upload: false', commandYaml(['sleep', '1']), ''].join('\n')));
      const copying = await e.enqueue(await project(['name: copying', commandYaml(['true']), ''].join('\n')));
      const [a, b] = await e.waitFor([bare.id, copying.id]);
      expect(a.status, a.reason).toBe('succeeded');
      expect(b).toMatchObject({ status: 'failed', failure: 'infrastructure', nodesTaken: [] });
      expect(b.reason).toMatch(/^waited 6s for 1 free node: box up without SFTP, which this job needs/);
    } finally {
      await e.stop();
      await redis.stop();
    }
  }, 60_000);

  it('`marteau-tui nodes` shows it "up, no SFTP" with why and the fix, exit 0', async () => {
    const nodesFile = path.join(dir, 'marteau.nodes.yml');
    await writeFile(nodesFile, ['nodes:', `  box: {host: ${s.host}, port: ${s.port}, identity: ${user.privateKey}, known_hosts: ${knownHosts}, work_dir: ${path.join(dir, 'remote')}}`, ''].join('\n'));
    const run = cli(['nodes', '--nodes', nodesFile, '--state-dir', await stateDir()]);
    expect(await run.exited, run.err()).toBe(0);
    expect(run.out()).toMatch(/^box\s+ssh\s+\S+\s+yes\s+up, no SFTP\s+\d/m);
    expect(run.out()).toContain(`  box: node "box": ${NO_SFTP}\n    hint: ${FIX}; ${ONLY}`);
  });
});
