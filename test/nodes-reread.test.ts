/**
 * A worker and the control center read the nodes file again while they run: a node fixed there
 * (its known_hosts, its port) or added takes effect at the next probe, and a job left queued for
 * want of it starts, with no restart. A bad edit keeps the nodes read before and says why at its
 * line. The file is replaced as editors save it (written aside, renamed over). On a shared
 * queue a node added is reserved for the worker, and one another worker runs is refused; one
 * removed is given back to the team once no job of the worker runs there, and said. Real
 * sshd and redis-server, the built CLI for the workers, a real engine as the control center makes it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodesConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { cli, cliDone, reapedAfterEach } from './helpers/marteau-cli.js';
import { freePort } from './helpers/net.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis, tempDir } from './helpers/servers.js';
import { makeUserKey, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';
import { nodesFile, urlOf, worker } from './helpers/team.js';
import { saveAsEditor } from './helpers/editor-save.js';

afterAll(removeTemp);

const runs = reapedAfterEach();

describe.skipIf(!haveServer('sshd'))('the nodes file edited while a worker or the control center runs (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  let knownHosts: string;

  beforeAll(async () => {
    dir = await tempDir('nodes-reread');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.16', user);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** The nodes file's text: `local`, and `box` (the sshd, tag remote) with these lines, probed every second. */
  function nodesText(name: string, box: string[], more: string[] = []): string {
    const lines = ['nodes:', '  local: {type: local}', '  box:', `    host: ${s.host}`, '    tags: [remote]', `    identity: ${user.privateKey}`, `    work_dir: ${path.join(dir, `remote-${name}`)}`, ...box.map((l) => `    ${l}`), ...more, 'probe:', '  interval: 1s'];
    return `${lines.join('\n')}\n`;
  }

    const remoteJob = (name: string) => project(`name: ${name}\nnode_tags: [remote]\n${commandYaml(['true'])}\n`);

  it('a worker: a known_hosts fixed in the nodes file and a node added take effect with no restart; a bad edit keeps the nodes and says why at its line', async () => {
    const empty = path.join(dir, 'empty_known_hosts');
    await writeFile(empty, '');
    const file = path.join(dir, 'worker.nodes.yml');
    await writeFile(file, nodesText('worker', [`port: ${s.port}`, `known_hosts: ${empty}`]));
    const state = await stateDir();
    const r = await cliDone(['enqueue', await remoteJob('remote'), '--nodes', file, '--state-dir', state, '--json']);
    expect(r.code, r.err).toBe(0);
    const remote = (JSON.parse(r.out) as { id: string }[])[0].id.slice(0, 8);
    const w = cli(['worker', '--nodes', file, '--state-dir', state]);
    runs.push(w);
    await w.waitFor(new RegExp(`leaves job ${remote} queued: needs 1 node and box is down \\(node "box": host key of .* is not in ${empty}; .*\\): no wait brings it up, a fix does; the job starts once a probe finds box up \\(the nodes file is read again before each probe; the environment at start: a fix there needs a restart\\)`), 30_000);

    // A mistake: said at its line, the nodes kept, the job still waiting.
    await saveAsEditor(file, nodesText('worker', ['port: nope', `known_hosts: ${knownHosts}`]));
    await w.waitFor(new RegExp(`${file}:8:11: nodes\\.box\\.port: expected a number, got the string "nope"\\n  hint: the SSH port, 1 to 65535\\n  the nodes read before stay \\(local, box\\); the file is read again before each probe`), 30_000);
    expect(w.out()).not.toContain(`job ${remote} started`);
    expect(w.out()).not.toContain('read again:');

    // Fixed, and a node added: the job runs on the fixed node.
    await saveAsEditor(file, nodesText('worker', [`port: ${s.port}`, `known_hosts: ${knownHosts}`], ['  spare: {type: local, tags: [spare]}']));
    await w.waitFor(new RegExp(`${file} read again: added spare; changed box \\(probed again\\)`), 30_000);
    await w.waitFor(new RegExp(`job ${remote} succeeded in `), 30_000);
    // Removed from the file, a node is said gone, not dropped silently.
    await saveAsEditor(file, nodesText('worker', [`port: ${s.port}`, `known_hosts: ${knownHosts}`]));
    await w.waitFor(new RegExp(`${file} read again: removed spare \\(no job starts there; those running end as they would\\)`), 30_000);
    w.child.kill('SIGTERM');
    await w.exited;
    expect(w.out() + w.err()).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('the control center: a wrong port fixed in the nodes file, and the job waiting for the node starts', async () => {
    const file = path.join(dir, 'tui.nodes.yml');
    const closed = await freePort(s.host);
    await writeFile(file, nodesText('tui', [`port: ${closed}`, `known_hosts: ${knownHosts}`]));
    const lines: string[] = [];
    // As runControlCenter makes it.
    const engine = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: await loadNodesConfig(file), run: 'all', rereadNodes: true });
    engine.events.on('log.line', (e) => void lines.push(e.line));
    await engine.start();
    try {
      const job = await engine.enqueue(await remoteJob('fixme'));
      const down = () => engine.getSnapshot().nodes.find((n) => n.name === 'box')?.health === 'down';
      for (const end = Date.now() + 30_000; !down(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error('box never found down');
      expect(engine.getSnapshot().jobs.find((j) => j.id === job.id)?.status).toBe('queued');
      await saveAsEditor(file, nodesText('tui', [`port: ${s.port}`, `known_hosts: ${knownHosts}`]));
      expect((await engine.waitFor([job.id]))[0].status).toBe('succeeded');
      expect(lines).toContain(`${file} read again: changed box (probed again)`);
    } finally {
      await engine.stop();
    }
  }, 90_000);
});

it.skipIf(!haveServer('redis-server'))('a worker on a shared queue reserves a node added to its file, and keeps its nodes while another worker runs the name', async () => {
  const redis = await startRedis();
  try {
    const url = urlOf(redis);
    const mine = await nodesFile('nodes:\n  mine: {type: local}\nprobe: {interval: 1s}\n');
    const a = await worker(url, mine);
    runs.push(a);
    const b = await worker(url, await nodesFile('nodes:\n  theirs: {type: local}\n'));
    runs.push(b);
    await saveAsEditor(mine, 'nodes:\n  mine: {type: local}\n  theirs: {type: local}\nprobe: {interval: 1s}\n');
    await a.waitFor(new RegExp(`node "theirs" is already run by another worker on redis://\\S+ \\(pid ${b.child.pid} on [^)]+\\): .*\\n  the nodes read before stay \\(mine\\); the file is read again before each probe`), 20_000);
    // Once that worker stops, the name is free: taken with no other edit.
    b.child.kill('SIGTERM');
    await b.exited;
    await a.waitFor(new RegExp(`${mine} read again: added theirs\\n`), 20_000);
    expect(a.out().match(/is already run by another worker/g)).toHaveLength(1);
    await saveAsEditor(mine, 'nodes:\n  mine: {type: local}\n  theirs: {type: local}\n  spare: {type: local}\nprobe: {interval: 1s}\n');
    await a.waitFor(new RegExp(`${mine} read again: added spare\\n`), 20_000);
    const raw = new Redis(url);
    try {
      const held = await raw.hgetall('marteau:nodes');
      expect([held.theirs, held.spare]).toEqual([held.mine, held.mine]);
    } finally {
      raw.disconnect();
    }
  } finally {
    await redis.stop();
  }
}, 60_000);

it.skipIf(!haveServer('redis-server'))('a worker on a shared queue gives back a node removed from its file: at once when idle, when its job ends when one runs there', async () => {
  const redis = await startRedis();
  try {
    const url = urlOf(redis);
    const file = (names: string[]) => `nodes:\n${names.map((n) => `  ${n}: {type: local, tags: [${n}]}\n`).join('')}probe: {interval: 1s}\n`;
    const mine = await nodesFile(file(['mine', 'idle', 'shared']));
    const theirs = await nodesFile(file(['theirs']));
    const a = await worker(url, mine);
    runs.push(a);
    const b = await worker(url, theirs);
    runs.push(b);
    // A job on a's node "shared" that runs until told to end.
    const go = path.join(await tempDir('nodes-release'), 'go');
    const held = await cliDone(['enqueue', await project(`name: held\nnode_tags: [shared]\n${commandYaml(['sh', '-c', `while [ ! -e '${go}' ]; do sleep 0.1; done`])}\n`), '--queue', url, '--nodes', mine, '--state-dir', await stateDir(), '--json']);
    expect(held.code, held.err).toBe(0);
    const job = (JSON.parse(held.out) as { id: string }[])[0].id.slice(0, 8);
    await a.waitFor(/started on shared/, 30_000);

    await saveAsEditor(mine, file(['mine']));
    await a.waitFor(new RegExp(`${mine} read again: removed idle, shared `), 30_000);
    // Said when given back: the idle one at once, the busy one not before its job ends.
    await a.waitFor(/\bnode idle given back to the team at once \(removed from the nodes file\)\n/, 30_000);
    // Idle: b takes it with no wait for a to exit.
    await saveAsEditor(theirs, file(['theirs', 'idle']));
    await b.waitFor(new RegExp(`${theirs} read again: added idle\\n`), 30_000);
    // Running a's job: still a's until the job ends, then b's with no other edit.
    await saveAsEditor(theirs, file(['theirs', 'idle', 'shared']));
    await b.waitFor(new RegExp(`node "shared" is already run by another worker on redis://\\S+ \\(pid ${a.child.pid} on [^)]+\\)`), 30_000);
    expect(a.out()).not.toContain('node shared given back');
    await writeFile(go, '');
    await a.waitFor(new RegExp(`job ${job} succeeded`), 30_000);
    await a.waitFor(/\bnode shared given back to the team now that this worker's jobs there have ended \(removed from the nodes file\)\n/, 30_000);
    await b.waitFor(new RegExp(`${theirs} read again: added shared\\n`), 30_000);
    const raw = new Redis(url);
    try {
      const names = await raw.hgetall('marteau:nodes');
      expect([names.idle, names.shared]).toEqual([names.theirs, names.theirs]);
      expect(names.mine).not.toBe(names.theirs);
    } finally {
      raw.disconnect();
    }
    // b runs on it.
    const ran = await cliDone(['enqueue', await project(`name: moved\nnode_tags: [shared]\n${commandYaml(['true'])}\n`), '--queue', url, '--nodes', theirs, '--state-dir', await stateDir(), '--json']);
    expect(ran.code, ran.err).toBe(0);
    await b.waitFor(/started on shared/, 30_000);
  } finally {
    await redis.stop();
  }
}, 150_000);

it.skipIf(!haveServer('redis-server'))('a node removed while the shared queue is away is given back once it is back online, and said so', async () => {
  let redis = await startRedis({ aof: true });
  try {
    const url = urlOf(redis);
    const file = (names: string[]) => `nodes:\n${names.map((n) => `  ${n}: {type: local}\n`).join('')}probe: {interval: 1s}\n`;
    const mine = await nodesFile(file(['kept', 'gone']));
    const a = await worker(url, mine);
    runs.push(a);
    await redis.crash();
    await a.waitFor(/queue offline: cannot reach /, 30_000);
    await saveAsEditor(mine, file(['kept']));
    await a.waitFor(new RegExp(`${mine} read again: removed gone `), 30_000);
    expect(a.out()).not.toContain('given back');
    redis = await startRedis({ aof: true, port: redis.port, dir: redis.dir });
    await a.waitFor(/is back online\n/, 30_000);
    await a.waitFor(/\bnode gone given back to the team now that the queue is back online \(removed from the nodes file\)\n/, 30_000);
    const raw = new Redis(url);
    try {
      const names = await raw.hgetall('marteau:nodes');
      expect([names.gone, names.kept]).toEqual([undefined, expect.any(String)]);
    } finally {
      raw.disconnect();
    }
  } finally {
    await redis.stop();
  }
}, 90_000);
