/**
 * The CLI as users and CI systems run it (separate processes, the built code): `--ci` exit
 * codes 0/1/2/3/130 on the demo project and broken ones; `enqueue`/`queue`/`cancel` from
 * another terminal while `--ci` runs; kill -9 mid-run then restart; concurrent enqueues.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLoadApp } from '../fixtures/load/app.js';
import { groupAlive } from '../src/core/owner.js';
import { JournalQueue } from '../src/core/queue.js';
import { dist, ROOT } from './helpers/dist.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { freePort } from './helpers/net.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';

afterAll(removeTemp);

const SERVE = dist('fixtures/demo/serve.js');

/** The demo config, copied elsewhere: with an absolute path to the built demo app. */
async function demoProject(file: '.marteau.yml' | 'strict.marteau.yml'): Promise<string> {
  const text = (await readFile(path.join(ROOT, 'fixtures/demo', file), 'utf8')).replaceAll('../../dist/fixtures/demo/serve.js', SERVE);
  return project(text);
}

async function waitUntil(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const queueJson = async (state: string) => {
  const r = await cliDone(['queue', '--all', '--json', '--state-dir', state]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { id: string; name: string; status: string; reason?: string; procs: { pgid: number }[] }[];
};

describe('marteau-tui --ci', () => {
  it('the demo project passes: its app started as a service, the builtin runner through the proxy, three reports', async () => {
    const dir = await demoProject('.marteau.yml');
    const state = await stateDir();
    const r = await cliDone(['--ci', dir, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/job [0-9a-f]{8} "demo-shop" queued \(runner builtin, 1 node\)/);
    const port = /service:shop_app: ready on 127\.0\.0\.1:(\d+)/.exec(r.out)?.[1];
    expect(port, r.out).toBeDefined();
    expect(r.out).toMatch(new RegExp(`proxy shop http 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port} `));
    expect(r.out).toMatch(/Cycle #1 with 4 virtual users/);
    expect(r.out).toMatch(/fixture shop_errors: applied shop mix 20:error/);
    expect(r.out).toMatch(/fixture shop_errors: restored shop mix/);
    expect(r.out).toMatch(/PASS success_rate >= 90%/);
    const done = /succeeded in .*\((\d+) requests, ([\d.]+) % errors.*results: (\S+)  report: (\S+)/.exec(r.out);
    expect(done, r.out).not.toBeNull();
    // The injected errors reached the load test, and only during the fixture's second.
    expect(Number(done![2])).toBeGreaterThan(0);
    expect(Number(done![2])).toBeLessThan(10);
    const results = done![3];
    expect(done![4]).toBe(path.join(results, 'index.html'));
    const summary = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as { passed: boolean };
    expect(summary.passed).toBe(true);
    expect(await readFile(path.join(results, 'junit.xml'), 'utf8')).toMatch(/<testcase [^>]*name="success_rate &gt;= 90%"/);
    expect(await readFile(path.join(results, 'index.html'), 'utf8')).toMatch(/demo-shop/);
    // The service was stopped with the job.
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    // The report can be rebuilt later from the job id's first characters.
    const out = await temp('report');
    const id = /job ([0-9a-f]{8}) "demo-shop" queued/.exec(r.out)![1];
    const rep = await cliDone(['report', id, '-o', out, '--state-dir', state]);
    expect(rep.code, rep.err).toBe(0);
    expect(rep.out).toMatch(new RegExp(`^demo-shop: 2 cycle\\(s\\), ${done![1]} requests`));
    expect(await readFile(path.join(out, 'index.html'), 'utf8')).toMatch(/demo-shop/);
    const missing = await cliDone(['report', 'abcdef12', '-o', out, '--state-dir', state]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/abcdef12: no such file, and no job with that id in /);
    expect(r.out).toMatch(/marteau-tui --ci: 1 job: 1 succeeded \(.*\) exit 0\n$/);
    // No ANSI when stdout is not a terminal; no bell either.
    expect(r.out).not.toMatch(/\x1b\[|\x07/);
  });

  it('the strict demo fails its own check: exit 1; `report <id>` judges it again by its config snapshot', async () => {
    const state = await stateDir();
    const r = await cliDone(['--ci', path.join(await demoProject('strict.marteau.yml'), '.marteau.yml'), '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toMatch(/FAIL success_rate >= 99\.9%/);
    expect(r.out).toMatch(/failed: 1 threshold\(s\) failed: success_rate >= 99\.9%/);
    // The three reports' paths, as a CI step needs them to upload.
    const done = /failed: .*results: (\S+)  report: (\S+)  json: (\S+)  junit: (\S+)\n/.exec(r.out);
    expect(done, r.out).not.toBeNull();
    expect(done!.slice(2)).toEqual(['index.html', 'summary.json', 'junit.xml'].map((f) => path.join(done![1], f)));
    expect(JSON.parse(await readFile(done![3], 'utf8')).passed).toBe(false);
    expect(await readFile(done![4], 'utf8')).toMatch(/<failure /);

    const id = /job ([0-9a-f]{8}) "demo-shop-strict" queued/.exec(r.out)![1];
    const out = await temp('report');
    const rep = await cliDone(['report', id, '-o', out, '--state-dir', state]);
    expect(rep.code, rep.out + rep.err).toBe(1);
    expect(rep.out).toMatch(/thresholds of the job's config snapshot \S+marteau\.yml\nFAIL success_rate >= 99\.9%/);
    expect(JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')).thresholds.map((t: { passed: boolean }) => t.passed)).toEqual([false]);
    // --thresholds names others: those judge instead.
    const loose = path.join(out, 'loose.yml');
    await writeFile(loose, 'success_rate: ">= 1%"\n');
    const rep2 = await cliDone(['report', id, '-o', out, '--state-dir', state, '--thresholds', loose]);
    expect(rep2.code, rep2.out + rep2.err).toBe(0);
    expect(rep2.out).toMatch(/PASS success_rate >= 1%/);
  });

  it('a builtin job whose every request failed, with no thresholds: exit 1, the count and the first error', async () => {
    const app = await startLoadApp();
    try {
      const dir = await project(`name: down\nrunner: builtin\nbase_url: ${app.url}\ncycles: [2]\nduration: 0.5\nstartup_delay: 0\nscenario:\n  - {get: /status/500}\n`);
      const state = await stateDir();
      const r = await cliDone(['--ci', dir, '--state-dir', state]);
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.out).toMatch(/failed: every one of the \d+ requests failed \(first: 500 Internal Server Error; set thresholds: to judge the run by numbers instead\)/);
      const json = /json: (\S+)/.exec(r.out)![1];
      expect(JSON.parse(await readFile(json, 'utf8'))).toMatchObject({ passed: false, reasons: [expect.stringMatching(/^every one of the \d+ requests failed/)] });
    } finally {
      await app.close();
    }
  });

  it('a config error: exit 2 with file:line:col and a hint, no stack trace, nothing queued', async () => {
    const dir = await project('name: broken\ncommand: [true]\nnodes: lots\n');
    const state = await stateDir();
    const r = await cliDone(['--ci', dir, '--state-dir', state]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: ${path.join(dir, '.marteau.yml')}:3:8: nodes: expected a number, got the string "lots"\n  hint: a whole number of nodes, e.g. nodes: 2\n`);
    expect(await queueJson(state)).toEqual([]);
  });

  it('a malformed YAML file: exit 2 with its position', async () => {
    const dir = await project('name: x\ncommand: "unterminated\n');
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^marteau-tui: ${path.join(dir, '.marteau.yml').replace(/[.]/g, '\\.')}:2:10: YAML syntax: the string opened with " here is never closed`));
  });

  it('an unreachable node: exit 3 with the reason', async () => {
    const tmp = await temp('nodes');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'id')]);
    const port = await freePort();
    await writeFile(path.join(tmp, 'nodes.yml'), `nodes:\n  gone:\n    host: 127.0.0.1\n    port: ${port}\n    user: nobody\n    identity: id\n    known_hosts: kh\n    connect_timeout: 2s\n`);
    const dir = await project(`${commandYaml(['true'])}\n`);
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir(), '--nodes', path.join(tmp, 'nodes.yml'), '--node-wait', '1']);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain(`node gone down: node "gone": cannot connect to nobody@[127.0.0.1]:${port}: connection refused`);
    // It never ran: no run time ('gone down in 10ms' read as if it had).
    expect(r.out).toMatch(/failed: waited 1s for 1 free node: gone down \(node "gone": [^)]*\) {2}results: /);
    expect(r.out).toMatch(/\nmarteau-tui --ci: 1 job: 1 failed exit 3\n$/);
  });

  it('an identity: file that is not there: a config error at its line, exit 2, before any job; a cached nodes file too', async () => {
    const tmp = await temp('nodes');
    const key = path.join(tmp, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const nodes = path.join(tmp, 'nodes.yml');
    await writeFile(nodes, `nodes:\n  box:\n    host: 127.0.0.1\n    port: ${await freePort()}\n    identity: id\n    known_hosts: kh\n    connect_timeout: 1s\n  spare: {host: 127.0.0.1, identity: gone, enabled: false}\n`);
    const state = await stateDir();
    const dir = await project(`${commandYaml(['true'])}\n`);
    // Read once with the key there: the nodes file's validation is cached in the state dir.
    expect((await cliDone(['nodes', '--no-probe', '--nodes', nodes, '--state-dir', state])).code).toBe(0);
    await rm(key);
    const said = `marteau-tui: ${nodes}:5:15: nodes.box.identity: cannot read the identity file ${key}: no such file\n  hint: identity: names the node's private key on this machine (relative to the nodes file, ~/ for your home), e.g. ~/.ssh/id_ed25519;`;
    for (const args of [['--ci', dir, '--node-wait', '1'], ['enqueue', dir], ['nodes']]) {
      const r = await cliDone([...args, '--nodes', nodes, '--state-dir', state]);
      expect(r.code, `${args[0]}: ${r.out}${r.err}`).toBe(2);
      expect(r.err.startsWith(said), r.err).toBe(true);
      // The node switched off in the file is not looked at; no stack trace.
      expect(r.err).not.toMatch(/spare|\n\s+at /);
      expect(r.out).not.toContain('job ');
    }
    expect(await queueJson(state)).toEqual([]);
  });

  it('an identity: that is no usable private key (its .pub, not a key, encrypted without passphrase_env): a config error at its line, exit 2, before any job', async () => {
    const tmp = await temp('nodes');
    const key = path.join(tmp, 'id');
    const locked = path.join(tmp, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', locked]);
    await writeFile(path.join(tmp, 'notes.txt'), 'not a key at all\n');
    const dir = await project(`${commandYaml(['true'])}\n`);
    const cases = [
      ['id.pub', `the identity file ${key}.pub is a public key\n  hint: identity: names the private key: ${key}\n`],
      ['notes.txt', `the identity file ${path.join(tmp, 'notes.txt')} holds no private key\n  hint: identity: names a private key file, e.g. ~/.ssh/id_ed25519\n`],
      ['locked', `the identity file ${locked} is encrypted and no passphrase is given\n  hint: set passphrase_env: VAR for node "box" in the nodes file and export VAR with the passphrase, or add the key to ssh-agent (ssh-add ${locked}) and remove identity:\n`],
    ];
    for (const [identity, words] of cases) {
      const nodes = path.join(tmp, `${identity}.nodes.yml`);
      await writeFile(nodes, `nodes:\n  box:\n    host: 127.0.0.1\n    port: ${await freePort()}\n    identity: ${identity}\n    known_hosts: kh\n`);
      const state = await stateDir();
      for (const args of [['--ci', dir, '--node-wait', '1'], ['nodes']]) {
        const r = await cliDone([...args, '--nodes', nodes, '--state-dir', state]);
        expect(r.code, `${identity} ${args[0]}: ${r.out}${r.err}`).toBe(2);
        expect(r.err).toBe(`marteau-tui: ${nodes}:5:15: nodes.box.identity: ${words}`);
      }
      expect(await queueJson(state)).toEqual([]);
    }
  });

  it("a proxy's listen: that is a mistake (not this machine's address, a name that does not resolve): a config error at that listen:, exit 2; a port in use stays exit 3", async () => {
    const upstream = await freePort();
    const yaml = (listen: string) => `name: listen\n${commandYaml(['true'])}\nproxies:\n  web:\n    listen: ${listen}\n    upstream: 127.0.0.1:${upstream}\n`;
    const mistakes = [
      ['192.0.2.1:8000', 'cannot listen on 192.0.2.1:8000: 192.0.2.1 is not an address of this machine; use 127.0.0.1 (this machine only), 0.0.0.0 (all its addresses) or one it has'],
      ['nosuch.invalid:8000', 'cannot listen on nosuch.invalid:8000: the host name nosuch.invalid does not resolve; use an address of this machine, e.g. 127.0.0.1'],
    ];
    for (const [listen, words] of mistakes) {
      const dir = await project(yaml(listen));
      const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
      expect(r.code, r.out + r.err).toBe(2);
      expect(r.out).toContain(`failed: ${path.join(dir, '.marteau.yml')}:5:13: proxies.web.listen: ${words} in `);
      expect(r.out).toMatch(/\nmarteau-tui --ci: 1 job: 1 failed \(.*\) exit 2\n$/);
    }
    // Another process holds the port: not a mistake of the file.
    const holder = await startLoadApp();
    try {
      const r = await cliDone(['--ci', await project(yaml(new URL(holder.url).host)), '--state-dir', await stateDir()]);
      expect(r.code, r.out + r.err).toBe(3);
      expect(r.out).toContain(`failed: proxy "web": ${new URL(holder.url).host} is already in use; pick another port or stop what listens there`);
    } finally {
      await holder.close();
    }
  });

  it('a builtin load longer than its timeout: refused at timeout:, exit 2, nothing queued; one that fits is queued', async () => {
    const load = (timeout: string) =>
      project(`name: long\nrunner: builtin\nbase_url: http://127.0.0.1:9\ncycles: [3, 6]\nduration: 20\nstartup_delay: 1\ncycle_time: 5\nscenario:\n  - {get: /}\n${timeout}`);
    const state = await stateDir();
    // 2 + 5 s of users starting, 2 × 20 s recorded, 5 s between: 52 s; the default timeout is 1 h.
    for (const [timeout, than] of [['timeout: 30s\n', 'longer than the timeout of 30.0s'], ['timeout: 52s\n', 'as long as the timeout of 52.0s']]) {
      const dir = await load(timeout);
      const file = path.join(dir, '.marteau.yml');
      const said = `${file}:10:10: timeout: the load lasts 52.0s (2 cycle(s) of duration 20s, cycle_time 5s, users started 1s apart), ${than}: the job would always end timed out\n  hint: raise it to at least the load and a margin for setup and reports, e.g. timeout: 2m, or shorten the load\n`;
      for (const args of [['--ci', dir], ['enqueue', dir]]) {
        const r = await cliDone([...args, '--state-dir', state]);
        expect(r.code, `${args[0]}: ${r.out}${r.err}`).toBe(2);
        expect(r.err.startsWith(`marteau-tui: ${said}`), r.err).toBe(true);
        expect(r.err).not.toMatch(/\n\s+at /);
      }
    }
    expect(await queueJson(state)).toEqual([]);
    for (const timeout of ['timeout: 2m\n', '']) expect((await cliDone(['enqueue', await load(timeout), '--state-dir', state])).code).toBe(0);
  });

  it.each([
    // 2 × 300 s recorded, 5 + 10 s of spawning at 2 a second, 10 s between: Locust's own start comes on top.
    ['locust', 'runner: locust\nbase_url: http://127.0.0.1:9\ncycles: [10, 20]\nduration: 300\nspawn_rate: 2\ncycle_time: 10\ntimeout: 10m\n', { 'locustfile.py': 'from locust import HttpUser\n' }, '8:10', 'at least 10m25s (2 cycle(s) of duration 300s, cycle_time 10s, users started 2 a second), longer than the timeout of 10m00s', '12m'],
    // The cycles and duration given here (FunkLoad's .conf has them otherwise): 2 × 120 s at least.
    ['funkload', 'script: loadtest.py\ntest: Simple.test_simple\ncycles: "5:10"\nduration: 120\ntimeout: 4m\n', { 'loadtest.py': '', 'Simple.conf': '' }, '6:10', 'at least 4m00s (2 cycle(s) of duration 120s), as long as the timeout of 4m00s', '5m'],
  ])('a %s load at least as long as its timeout: refused at timeout:, exit 2', async (_runner, body, files, at, lasts, suggested) => {
    const dir = await project(`name: long\n${body}`, files);
    const r = await cliDone(['enqueue', dir, '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err.startsWith(`marteau-tui: ${path.join(dir, '.marteau.yml')}:${at}: timeout: the load lasts ${lasts}: the job would always end timed out\n  hint: raise it to at least the load and a margin for setup and reports, e.g. timeout: ${suggested}, or shorten the load\n`), r.err).toBe(true);
  });

  it('SIGINT: the job is cancelled, its processes killed, exit 130', async () => {
    const dir = await project(`${commandYaml(['sh', '-c', 'echo started; sleep 30 & sleep 31; wait'])}\n`);
    const state = await stateDir();
    const run = cli(['--ci', dir, '--state-dir', state]);
    await run.waitFor(/local \| started/);
    const [job] = await queueJson(state);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.err()).toContain('SIGINT: cancelling the run');
    const [after] = await queueJson(state);
    expect(after).toMatchObject({ id: job.id, status: 'cancelled' });
    for (const p of after.procs) await waitUntil(() => !groupAlive(p.pgid), 4000);
  });

  it('without --ci and not on a terminal: says the control center needs one, points to --ci and demo, exit 2', async () => {
    const r = await cliDone([]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('the control center needs a terminal');
    expect(r.err).toContain('marteau-tui --ci [dir]');
    expect(r.err).toContain('marteau-tui demo --plain');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a state dir that cannot be made: exit 3 at once with the path and why, never a spin (Node\'s recursive mkdir loops for ever under /proc)', async () => {
    const file = path.join(await temp('state-file-'), 'a-file');
    await writeFile(file, '');
    for (const [dir, why] of [['/proc/no-such-dir/state', 'cannot create /proc/no-such-dir: ENOENT: no such file or directory'], [path.join(file, 'state'), 'ENOTDIR: not a directory']]) {
      for (const args of [['queue'], ['nodes', '--no-probe']]) {
        const r = await cliDone([...args, '--state-dir', dir]);
        expect(r.code).toBe(3);
        expect(r.err).toContain(why);
        expect(r.err).toContain('check --state-dir');
        expect(r.err).not.toMatch(/\n\s+at /);
      }
    }
  }, 30_000);

  it('demo without a terminal runs the demo job headless, as --ci does, and keeps its queue, results and reports in the state dir', async () => {
    const state = await stateDir();
    const r = await cliDone(['demo', '--duration', '6', '--state-dir', state]);
    // Its cycles last 5 s at least: said, not done silently.
    expect(r.err).toBe('marteau-tui demo: --duration 6 is raised to 15 s (three cycles of 5 s at least)\n');
    expect(r.code).toBe(0);
    expect(r.out).toContain('(not a terminal: the demo job headless');
    expect(r.out).toMatch(/proxy shop http 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ mix 5:delay/);
    const done = /job (\w+) succeeded in .* report: (\S+)  json: (\S+)  junit: (\S+)/.exec(r.out);
    expect(done).not.toBeNull();
    for (const file of done!.slice(2)) expect(existsSync(file)).toBe(true);
    const kept = /demo: its queue, results and reports are kept in (\S+)/.exec(r.out)![1];
    expect(kept.startsWith(path.join(state, 'demo'))).toBe(true);
    expect(done![2].startsWith(kept)).toBe(true);
    // The queue of the demo is a queue like any other: the job is there, succeeded.
    expect(await queueJson(kept)).toContainEqual(expect.objectContaining({ name: 'demo-shop', status: 'succeeded' }));
    const bad = await cliDone(['demo', '--plain', '--behaviors', '10:delai', '--state-dir', state]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--behaviors: unknown behavior "delai"');
  }, 90_000);

  it('stdout closed early (`| head -1`): the run goes on to its end, the job succeeds and keeps its results, exit 0', async () => {
    const dir = await project(`name: chatty\n${commandYaml(['sh', '-c', 'for i in $(seq 1 60); do echo line $i; sleep 0.02; done'])}\n`);
    const state = await stateDir();
    const run = cli(['--ci', dir, '--state-dir', state]);
    await run.waitFor(/queued/);
    // The reader goes away, as `head -1` does: every later write of the run meets EPIPE.
    run.child.stdout!.destroy();
    expect(await run.exited, run.err()).toBe(0);
    expect(run.err()).not.toMatch(/internal error|EPIPE|\n\s+at /);
    const [job] = await queueJson(state);
    expect(job).toMatchObject({ name: 'chatty', status: 'succeeded' });
    expect(await readFile(path.join(state, 'jobs', job.id, 'console.log'), 'utf8')).toContain('line 60');
  });

  it('--ci next to a command, or given twice, is a usage error: nothing is dropped silently', async () => {
    const state = await stateDir();
    const a = await project(`name: a\n${commandYaml(['true'])}\n`);
    const b = await project(`name: b\n${commandYaml(['true'])}\n`);
    const beside = await cliDone(['queue', '--ci', a, '--state-dir', state]);
    expect(beside.code).toBe(2);
    expect(beside.err).toBe(`marteau-tui: --ci ${a} runs a project headless and takes no command: run "marteau-tui --ci ${a}" alone, or "marteau-tui queue ..." without --ci\n`);
    const twice = await cliDone(['--ci', a, '--ci', b, '--state-dir', state]);
    expect(twice.code).toBe(2);
    expect(twice.err).toContain(`--ci is given 2 times (--ci ${a}, --ci ${b}): it runs one project`);
    expect(await queueJson(state)).toEqual([]);
  });

  it('--ci of something neither a config file nor a directory says so, and does not blame --state-dir', async () => {
    const r = await cliDone(['--ci', '/dev/null', '--state-dir', await stateDir()]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('marteau-tui: /dev/null: not a .marteau.yml file nor a directory\n  hint: give a project directory holding a .marteau.yml, or a config file\n');
  });

  it('SIGTERM: the job is recorded as cancelled by SIGTERM, not by a user', async () => {
    const dir = await project(`${commandYaml(['sh', '-c', 'echo started; sleep 30'])}\n`);
    const state = await stateDir();
    const run = cli(['--ci', dir, '--state-dir', state]);
    await run.waitFor(/local \| started/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(130);
    expect(run.err()).toContain('SIGTERM: cancelling the run');
    expect((await queueJson(state))[0]).toMatchObject({ status: 'cancelled', reason: 'by SIGTERM' });
  });

  it('a --state-dir that is a regular file is a usage error (exit 2) naming it', async () => {
    const file = path.join(await temp('state-file-'), 'a-file');
    await writeFile(file, '');
    const r = await cliDone(['queue', '--state-dir', file]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: --state-dir ${file} is a file, not a directory: give a directory (it is made when missing)\n`);
  });

  it('schema prints the JSON Schema of .marteau.yml', async () => {
    const r = await cliDone(['schema']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).properties.fixtures).toBeDefined();
  });

  it('schema nodes prints the JSON Schema of the nodes file; an unknown kind is a usage error', async () => {
    const r = await cliDone(['schema', 'nodes']);
    expect(r.code).toBe(0);
    expect(Object.keys(JSON.parse(r.out).properties)).toEqual(expect.arrayContaining(['nodes', 'queue']));
    expect(JSON.parse(r.out).properties.fixtures).toBeUndefined();
    const bad = await cliDone(['schema', 'node']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('\'node\' is invalid for argument \'file\'. Did you mean "nodes"? (choices: marteau, nodes)');
    const far = await cliDone(['schema', 'xyzzy']);
    expect(far.code).toBe(2);
    expect(far.err).toContain('Allowed choices are marteau, nodes.');
  });

  it('sweep --faults with a misspelt kind gets did you mean, before the project is read', async () => {
    const r = await cliDone(['sweep', os.tmpdir(), '--faults', 'down,slw']);
    expect(r).toMatchObject({ code: 2, err: 'marteau-tui: --faults: unknown kind "slw"; did you mean "slow"? (kinds: down, slow, errors, process)\n' });
    expect((await cliDone(['sweep', os.tmpdir(), '--faults', 'xyzzy'])).err).toBe('marteau-tui: --faults: unknown kind "xyzzy"; kinds: down, slow, errors, process\n');
  });
});

describe('the queue from other terminals', () => {
  it('enqueue, queue and cancel work while --ci runs on the same state dir', async () => {
    const state = await stateDir();
    const long = await project(`name: long\n${commandYaml(['sh', '-c', 'echo started; sleep 300'])}\n`);
    const other = await project(`name: other\n${commandYaml(['true'])}\n`);
    const run = cli(['--ci', long, '--state-dir', state]);
    await run.waitFor(/local \| started/);

    const enq = await cliDone(['enqueue', other, '--state-dir', state]);
    expect(enq.code, enq.err).toBe(0);
    expect(enq.out).toMatch(/^queued [0-9a-f]{8} "other" \([0-9a-f]{16}\)\n$/);
    const list = await cliDone(['queue', '--state-dir', state]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^ID\s+STATUS\s+NAME/);
    expect(list.out).toMatch(/running\s+long/);
    expect(list.out).toMatch(/queued\s+other/);

    const jobs = await queueJson(state);
    const longJob = jobs.find((j) => j.name === 'long')!;
    const cancel = await cliDone(['cancel', longJob.id.slice(0, 6), '--state-dir', state]);
    expect(cancel.code, cancel.err).toBe(0);
    expect(cancel.out).toBe(`asked the engine running ${longJob.id.slice(0, 8)} "long" to stop it\n`);
    expect(await run.exited).toBe(130);
    const after = await queueJson(state);
    expect(after.map((j) => [j.name, j.status])).toEqual([['long', 'cancelled'], ['other', 'queued']]);

    const bad = await cliDone(['cancel', 'ffffffff', '--state-dir', state]);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('marteau-tui: no job ffffffff in the queue (see `marteau-tui queue --all`)\n');

    // A job still queued is cancelled at once: no engine to ask.
    const spare = await cliDone(['enqueue', await project(`name: spare\n${commandYaml(['true'])}\n`), '--state-dir', state]);
    const spareId = /^queued ([0-9a-f]{8})/.exec(spare.out)![1];
    const cancelSpare = await cliDone(['cancel', spareId, '--state-dir', state]);
    expect(cancelSpare.out).toBe(`cancelled ${spareId} "spare"\n`);
    // It never ran: no results directory to point at.
    const spareRow = (await cliDone(['queue', '--all', '--state-dir', state])).out.split('\n').find((l) => l.startsWith(spareId))!;
    expect(spareRow).toMatch(/cancelled\s+spare\b.*\s-$/);

    // A worker drains what is left.
    const worker = await cliDone(['worker', '--drain', '--state-dir', state]);
    expect(worker.code, worker.out + worker.err).toBe(0);
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['cancelled', 'succeeded', 'cancelled']);
  });

  it('enqueue with a bad target queues none of them and names each bad one; a directory queues each *.marteau.yml, as --ci does', async () => {
    const state = await stateDir();
    const good = await project(`name: good\n${commandYaml(['true'])}\n`);
    const broken = await project('name: broken\ncommand: [true]\nnodes: lots\n');
    const missing = path.join(good, 'no-such-dir');
    const r = await cliDone(['enqueue', good, broken, missing, '--state-dir', state]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(`${path.join(broken, '.marteau.yml')}:3:8: nodes: expected a number`);
    expect(r.err).toContain(`marteau-tui: ${missing}: no such file or directory`);
    expect(r.err).toContain(`nothing queued: fix these or leave ${broken}, ${missing} out (the other targets are valid)`);
    expect(await queueJson(state)).toEqual([]);
    // Nothing left behind in the jobs directory either (the good target was checked and kept).
    expect(await readdir(path.join(state, 'jobs'))).toEqual([]);

    const multi = await temp('multi');
    await writeFile(path.join(multi, 'b.marteau.yml'), `name: b\n${commandYaml(['true'])}\n`);
    await writeFile(path.join(multi, 'a.marteau.yml'), `name: a\n${commandYaml(['true'])}\n`);
    const both = await cliDone(['enqueue', multi, '--state-dir', state]);
    expect(both.code, both.err).toBe(0);
    expect((await queueJson(state)).map((j) => j.name)).toEqual(['a', 'b']);
  });

  it('enqueue of a git URL whose #ref the repository has not is a mistake in the target: exit 2, fix it', async () => {
    const state = await stateDir();
    const repo = await project(`name: g\n${commandYaml(['true'])}\n`);
    for (const args of [['init', '-q'], ['add', '.'], ['commit', '-q', '-m', 'v1']]) execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo });
    const target = `file://${repo}#no-such-branch`;
    const r = await cliDone(['enqueue', target, '--state-dir', state]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`marteau-tui: ${target}: git ref "no-such-branch" is not a branch, tag or commit of the repository`);
    expect(r.err).toContain(`nothing queued: fix it or leave ${target} out`);
    expect(await queueJson(state)).toEqual([]);
  });

  it('cancel goes on past a bad id: every valid one is cancelled, each bad one said, exit 2 at the end', async () => {
    const state = await stateDir();
    const dir = await project(`name: q\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', dir, dir, '--state-dir', state])).code).toBe(0);
    const [a, c] = await queueJson(state);
    const r = await cliDone(['cancel', a.id, 'ffffffff', c.id, 'zz', '--state-dir', state]);
    expect(r.code).toBe(2);
    expect(r.out).toBe(`cancelled ${a.id.slice(0, 8)} "q"\ncancelled ${c.id.slice(0, 8)} "q"\n`);
    expect(r.err).toBe('marteau-tui: no job ffffffff in the queue (see `marteau-tui queue --all`)\nmarteau-tui: "zz" is not a job id (4 or more hex digits, see `marteau-tui queue`)\n');
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['cancelled', 'cancelled']);
    const again = await cliDone(['cancel', a.id, '--state-dir', state]);
    expect(again.code).toBe(2);
    expect(again.err).toBe(`marteau-tui: job ${a.id.slice(0, 8)} was already cancelled: nothing to cancel\n`);
  });

  it('cancel of one job named twice (a prefix and its id) cancels it once, exit 0', async () => {
    const state = await stateDir();
    expect((await cliDone(['enqueue', await project(`name: q\n${commandYaml(['true'])}\n`), '--state-dir', state])).code).toBe(0);
    const [a] = await queueJson(state);
    const r = await cliDone(['cancel', a.id.slice(0, 6), a.id, '--state-dir', state]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`cancelled ${a.id.slice(0, 8)} "q"\n`);
  });

  it('an ambiguous id prefix shows the ids long enough to tell them apart; a finished job "has already succeeded"', async () => {
    const state = await stateDir();
    const q = new JournalQueue(path.join(state, 'journal.jsonl'));
    await q.open();
    const spec = { name: 'twin', source: { kind: 'dir' as const, dir: '/p', configFile: '/p/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [] };
    await q.enqueue({ ...spec, id: 'abcdef0123450000' });
    await q.enqueue({ ...spec, id: 'abcdef0123460000' });
    await q.close();
    const r = await cliDone(['cancel', 'abcd', '--state-dir', state]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('marteau-tui: abcd matches 2 jobs (abcdef012345, abcdef012346); give more digits\n');

    const done = await project(`name: done\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['--ci', done, '--state-dir', state])).code).toBe(0);
    const finished = (await queueJson(state)).find((j) => j.name === 'done')!;
    const late = await cliDone(['cancel', finished.id, '--state-dir', state]);
    expect(late.code).toBe(2);
    expect(late.err).toBe(`marteau-tui: job ${finished.id.slice(0, 8)} has already succeeded: nothing to cancel\n`);
  });

  it("queue shows the figures of jobs that ended in earlier processes, from their result.json; one missing or torn shows none", async () => {
    const app = await startLoadApp();
    try {
      const state = await stateDir();
      const load = (name: string, get: string) => project(`name: ${name}\nrunner: builtin\nbase_url: ${app.url}\ncycles: [2]\nduration: 0.5\nstartup_delay: 0\nscenario:\n  - {get: ${get}}\n`);
      const ran = await cliDone(['--ci', await load('fine', '/'), '--state-dir', state]);
      expect(ran.code, ran.out + ran.err).toBe(0);
      const figures = /succeeded in \S+ \((\d+ requests, .*)\)  results:/.exec(ran.out)![1];
      // A failed job: its reason, then its figures.
      expect((await cliDone(['--ci', await load('broken', '/status/500'), '--state-dir', state])).code).toBe(1);
      const [fine, broken] = await queueJson(state);
      const list = await cliDone(['queue', '--state-dir', state]);
      expect(list.code, list.err).toBe(0);
      expect(list.out).toContain(`\n  ${fine.id.slice(0, 8)}: ${figures}\n`);
      expect(list.out).toMatch(new RegExp(`\\n  ${broken.id.slice(0, 8)}: every one of the \\d+ requests failed .* · \\d+ requests, 100\\.00 % errors, `));
      const json = JSON.parse((await cliDone(['queue', '--json', '--state-dir', state])).out) as { summary?: string }[];
      expect(json[0].summary).toBe(`succeeded in ${/succeeded in (\S+)/.exec(ran.out)![1]} (${figures})`);

      await writeFile(path.join(state, 'jobs', fine.id, 'result.json'), '{"summary": "succeeded in 1');
      await rm(path.join(state, 'jobs', broken.id, 'result.json'));
      const after = await cliDone(['queue', '--state-dir', state]);
      expect(after.code, after.err).toBe(0);
      expect(after.err).toBe('');
      expect(after.out).not.toContain(`  ${fine.id.slice(0, 8)}:`);
      expect(after.out).not.toContain('% errors');
      expect(after.out).toMatch(new RegExp(`\\n  ${broken.id.slice(0, 8)}: every one of the \\d+ requests failed [^·]*\\n`));
    } finally {
      await app.close();
    }
  });

  it('kill -9 of the engine mid-run, then a restart: queue intact, the running job interrupted, its processes stopped', async () => {
    const state = await stateDir();
    const done = await project(`name: done\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['--ci', done, '--state-dir', state])).code).toBe(0);
    const waiting = await project(`name: waiting\n${commandYaml(['true'])}\n`);
    expect((await cliDone(['enqueue', waiting, '--state-dir', state])).code).toBe(0);
    const long = await project(`name: long\n${commandYaml(['sh', '-c', 'echo started; sleep 60'])}\n`);
    const run = cli(['--ci', long, '--state-dir', state]);
    await run.waitFor(/local \| started/);
    // The process record is appended asynchronously: the first output line can come before it.
    const longJob = async () => (await queueJson(state)).find((j) => j.name === 'long')!;
    await waitUntil(async () => (await longJob()).procs.length > 0);
    const running = await longJob();
    expect(running.status).toBe('running');
    expect(running.procs).toHaveLength(1);
    const pgid = running.procs[0].pgid;
    expect(groupAlive(pgid)).toBe(true);

    run.child.kill('SIGKILL');
    await run.exited;
    // The engine's watchdog kills its job's process group as soon as the engine is gone,
    // before any other marteau-tui process opens the queue.
    await waitUntil(() => !groupAlive(pgid), 10_000);
    // The next process to open the queue records the job as interrupted.
    const after = await queueJson(state);
    expect(after.map((j) => [j.name, j.status])).toEqual([['done', 'succeeded'], ['waiting', 'queued'], ['long', 'interrupted']]);
    expect(after[2].reason).toMatch(/stopped without finishing it/);
    // Restarting again changes nothing more.
    expect((await queueJson(state)).map((j) => j.status)).toEqual(['succeeded', 'queued', 'interrupted']);
  });

  it('two processes enqueueing at once: no lost or doubled job', async () => {
    const state = await stateDir();
    const dir = await project(`name: many\n${commandYaml(['true'])}\n`);
    const targets = Array.from({ length: 15 }, () => dir);
    const [a, b] = await Promise.all([cliDone(['enqueue', ...targets, '--state-dir', state]), cliDone(['enqueue', ...targets, '--state-dir', state])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const printed = [...a.out.matchAll(/\(([0-9a-f]{16})\)/g), ...b.out.matchAll(/\(([0-9a-f]{16})\)/g)].map((m) => m[1]);
    const jobs = await queueJson(state);
    expect(jobs).toHaveLength(30);
    expect(new Set(jobs.map((j) => j.id))).toEqual(new Set(printed));
  });

  it('nodes lists this machine as up; --disable/--enable are shared through the state dir', async () => {
    const state = await stateDir();
    const r = await cliDone(['nodes', '--state-dir', state]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^NAME\s+TYPE\s+ADDRESS\s+ENABLED\s+HEALTH/);
    expect(r.out).toMatch(/local\s+local\s+-\s+yes\s+up\s+0ms\s+0\/1/);
    expect((await cliDone(['nodes', '--disable', 'local', '--state-dir', state])).out).toMatch(/local\s+local\s+-\s+no\s+up/);
    expect((await cliDone(['nodes', '--state-dir', state])).out).toMatch(/local\s+local\s+-\s+no\s+up/);
    const bad = await cliDone(['nodes', '--enable', 'nope', '--state-dir', state]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/no node "nope"/);
    const both = await cliDone(['nodes', '--enable', 'local', '--disable', 'local', '--state-dir', state]);
    expect(both.code).toBe(2);
    expect(both.err).toBe('marteau-tui: --enable local and --disable local: one node cannot be both; give one of them\n');
  });
});

describe('retry and replay', () => {
  // enqueue said what runs the job it queued; retry and replay queued one with not a word of it.
  it('say what runs the job they queue, as enqueue does', async () => {
    const state = await stateDir();
    const job = await project(`name: again\n${commandYaml(['true'])}\n`);
    // With the --state-dir they need: a bare `marteau-tui worker` reads another queue.
    const note = `note: queued jobs are run by a \`marteau-tui worker --state-dir ${state}\` (or the TUI) on this state dir\n`;
    const queued = await cliDone(['enqueue', job, '--state-dir', state]);
    expect(queued.err).toBe(note);
    expect((await cliDone(['worker', '--drain', '--state-dir', state])).code).toBe(0);
    const id = /^queued ([0-9a-f]{8}) /.exec(queued.out)![1];
    for (const command of ['retry', 'replay']) {
      const r = await cliDone([command, id, '--state-dir', state]);
      expect(r.code, r.err).toBe(0);
      expect(r.out, command).toMatch(new RegExp(`^queued [0-9a-f]{8} "again" \\(${command} of ${id}`));
      expect(r.err, command).toBe(note);
    }
  });
});

describe('--node-wait', () => {
  it('bounds the wait of a sweep, as of --ci: a sweep whose only node is disabled fails after it, exit 3', async () => {
    const nodes = path.join(await temp('nodes'), 'nodes.yml');
    await writeFile(nodes, 'nodes:\n  local: {type: local, max_jobs: 1, enabled: false}\n');
    const demo = (await readFile(path.join(ROOT, 'fixtures/demo/.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/demo/', `${dist('fixtures/demo')}/`);
    const start = performance.now();
    // It waited the default 30 s whatever --node-wait said.
    const r = await cliDone(['--node-wait', '1', '--nodes', nodes, 'sweep', await project(demo), '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toMatch(/failed: waited 1s for 1 free node: local disabled/);
    expect(performance.now() - start).toBeLessThan(20_000);
  }, 40_000);

  it('anywhere else is a usage error rather than a flag that does nothing', async () => {
    const state = await stateDir();
    for (const args of [['worker', '--drain'], ['queue'], ['enqueue', '.']]) {
      const r = await cliDone(['--node-wait', '5', ...args, '--state-dir', state]);
      expect(r.code, args[0]).toBe(2);
      expect(r.err, args[0]).toBe(`marteau-tui: --node-wait goes with --ci or sweep (how long their jobs may wait for free nodes); marteau-tui ${args[0]} takes none: a job queued waits until its nodes are free\n`);
    }
    const bad = await cliDone(['--node-wait', 'soon', '--ci', '.', '--state-dir', state]);
    expect([bad.code, bad.err]).toEqual([2, 'marteau-tui: --node-wait: expected seconds from 0 to 86400, got "soon"\n']);
  });
});

describe('a number flag out of range', () => {
  // They said the range only ('--limit: a whole number above 0'), not what was given.
  it('says what it expected and what it got, exit 2', async () => {
    const state = await stateDir();
    for (const [args, said] of [
      [['queue', '--limit', '0'], '--limit: expected a whole number above 0, got "0"'],
      [['queue', '-n', ''], '--limit: expected a whole number above 0, got ""'],
      [['demo', '--plain', '--duration', 'long'], '--duration: expected seconds from 1 to 3600, got "long"'],
    ] as const) {
      const r = await cliDone([...args, '--state-dir', state]);
      expect([r.code, r.err], args.join(' ')).toEqual([2, `marteau-tui: ${said}\n`]);
    }
  });
});
