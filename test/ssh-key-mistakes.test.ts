/**
 * A node's key that cannot be used, found only once jobs run (a real sshd, the built CLI): the
 * key deleted after the nodes file was loaded, a passphrase_env not exported or not the key's,
 * no key at all (no identity:, no agent, no default key).
 * These are the user's to fix, in the nodes file or the environment, not the machine's: a config
 * error (exit 2) naming the nodes file and the node, and at once: waiting does not bring such
 * a node up. They used to end as failures of the machines (exit 3), after --node-wait.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

const PASSPHRASE = 'open sesame';

describe.skipIf(!haveServer('sshd'))('a node key that cannot be used, found at run (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  let knownHosts: string;

  beforeAll(async () => {
    dir = await tempDir('ssh-key-mistakes');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.13', user);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** A nodes file of one node `box` on the sshd; `identity:`, when given, is line 5, column 15. */
  async function nodesFile(name: string, identity: string | undefined, more: string[] = []): Promise<string> {
    const file = path.join(dir, `${name}.nodes.yml`);
    const lines = ['nodes:', '  box:', `    host: ${s.host}`, `    port: ${s.port}`, ...(identity ? [`    identity: ${identity}`] : []), `    known_hosts: ${knownHosts}`, `    work_dir: ${path.join(dir, `remote-${name}`)}`, ...more];
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('a key deleted while a worker runs: the next job on the node fails as a config error at identity:, exit 2', async () => {
    const key = path.join(dir, 'worker_key');
    await copyFile(user.privateKey, key);
    // No probe between the jobs: the second job's own connection is the first to meet the loss.
    const nodes = await nodesFile('worker', key, ['probe:', '  interval: 1h']);
    const state = await stateDir();
    for (const argv of [['rm', key], ['true']]) {
      const r = await cliDone(['enqueue', await project(`${commandYaml(argv)}\n`), '--nodes', nodes, '--state-dir', state]);
      expect(r.code, r.err).toBe(0);
    }
    const r = await cliDone(['worker', '--drain', '--nodes', nodes, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toMatch(/ succeeded in /);
    expect(r.out).toContain(`failed: ${nodes}:5:15: nodes.box.identity: cannot read the identity file ${key}: no such file`);
    expect(r.out + r.err).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('a key deleted while --ci runs: the job waiting for the node fails at once when a probe finds the key gone, exit 2, not after --node-wait', async () => {
    const key = path.join(dir, 'ci_key');
    await copyFile(user.privateKey, key);
    // The first job deletes the key (the node is this machine) and holds the node until the
    // test lets it go, once the second job has ended: a probe (every second) finds the key gone
    // meanwhile, however loaded the machine. A fixed hold (6 s) could end before one did.
    const release = path.join(dir, 'ci_release');
    const nodes = await nodesFile('ci', key, ['probe:', '  interval: 1s']);
    const dirOf = await temp('two-jobs');
    await writeFile(path.join(dirOf, 'a.marteau.yml'), `name: deletes\n${commandYaml(['sh', '-c', `rm ${key} && until [ -e ${release} ]; do sleep 0.1; done`])}\n`);
    await writeFile(path.join(dirOf, 'b.marteau.yml'), `name: waits\n${commandYaml(['true'])}\n`);
    const run = cli(['--ci', dirOf, '--nodes', nodes, '--state-dir', await stateDir(), '--node-wait', '60']);
    try {
      // Its end while the first job still holds the node: at once, not after the 60 s of
      // --node-wait (which would end it 'waited 60s for ...'; the deadline here is past those).
      const [end] = await run.waitFor(/ failed: .* (no use waiting|waited \d+s) for 1 free node.*/, 120_000);
      expect(end).toContain(`failed: ${nodes}: no use waiting for 1 free node: box down (node "box": cannot read the identity file ${key}: no such file; identity: names the node's private key`);
    } finally {
      await writeFile(release, '');
    }
    const code = await run.exited;
    expect(code, run.out() + run.err()).toBe(2);
    expect(run.out()).toMatch(/ succeeded in /);
    expect(run.out() + run.err()).not.toMatch(/\n\s+at /);
  }, 180_000);

  it('a passphrase_env not exported, or not the key\'s: the job for the node fails at once as a config error, exit 2, not after --node-wait; `nodes` exits 2', async () => {
    const key = path.join(dir, 'locked_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-f', key]);
    await writeFile(path.join(s.dir, 'authorized_keys'), `${await readFile(user.publicKey, 'utf8')}${await readFile(`${key}.pub`, 'utf8')}`);
    const variable = `MARTEAU_TEST_KEY_PASS_${process.pid}`;
    const nodes = await nodesFile('locked', key, [`    passphrase_env: ${variable}`]);
    const dirOf = await project(`${commandYaml(['true'])}\n`);
    // The right passphrase: the node is up and the job runs (what fails below is only the passphrase).
    const ok = await cliDone(['--ci', dirOf, '--nodes', nodes, '--state-dir', await stateDir(), '--node-wait', '5'], { [variable]: PASSPHRASE });
    expect(ok.code, ok.out + ok.err).toBe(0);
    const cases: [NodeJS.ProcessEnv, string][] = [
      [{}, `$${variable} (passphrase_env) is not set; export ${variable} with the passphrase of the node's key in the environment marteau-tui starts from`],
      [{ [variable]: 'not it' }, `$${variable} does not unlock the identity file ${key}: wrong passphrase; export ${variable} with the key's passphrase`],
    ];
    for (const [env, words] of cases) {
      // Waiting cannot bring the node up: the job fails well before --node-wait.
      const started = Date.now();
      const r = await cliDone(['--ci', dirOf, '--nodes', nodes, '--state-dir', await stateDir(), '--node-wait', '60'], env);
      expect(Date.now() - started, r.out).toBeLessThan(20_000);
      expect(r.code, r.out + r.err).toBe(2);
      expect(r.out).toContain(`failed: ${nodes}: no use waiting for 1 free node: box down (node "box": ${words})`);
      expect(r.out).toMatch(/\nmarteau-tui --ci: 1 job: 1 failed exit 2\n$/);
      expect(r.out + r.err).not.toMatch(/\n\s+at /);
      const listed = await cliDone(['nodes', '--nodes', nodes, '--state-dir', await stateDir()], env);
      expect(listed.code, listed.out + listed.err).toBe(2);
      expect(listed.out).toContain(`node "box": ${words.split('; ')[0]}`);
    }
  }, 180_000);

  it('no key at all (no identity:, no agent, no ~/.ssh/id_*): a config error naming the node, what was looked for and the fix, exit 2 at once', async () => {
    const home = await tempDir('ssh-key-mistakes-home');
    const nodes = await nodesFile('keyless', undefined);
    const env = { HOME: home, SSH_AUTH_SOCK: undefined };
    const words = `no SSH key to log in with: no identity: for it in the nodes file, no SSH agent ($SSH_AUTH_SOCK is not set), no ${path.join(home, '.ssh')}/id_ed25519, id_ecdsa or id_rsa; add identity: with the node's private key (e.g. identity: ~/.ssh/id_ed25519, and passphrase_env: for an encrypted key) to node "box" in the nodes file, or start ssh-agent, ssh-add the key and run marteau-tui with its SSH_AUTH_SOCK`;
    const started = Date.now();
    const r = await cliDone(['--ci', await project(`${commandYaml(['true'])}\n`), '--nodes', nodes, '--state-dir', await stateDir(), '--node-wait', '60'], env);
    expect(Date.now() - started, r.out).toBeLessThan(20_000);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toContain(`failed: ${nodes}: no use waiting for 1 free node: box down (node "box": ${words})`);
    expect(r.out + r.err).not.toMatch(/\n\s+at /);
    const listed = await cliDone(['nodes', '--nodes', nodes, '--state-dir', await stateDir()], env);
    expect(listed.code, listed.out + listed.err).toBe(2);
    expect(listed.out).toContain(`node "box": ${words.split('; ')[0]}`);
  }, 120_000);
});
