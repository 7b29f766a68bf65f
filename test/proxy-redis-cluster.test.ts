/**
 * CLUSTERDOWN and TRYAGAIN through the proxy at 100:error, refused as a redis-server cluster node
 * in that state refuses them: by the keys a request names (a script's by its numkeys), not by its
 * command alone. The EXEC of a block drawing them: proxy-redis-exec.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client, CLUSTER_STATES, cmd, rawReplies, said, startClusterNode } from './proxy-redis-real.js';

const run = haveServer('redis-server');

describe.skipIf(!run)('redis: CLUSTERDOWN and TRYAGAIN at 100:error as a cluster node in that state', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startRedis();
    // What the cluster node holds (startClusterNode), so that what both serve reads the same.
    const c = client(server.port);
    await c.connect();
    await c.mset('{t}x', 'x', '{t}y', 'y');
    c.disconnect();
  });
  afterAll(async () => { await server?.stop(); });
  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  // Keys of one slot ({t}): a request naming keys of several gets CROSSSLOT whatever the state.
  const requests = [
    ['GET', '{t}x'], ['SET', '{t}x', 'x'], ['PING'], ['ECHO', 'e'], ['PUBLISH', 'ch', 'm'],
    ['MGET', '{t}x'], ['MGET', '{t}x', '{t}y'], ['EXISTS', '{t}x', '{t}y'], ['DEL', '{t}z'],
    // A script names the keys its numkeys says: none, one, two.
    ['EVAL', 'return 1', '0'], ['EVAL', 'return 1', '1', '{t}x'], ['EVAL', 'return 1', '2', '{t}x', '{t}y'],
    ['EVAL_RO', 'return 1', '0'], ['EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '0'],
    ['FCALL', 'nosuch', '0'], ['FCALL', 'nosuch', '1', '{t}x'], ['FCALL_RO', 'nosuch', '2', '{t}x', '{t}y'],
    // One key named twice is one key ({t}z missing: a node moving its slot redirects it, ASK, served here).
    ['MSET', '{t}x', 'x'], ['MSET', '{t}x', 'x', '{t}x', 'x'], ['MGET', '{t}x', '{t}x'], ['DEL', '{t}z', '{t}z'], ['DEL', '{t}z', '{t}x'],
    ['EVAL', 'return 1', '2', '{t}x', '{t}x'], ['RENAME', '{t}z', '{t}z'], ['BITOP', 'AND', '{t}z', '{t}z', '{t}z'],
    // Sharded pub/sub names its channel as a key, but a node serves it down (cluster-allow-pubsubshard-when-down) or moving it.
    ['SPUBLISH', '{t}x', 'm'], ['SUNSUBSCRIBE', '{t}x'],
    ['MULTI'], ['EVAL', 'return 1', '0'], ['ECHO', 'e'], ['EXEC'],
    ['MULTI'], ['MGET', '{t}x', '{t}y'], ['EXEC'],
    ['MULTI'], ['MSET', '{t}x', 'x'], ['EXEC'],
  ];
  const refused = async (port: number) => (await rawReplies(port, requests.map((r) => cmd(...r)))).map((r, i) => `${requests[i].join(' ')}: ${said(r)}`);

  it.each([['CLUSTERDOWN'], ['TRYAGAIN']])('100:error %s refuses the requests a cluster node in that state refuses, and only those', async (kind) => {
    const node = await startClusterNode(kind === 'TRYAGAIN');
    let want: string[];
    try {
      await node.ctl.call('SCRIPT', 'LOAD', 'return 1');
      await CLUSTER_STATES[kind].enter(node);
      want = await refused(node.port);
      await CLUSTER_STATES[kind].leave(node);
    } finally {
      await node.stop();
    }
    expect(want.filter((w) => w.endsWith(kind)).length).toBeGreaterThan(1);
    await withProxy({ error: { percent: 100, kind } }, async (p) => {
      const loader = client(p.port);
      await loader.connect();
      await loader.call('SCRIPT', 'LOAD', 'return 1');
      loader.disconnect();
      expect(await refused(p.port)).toEqual(want);
    });
  });

  // Keys of several slots ({t}, {u}): a node answers CROSSSLOT in any state, as it reads the keys
  // (getNodeByQuery) before it looks at the cluster's state or at a slot being moved.
  const crossSlot = [
    ['MGET', '{t}x', '{u}x'], ['DEL', '{u}x', '{t}x'], ['MSET', '{t}x', 'x', '{u}x', 'x'], ['EVAL', 'return 1', '2', '{t}x', '{u}x'],
    ['MGET', '{t}x', '{t}x', '{u}x'], ['EXISTS', '{t}x', '{t}y', '{u}x'],
    ['GET', '{t}x'],
  ];
  it.each([['CLUSTERDOWN'], ['TRYAGAIN']])('100:error %s passes a request naming keys of several slots: the node behind answers CROSSSLOT, as one in that state', async (kind) => {
    const node = await startClusterNode(kind === 'TRYAGAIN');
    try {
      await CLUSTER_STATES[kind].enter(node);
      const want = (await rawReplies(node.port, crossSlot.map((r) => cmd(...r)))).map(String);
      await CLUSTER_STATES[kind].leave(node);
      expect(want.slice(0, -1)).toEqual(crossSlot.slice(0, -1).map(() => "-CROSSSLOT Keys in request don't hash to the same slot\r\n"));
      expect(said(Buffer.from(want.at(-1)!))).toBe(kind === 'CLUSTERDOWN' ? kind : 'served');
      // The proxy in front of the node, up: what it passes the node answers.
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        expect((await rawReplies(p.port, crossSlot.map((r) => cmd(...r)))).map(String)).toEqual(want);
      }, { upstream: node.port });
    } finally {
      await node.stop();
    }
  });

  // A key whose slot no node serves: the node answers for the request's first key before it
  // compares the others (no CROSSSLOT) or lets sharded pub/sub through. The proxy's CLUSTERDOWN
  // stands for that when its line says so (a behavior's message).
  const unserved = [
    ['GET', '3560'], ['MGET', '3560', '{t}x'], ['MGET', '3560', '3560'], ['SPUBLISH', '3560', 'm'], ['EVAL', 'return 1', '2', '3560', '{u}x'],
    ['MULTI'], ['GET', '3560'], ['EXEC'], ['PING'],
  ];
  it("100:error CLUSTERDOWN 'Hash slot not served' refuses a request whose first key is in a slot no node serves, as a node does", async () => {
    const node = await startClusterNode();
    try {
      // Slot 0 deleted: 3560 is of slot 0.
      await CLUSTER_STATES.CLUSTERDOWN.enter(node);
      const want = (await rawReplies(node.port, unserved.map((r) => cmd(...r)))).map(String);
      await CLUSTER_STATES.CLUSTERDOWN.leave(node);
      expect(want.slice(0, 5)).toEqual(unserved.slice(0, 5).map(() => '-CLUSTERDOWN Hash slot not served\r\n'));
      await withProxy({ error: { percent: 100, kind: 'CLUSTERDOWN', message: 'Hash slot not served' } }, async (p) => {
        expect((await rawReplies(p.port, unserved.map((r) => cmd(...r)))).map(String)).toEqual(want);
      }, { upstream: node.port });
    } finally {
      await node.stop();
    }
  });

  // SSUBSCRIBE too: the node confirms each channel (two of one slot), then the connection is subscribed.
  it.each([['CLUSTERDOWN'], ['TRYAGAIN']])('100:error %s passes SSUBSCRIBE, as a node in that state serves it', async (kind) => {
    const node = await startClusterNode(kind === 'TRYAGAIN');
    const subscribe = [cmd('SSUBSCRIBE', '{t}x', '{t}y')];
    try {
      await CLUSTER_STATES[kind].enter(node);
      const want = (await rawReplies(node.port, subscribe, 2)).map(String);
      await CLUSTER_STATES[kind].leave(node);
      expect(want).toEqual(['*3\r\n$10\r\nssubscribe\r\n$4\r\n{t}x\r\n:1\r\n', '*3\r\n$10\r\nssubscribe\r\n$4\r\n{t}y\r\n:2\r\n']);
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        expect((await rawReplies(p.port, subscribe, 2)).map(String)).toEqual(want);
      }, { upstream: node.port });
    } finally {
      await node.stop();
    }
  });

  // Clients' transactions (MULTI, the commands and EXEC, pipelined): the node reads the keys of
  // the block's commands as one request's as EXEC comes, a key named twice one key, and refuses a
  // command naming keys of two slots as it queues it (CROSSSLOT), its EXEC then 'previous errors'.
  const transactions: Array<[string, string[][], string]> = [
    ['TRYAGAIN', [['MGET', '{t}x', '{t}x']], 'value'],
    ['TRYAGAIN', [['GET', '{t}x'], ['MGET', '{t}x', '{t}x']], 'value'],
    ['TRYAGAIN', [['MGET', '{t}x', '{u}x']], 'error EXECABORT'],
    ['CLUSTERDOWN', [['MGET', '{t}x', '{u}x']], 'error EXECABORT'],
  ];
  /** What ioredis and node-redis (RESP3) get for the transaction `block` sent to `port`. */
  async function transacted(port: number, block: string[][]): Promise<string[]> {
    const settle = (p: Promise<unknown>) => p.then((v) => `value ${JSON.stringify(v)}`, (e: Error) => `error ${e.message}`);
    const io = client(port);
    await io.connect();
    const nr = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false }, RESP: 3 });
    nr.on('error', () => {});
    await nr.connect();
    try {
      const multi = nr.multi();
      for (const r of block) multi.addCommand(r);
      return [await settle(io.multi(block.map(([c, ...args]) => [c.toLowerCase(), ...args])).exec()), await settle(multi.exec())];
    } finally {
      io.disconnect();
      nr.destroy();
    }
  }
  it.each(transactions)('100:error %s: a transaction of ioredis and of node-redis %j gets what it gets from a node in that state', async (kind, block, ioredisGets) => {
    const node = await startClusterNode(kind === 'TRYAGAIN');
    try {
      await CLUSTER_STATES[kind].enter(node);
      const want = await transacted(node.port, block);
      await CLUSTER_STATES[kind].leave(node);
      expect(want[0].startsWith(ioredisGets)).toBe(true);
      await withProxy({ error: { percent: 100, kind } }, async (p) => expect(await transacted(p.port, block)).toEqual(want), { upstream: node.port });
    } finally {
      await node.stop();
    }
  });
});
