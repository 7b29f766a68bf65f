/**
 * `host_key: accept-new` against a real sshd: the host key it records is said, as OpenSSH warns
 * "Permanently added ... to the list of known hosts", once: by the connection that records it
 * (the probe, in --ci and `nodes`), kept in the next job's console.log, and never again once
 * known_hosts holds it. It used to be recorded silently.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { loadRunners } from '../src/report/runners.js';
import { engineBackend } from '../src/ui/engine-backend.js';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

describe.skipIf(!haveServer('sshd'))('accept-new says the host key it records (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;

  beforeAll(async () => {
    dir = await tempDir('ssh-accept-new');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.11', user);
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** The words for this sshd's key recorded in `knownHosts`. */
  const added = (knownHosts: string) =>
    new RegExp(`host key of \\[127\\.0\\.0\\.11\\]:${s.port} \\(ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\\) was not known: added to ${knownHosts.replace(/[.]/g, '\\.')} \\(host_key: accept-new\\)`, 'g');

  async function nodesFile(name: string): Promise<{ file: string; knownHosts: string }> {
    const knownHosts = path.join(dir, `${name}_known_hosts`);
    const file = path.join(dir, `${name}.nodes.yml`);
    await writeFile(file, ['nodes:', `  box: {host: ${s.host}, port: ${s.port}, identity: ${user.privateKey}, known_hosts: ${knownHosts}, host_key: accept-new, work_dir: ${path.join(dir, `remote-${name}`)}}`, ''].join('\n'));
    return { file, knownHosts };
  }

  it('--ci: the run that records the key says so once, and its job keeps it in console.log; the next run says nothing', async () => {
    const { file, knownHosts } = await nodesFile('ci');
    const dirOf = await project(`${commandYaml(['true'])}\n`);
    const first = await cliDone(['--ci', dirOf, '--state-dir', await stateDir(), '--nodes', file]);
    expect(first.code, first.out + first.err).toBe(0);
    expect(first.out.match(added(knownHosts)), first.out).toHaveLength(1);
    expect(first.out).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d node "box": ${added(knownHosts).source}$`, 'm'));
    expect((await readFile(knownHosts, 'utf8')).trim()).toBe(s.knownHostsLine);
    const results = /results: (\S+)/.exec(first.out)![1];
    const log = await readFile(path.join(results, 'console.log'), 'utf8');
    expect(log).toMatch(new RegExp(` box engine ${added(knownHosts).source}, by the node's probe before this job\n`));

    const second = await cliDone(['--ci', dirOf, '--state-dir', await stateDir(), '--nodes', file]);
    expect(second.code, second.out + second.err).toBe(0);
    expect(second.out).not.toContain('was not known');
    expect(await readFile(path.join(/results: (\S+)/.exec(second.out)![1], 'console.log'), 'utf8')).not.toContain('was not known');
    expect((await readFile(knownHosts, 'utf8')).trim()).toBe(s.knownHostsLine);
  }, 60_000);

  it('`marteau-tui nodes`: its probe says it on stderr, once', async () => {
    const { file, knownHosts } = await nodesFile('probe');
    const first = await cliDone(['nodes', '--nodes', file, '--state-dir', await stateDir()]);
    expect(first.code, first.err).toBe(0);
    expect(first.err.match(added(knownHosts))).toHaveLength(1);
    expect(first.err).toMatch(new RegExp(`^marteau-tui: warning: node "box": ${added(knownHosts).source}$`, 'm'));
    const second = await cliDone(['nodes', '--nodes', file, '--state-dir', await stateDir()]);
    expect(second.code, second.err).toBe(0);
    expect(second.err).not.toContain('was not known');
    expect((await readFile(knownHosts, 'utf8')).trim()).toBe(s.knownHostsLine);
  }, 60_000);

  it("the control center's message log has it, once", async () => {
    const knownHosts = path.join(dir, 'tui_known_hosts');
    const cfg = sshNode(s, 'box', { identity: user.privateKey, knownHosts, hostKey: 'accept-new', workDir: path.join(dir, 'remote-tui') });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [cfg] }, run: 'none', probe: false });
    const tui = engineBackend(e, { cwd: dir });
    try {
      await e.probeNodes();
      await e.probeNodes();
      const said = tui.messages.getSnapshot().filter((m) => m.text.includes('was not known'));
      expect(said).toEqual([expect.objectContaining({ level: 'warn', text: expect.stringMatching(new RegExp(`^node "box": ${added(knownHosts).source}$`)) })]);
    } finally {
      tui.stop();
      await e.stop();
    }
  }, 60_000);

  it('the executor tells its notice once (a job whose connection is the first)', async () => {
    const knownHosts = path.join(dir, 'executor_known_hosts');
    const cfg = sshNode(s, 'box', { identity: user.privateKey, knownHosts, hostKey: 'accept-new', workDir: path.join(dir, 'remote-x') });
    const told: string[] = [];
    for (let i = 0; i < 2; i++) {
      const x = new SshExecutor(cfg, process.env, (d) => told.push(d));
      expect((await x.run(['true'])).exitCode).toBe(0);
      await x.close();
    }
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(added(knownHosts));
  });
});
