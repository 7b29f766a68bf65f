/**
 * CLUSTERDOWN and TRYAGAIN through the proxy at 100:error, refused as a redis-server cluster node
 * in that state refuses them: by the keys a request names (a script's by its numkeys), not by its
 * command alone. The EXEC of a block drawing them: proxy-redis-exec.
 */
import { createHash } from 'node:crypto';
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

  // A node told to serve reads while its cluster is down (cluster-allow-reads-when-down yes) refuses
  // writes only, as processCommand flags them: a script by its shebang, a function by its flags,
  // EXEC by its own (a write queued in its block refused as it is queued). The proxy's CLUSTERDOWN
  // stands for that when its line says so.
  const readsWhenDown = [
    ['GET', '{t}x'], ['MGET', '{t}x', '{t}y'], ['EXISTS', '{t}x'], ['PFCOUNT', '{t}h'], ['SORT_RO', '{t}l'],
    ['SET', '{t}x', 'x'], ['DEL', '{t}z'], ['INCR', '{t}n'], ['GETEX', '{t}x'], ['GETDEL', '{t}z'], ['SORT', '{t}l'],
    ['EVAL', 'return 1', '1', '{t}x'], ['EVAL', '#!lua\nreturn 1', '1', '{t}x'], ['EVAL', '#!lua flags=no-writes\nreturn 1', '1', '{t}x'],
    ['EVAL_RO', "return redis.call('GET', KEYS[1])", '1', '{t}x'],
    ['FCALL', 'rdw', '1', '{t}x'], ['FCALL', 'rdr', '1', '{t}x'], ['FCALL_RO', 'rdr', '1', '{t}x'], ['FCALL', 'nosuch', '1', '{t}x'],
    ['SPUBLISH', '{t}x', 'm'], ['PING'], ['MGET', '{t}x', '{u}x'],
    ['MULTI'], ['GET', '{t}x'], ['EXEC'],
    ['MULTI'], ['GET', '{t}x'], ['SET', '{t}x', 'x'], ['EXEC'],
  ];
  const readsLibrary = [
    '#!lua name=rdlib',
    "redis.register_function('rdw', function(keys) return redis.call('SET', keys[1], 'x') end)",
    "redis.register_function{function_name='rdr', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}",
  ].join('\n');
  it("100:error CLUSTERDOWN 'The cluster is down and only accepts read commands' refuses writes only, as a node serving reads while down", async () => {
    const node = await startClusterNode();
    const replies = async (port: number) => (await rawReplies(port, readsWhenDown.map((r) => cmd(...r)))).map((r, i) => `${readsWhenDown[i].join(' ')}: ${String(r)}`);
    try {
      await node.ctl.set('{t}x', 'x');
      await node.ctl.call('FUNCTION', 'LOAD', readsLibrary);
      await node.ctl.call('CONFIG', 'SET', 'cluster-allow-reads-when-down', 'yes');
      await CLUSTER_STATES.CLUSTERDOWN.enter(node);
      const want = await replies(node.port);
      await CLUSTER_STATES.CLUSTERDOWN.leave(node);
      await node.ctl.call('CONFIG', 'SET', 'cluster-allow-reads-when-down', 'no');
      expect(want).toContain('GET {t}x: $1\r\nx\r\n');
      expect(want).toContain('SET {t}x x: -CLUSTERDOWN The cluster is down and only accepts read commands\r\n');
      await withProxy('', async (p) => {
        // The library goes through the proxy, which reads its functions' flags.
        const loader = client(p.port);
        await loader.connect();
        await loader.call('FUNCTION', 'LOAD', 'REPLACE', readsLibrary);
        loader.disconnect();
        await p.setMix({ error: { percent: 100, kind: 'CLUSTERDOWN', message: 'The cluster is down and only accepts read commands' } });
        expect(await replies(p.port)).toEqual(want);
        // ioredis, as an application: reads answered, writes refused.
        const app = client(p.port);
        await app.connect();
        expect(await app.get('{t}x')).toBe('x');
        await expect(app.set('{t}x', 'x')).rejects.toThrow(/^CLUSTERDOWN The cluster is down and only accepts read commands$/);
        app.disconnect();
      }, { upstream: node.port });
    } finally {
      await node.stop();
    }
  });

  // A script a down node runs stops at its first call the node refuses, with an ERR and where:
  // at the default line one naming no key (one naming keys refused up front), at its first call
  // naming a key; serving reads, one without a shebang whatever keys it names, at its first write
  // naming a key. Queued in a block, it fails inside EXEC's reply; one refused up front is refused
  // as it is queued, the block then aborted.
  const scriptsDown = [
    ['EVAL', "return redis.call('GET', '{t}x')", '0'], ['EVAL', "return redis.call('ECHO', 'e')", '0'],
    ['EVAL', "return redis.pcall('GET', '{t}x')", '0'], ['EVAL', "local ok = redis.pcall('GET', '{t}x') return 1", '0'],
    ['EVAL', "return redis.call('SET', '{t}q', 'v')", '0'], ['EVAL', "#!lua flags=no-writes\nreturn redis.call('GET', '{t}x')", '0'],
    ['EVAL', "return redis.call('GET', KEYS[1])", '1', '{t}x'], ['EVAL', "return redis.call('SET', KEYS[1], 'v')", '1', '{t}x'],
    ['EVAL', "return redis.pcall('SET', KEYS[1], 'v')", '1', '{t}x'], ['EVAL', "local x = redis.call('GET', KEYS[1])\nredis.call('SET', KEYS[1], 'v') return 1", '1', '{t}x'],
    ['EVAL_RO', "return redis.call('GET', '{t}x')", '0'], ['EVAL_RO', "return redis.call('SET', KEYS[1], 'v')", '1', '{t}x'],
    ['EVALSHA', createHash('sha1').update("return redis.call('GET', '{t}x')").digest('hex'), '0'],
    ['MULTI'], ['EVAL', "return redis.call('SET', '{t}x', 'v')", '0'], ['ECHO', 'e'], ['EXEC'],
    ['MULTI'], ['EVAL', "return redis.call('SET', KEYS[1], 'v')", '1', '{t}x'], ['ECHO', 'e'], ['EXEC'],
    // Functions, as the proxy saw them loaded: flagged or not, registered by a table or by position.
    ['FCALL', 'dfg', '0'], ['FCALL', 'dfr', '0'], ['FCALL_RO', 'dfr', '0'], ['FCALL', 'dfs', '0'], ['FCALL', 'dfp', '0'],
    ['FCALL', 'dfg', '1', '{t}x'], ['FCALL', 'dfr', '1', '{t}x'],
    ['MULTI'], ['FCALL', 'dfs', '0'], ['ECHO', 'e'], ['EXEC'],
    ['GET', '{t}q'],
  ];
  const downLibrary = [
    '#!lua name=dflib',
    "redis.register_function('dfg', function(keys) return redis.call('GET', '{t}x') end)",
    'redis.register_function{',
    "  function_name = 'dfr',",
    "  callback = function(keys)",
    "    local e = redis.call('ECHO', 'e')",
    "    return redis.call('GET', '{t}x')",
    '  end,',
    "  flags = { 'no-writes' },",
    '}',
    "local function set(keys) local x = redis.call('GET', '{t}x') return redis.call('SET', '{t}q', 'v') end",
    "redis.register_function('dfs', set)",
    "redis.register_function('dfp', function() return redis.pcall('GET', '{t}x') end)",
  ].join('\n');
  it.each([['The cluster is down'], ['The cluster is down and only accepts read commands']])("100:error CLUSTERDOWN '%s': a script the node runs stops at its first call it refuses, as a node in that state", async (line) => {
    const node = await startClusterNode();
    const readsWhenDown = line.endsWith('read commands');
    const replies = async (port: number) => (await rawReplies(port, scriptsDown.map((r) => cmd(...r)))).map((r, i) => `${scriptsDown[i].join(' ')}: ${String(r)}`);
    try {
      await node.ctl.set('{t}x', 'x');
      await node.ctl.call('SCRIPT', 'LOAD', "return redis.call('GET', '{t}x')");
      await node.ctl.call('FUNCTION', 'LOAD', downLibrary);
      await node.ctl.call('CONFIG', 'SET', 'cluster-allow-reads-when-down', readsWhenDown ? 'yes' : 'no');
      await CLUSTER_STATES.CLUSTERDOWN.enter(node);
      const want = await replies(node.port);
      await CLUSTER_STATES.CLUSTERDOWN.leave(node);
      await node.ctl.call('CONFIG', 'SET', 'cluster-allow-reads-when-down', 'no');
      expect(want[0]).toMatch(readsWhenDown ? /: \$1\r\nx\r\n$/ : /: -ERR Script attempted to execute a command while the cluster is down script: [0-9a-f]{40}, on @user_script:1\.\r\n$/);
      expect(want[7]).toMatch(readsWhenDown ? /: -ERR Script attempted to execute a write command while the cluster is down and readonly script: / : /: -CLUSTERDOWN The cluster is down\r\n$/);
      expect(want).toContain(readsWhenDown
        ? 'FCALL dfs 0: -ERR Script attempted to execute a write command while the cluster is down and readonly script: dfs, on @user_function:11.\r\n'
        : 'FCALL dfg 0: -ERR Script attempted to execute a command while the cluster is down script: dfg, on @user_function:2.\r\n');
      await withProxy('', async (p) => {
        // The script EVALSHA names, and the library, go through the proxy first.
        const loader = client(p.port);
        await loader.connect();
        await loader.call('SCRIPT', 'LOAD', "return redis.call('GET', '{t}x')");
        await loader.call('FUNCTION', 'LOAD', 'REPLACE', downLibrary);
        loader.disconnect();
        await p.setMix({ error: { percent: 100, kind: 'CLUSTERDOWN', ...(readsWhenDown ? { message: line } : {}) } });
        expect(await replies(p.port)).toEqual(want);
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
