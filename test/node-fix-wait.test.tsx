/**
 * A worker and the control center, which have no --node-wait, with a job whose only node is down
 * for what no wait mends (a key mistake, a host key not in known_hosts or changed): the job stays
 * queued, its Queue row and the worker's output say why and what to fix, the other jobs run,
 * and the job starts once a probe finds the node fixed. `worker --drain` ends with the others and
 * says what is left, exit 2 for the user's fix (3 for a machine's). Real sshd, the built CLI, and
 * the Ink TUI on a real engine.
 */
import { execFileSync } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { render } from 'ink-testing-library';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadNodesConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { App } from '../src/ui/App.js';
import { engineBackend } from '../src/ui/engine-backend.js';
import { cli, cliDone, type CliRun } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

/** Workers started here: one still running at a test's end (a drain that never ends) is stopped. */
const runs: CliRun[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await r.exited;
  }
});

/** The built CLI run to its end, stopped by afterEach should it never end. */
async function done(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const r = cli(args, env);
  runs.push(r);
  const code = await r.exited;
  return { code, out: r.out(), err: r.err() };
}

const strip = (s = '') => s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');

describe.skipIf(!haveServer('sshd'))('a job whose node only a fix brings up, on a worker or the control center (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  let address: string;

  beforeAll(async () => {
    dir = await tempDir('node-fix-wait');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.15', user);
    address = `[${s.host}]:${s.port}`;
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** Nodes `local` (this machine) and `box` (the sshd, tag remote), probed every second. */
  async function nodesFile(name: string, box: string[]): Promise<string> {
    const file = path.join(dir, `${name}.nodes.yml`);
    const lines = ['nodes:', '  local: {type: local}', '  box:', `    host: ${s.host}`, `    port: ${s.port}`, '    tags: [remote]', `    work_dir: ${path.join(dir, `remote-${name}`)}`, ...box.map((l) => `    ${l}`), 'probe:', '  interval: 1s'];
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  const remoteJob = (name: string) => project(`name: ${name}\nnode_tags: [remote]\n${commandYaml(['true'])}\n`);

  async function enqueue(state: string, nodes: string, ...dirs: string[]): Promise<string[]> {
    const r = await cliDone(['enqueue', ...dirs, '--nodes', nodes, '--state-dir', state, '--json']);
    expect(r.code, r.err).toBe(0);
    return (JSON.parse(r.out) as { id: string }[]).map((j) => j.id.slice(0, 8));
  }

  it('worker --drain: a passphrase_env not exported leaves the job queued, says what to fix, runs the others, exit 2; run again with the fix, the job runs', async () => {
    const key = path.join(dir, 'locked_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open sesame', '-f', key]);
    await writeFile(path.join(s.dir, 'authorized_keys'), `${await readFile(user.publicKey, 'utf8')}${await readFile(`${key}.pub`, 'utf8')}`);
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
    const variable = `MARTEAU_TEST_FIX_PASS_${process.pid}`;
    const nodes = await nodesFile('locked', [`identity: ${key}`, `passphrase_env: ${variable}`, `known_hosts: ${knownHosts}`]);
    const state = await stateDir();
    const [remote, local] = await enqueue(state, nodes, await remoteJob('remote'), await project(`name: here\n${commandYaml(['true'])}\n`));
    const words = `box is down (node "box": $${variable} (passphrase_env) is not set; export ${variable} with the passphrase of the node's key in the environment marteau-tui starts from)`;
    // Before: the drain waited for ever on the remote job.
    const r = await done(['worker', '--drain', '--nodes', nodes, '--state-dir', state], { [variable]: undefined });
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toContain(`leaves job ${remote} queued: needs 1 node and ${words}: no wait brings it up, a fix does; the job starts once a probe finds box up`);
    expect(r.out).toMatch(new RegExp(`job ${local} succeeded in `));
    expect(r.out).toContain(`marteau-tui worker: 1 job left queued (${remote}): needs 1 node and ${words}; no wait mends that: fix it, then run \`marteau-tui worker --drain\` again\n`);
    expect(r.out).toMatch(/\nmarteau-tui worker: 1 job: 1 succeeded \(.*\) exit 2\n$/);
    expect(r.out + r.err).not.toMatch(/\n\s+at /);
    const queued = JSON.parse((await cliDone(['queue', '--json', '--state-dir', state, '--nodes', nodes])).out) as { id: string; status: string }[];
    expect(queued.map((j) => [j.id.slice(0, 8), j.status])).toEqual([[remote, 'queued'], [local, 'succeeded']]);
    // The fix, in the environment the worker starts from: the job still queued runs.
    const again = await done(['worker', '--drain', '--nodes', nodes, '--state-dir', state], { [variable]: 'open sesame' });
    expect(again.code, again.out + again.err).toBe(0);
    expect(again.out).toMatch(new RegExp(`job ${remote} succeeded in `));
  }, 120_000);

  it('worker --drain: a changed host key leaves the job queued, exit 3 (the machine\'s, not the nodes file\'s)', async () => {
    const knownHosts = path.join(dir, 'changed_known_hosts');
    const other = path.join(dir, 'other_host_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const [type, hostKey] = (await readFile(`${other}.pub`, 'utf8')).split(' ');
    await writeFile(knownHosts, `${address} ${type} ${hostKey}\n`);
    const nodes = await nodesFile('changed', [`identity: ${user.privateKey}`, `known_hosts: ${knownHosts}`]);
    const state = await stateDir();
    const [remote] = await enqueue(state, nodes, await remoteJob('remote'));
    const r = await done(['worker', '--drain', '--nodes', nodes, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain(`marteau-tui worker: 1 job left queued (${remote}): needs 1 node and box is down (node "box": HOST KEY CHANGED for ${address}`);
    expect(r.out).toMatch(/\nmarteau-tui worker: 0 jobs: none exit 3\n$/);
  }, 60_000);

  it('a worker left running: the job waits saying what to fix, and starts once the host key is added to known_hosts', async () => {
    const knownHosts = path.join(dir, 'empty_known_hosts');
    await writeFile(knownHosts, '');
    const nodes = await nodesFile('unknown', [`identity: ${user.privateKey}`, `known_hosts: ${knownHosts}`]);
    const state = await stateDir();
    const [remote] = await enqueue(state, nodes, await remoteJob('remote'));
    const w = cli(['worker', '--nodes', nodes, '--state-dir', state]);
    runs.push(w);
    try {
      await w.waitFor(new RegExp(`leaves job ${remote} queued: needs 1 node and box is down \\(node "box": host key of \\[${s.host}\\]:${s.port} \\(ssh-ed25519 \\S+\\) is not in ${knownHosts}; refusing to connect \\(host_key: strict\\); .*ssh-keyscan -p ${s.port} ${s.host} >> ${knownHosts}.*\\): no wait brings it up, a fix does`), 30_000);
      expect(w.out()).not.toContain(`job ${remote} started`);
      await appendFile(knownHosts, `${s.knownHostsLine}\n`);
      await w.waitFor(new RegExp(`job ${remote} succeeded in `), 30_000);
    } finally {
      w.child.kill('SIGTERM');
      await w.exited;
    }
  }, 90_000);

  it('the control center: the Queue row says what to fix, and the job starts once the host key is added', async () => {
    const knownHosts = path.join(dir, 'tui_known_hosts');
    await writeFile(knownHosts, '');
    const nodes = await loadNodesConfig(await nodesFile('tui', [`identity: ${user.privateKey}`, `known_hosts: ${knownHosts}`]));
    // As runControlCenter makes it: no --node-wait, running the jobs.
    const engine = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes, run: 'all' });
    await engine.start();
    const backend = engineBackend(engine, { cwd: process.cwd() });
    const ui = render(<App backend={backend} title="test" onQuit={() => {}} />);
    try {
      const job = await engine.enqueue(await remoteJob('fixme'));
      const waiting = () => engine.getSnapshot().jobs.find((j) => j.id === job.id)?.waiting ?? '';
      const until = async (test: () => boolean, what: string) => {
        const end = Date.now() + 30_000;
        while (!test()) {
          if (Date.now() > end) throw new Error(`${what} never came; waiting: ${waiting()}; frame:\n${strip(ui.lastFrame())}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(() => waiting().startsWith('needs 1 node and box is down (node "box": host key of'), 'the reason');
      expect(waiting()).toContain(`ssh-keyscan -p ${s.port} ${s.host} >> ${knownHosts}`);
      expect(waiting()).toContain('no wait brings it up, a fix does; the job starts once a probe finds box up');
      // The row (the width ink-testing-library gives: 100 columns) starts with what is wrong, cut at a word end.
      await until(() => /fixme\s+queued\s+needs 1 node and box …/.test(strip(ui.lastFrame())), 'the Queue row');
      // The rest in the job's Output pane, and in the messages line (a warning).
      await until(() => strip(ui.lastFrame()).includes('needs 1 node and box is down (node "box": host key of'), 'the job\'s output');
      expect(strip(ui.lastFrame())).toMatch(/leaves job \w+ queued: needs 1 node and box is down/);
      expect(engine.getSnapshot().jobs.find((j) => j.id === job.id)?.status).toBe('queued');
      await appendFile(knownHosts, `${s.knownHostsLine}\n`);
      expect((await engine.waitFor([job.id]))[0].status).toBe('succeeded');
    } finally {
      ui.unmount();
      backend.stop();
      await engine.stop();
    }
  }, 90_000);
});
