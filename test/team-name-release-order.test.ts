/**
 * A node name removed from a worker's nodes file and put back while its release is still on its
 * way to Redis: the worker holds the name after both, and another worker is refused it. What
 * keeps it so is order, not a token: the release is written as it is decided, on the connection
 * the claim uses after it, so Redis runs it first (name-release.ts, RedisQueue.releaseNodeNames).
 * A release sent behind the claim would free the name under the worker. A real redis-server
 * behind a relay that holds the worker's requests from the release on, until the claim of the
 * name put back has been sent behind it; an engine as a worker runs it.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { loadNodesConfig } from '../src/config/nodes.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { Engine } from '../src/core/engine.js';
import { RedisQueue } from '../src/core/redis-queue.js';
import { StateDir } from '../src/core/state-dir.js';
import { loadRunners } from '../src/report/runners.js';
import { removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, until, urlOf } from './helpers/team.js';
import { saveAsEditor } from './helpers/editor-save.js';

afterAll(removeTemp);

/** Passes bytes both ways; once armed, holds the client's bytes from the first chunk holding `from` until one holding `until` came behind it. */
async function holdingRelay(port: number) {
  const sockets = new Set<net.Socket>();
  let arm: { from: string; until: string; held?: [net.Socket, Buffer][]; done: () => void } | undefined;
  const server = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    sockets.add(c).add(up);
    for (const s of [c, up]) s.on('error', () => {});
    up.on('data', (d) => c.write(d));
    c.on('data', (d: Buffer) => {
      const a = arm;
      if (a && !a.held && d.includes(a.from)) a.held = [];
      if (!a?.held) return void up.write(d);
      a.held.push([up, d]);
      if (!d.includes(a.until)) return;
      arm = undefined;
      for (const [to, h] of a.held) to.write(h);
      a.done();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: (from: string, until: string) => new Promise<void>((done) => (arm = { from, until, done })),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

it.skipIf(!haveServer('redis-server'))('a name put back in the nodes file while its release is on its way stays the worker\'s', async () => {
  const redis = await startRedis();
  const relay = await holdingRelay(redis.port);
  const text = (names: string[]) => `nodes:\n${names.map((n) => `  ${n}: {type: local}\n`).join('')}probe: {interval: 1s}\n`;
  const file = await nodesFile(text(['mine', 'back']));
  const state = await stateDir();
  const url = parseQueueUrl(`redis://127.0.0.1:${relay.port}/0`);
  const queue = new RedisQueue({ url, lostJobs: 'interrupt', resultsRoot: new StateDir(state).jobsDir, readPresence: false });
  const other = new RedisQueue({ url: parseQueueUrl(urlOf(redis)), lostJobs: 'interrupt', readPresence: false });
  const raw = new Redis(urlOf(redis));
  let engine: Engine | undefined;
  const lines: string[] = [];
  try {
    engine = new Engine({ runners: loadRunners, stateDir: state, nodes: { ...(await loadNodesConfig(file)), queue: { url, lostJobs: 'interrupt', urlFromFlag: true } }, run: 'all', queue, rereadNodes: true });
    engine.events.on('log.line', (e) => void lines.push(e.line));
    await engine.start();
    await other.open();
    const me = await until('the names claimed', async () => (await raw.hget('marteau:nodes', 'back')) ?? false, 20_000);

    // The release's request (its script's HDEL) held until the claim's HGETALL of the names comes behind it.
    const held = relay.hold("redis.call('HDEL'", 'hgetall\r\n$13\r\nmarteau:nodes');
    await saveAsEditor(file, text(['mine']));
    await until('the removal read', () => lines.some((l) => l.includes('read again: removed back')), 20_000);
    await saveAsEditor(file, text(['mine', 'back']));
    await held;
    await until('the name taken again', () => lines.some((l) => l.includes('read again: added back')), 20_000);
    // The release done too: it came to Redis first, so the claim behind it holds the name.
    await until('the release done', () => lines.some((l) => l.includes('node back given back to the team')), 20_000);

    expect(await raw.hget('marteau:nodes', 'back')).toBe(me);
    await expect(other.claimNodeNames(['back'])).rejects.toThrow(/node "back" is already run by another worker/);
    expect(engine.getSnapshot().nodes.map((n) => n.name)).toContain('back');
  } finally {
    await engine?.stop();
    await other.close();
    raw.disconnect();
    await relay.close();
    await redis.stop();
  }
}, 60_000);
