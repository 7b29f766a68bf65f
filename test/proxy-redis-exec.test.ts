/**
 * A MULTI block's EXEC through the proxy at 100:error of a kind, byte for byte as a redis-server
 * in that state answers it: EXECABORT 'because of previous errors' after a command refused as
 * it was queued, 'because of: <error>' when the state refuses the EXEC itself.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinBehaviors } from '../behaviors/index.js';
import { act, defineBehavior, z } from '../src/proxy/plugin.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client, CLUSTER_STATES, cmd, inState, rawReplies, splitReplies, startClusterNode, STATES, type ClusterNode } from './proxy-redis-real.js';

const run = haveServer('redis-server');

describe.skipIf(!run)('redis: EXEC at 100:error as a redis-server in that state', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startRedis(); });
  afterAll(async () => { await server?.stop(); });
  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  // Keys no server here holds: a GET inside a block that runs reads the same on both.
  const requests = [
    ['MULTI'], ['GET', 'xa:k'], ['EXEC'],
    ['MULTI'], ['SET', 'xa:k', 'v'], ['EXEC'],
    ['MULTI'], ['ECHO', 'e'], ['SET', 'xa:k', 'v'], ['EXEC'],
    ['MULTI'], ['ECHO', 'e'], ['GET', 'xa:k'], ['EXEC'],
    ['MULTI'], ['PING'], ['EXEC'],
    ['MULTI'], ['ECHO', 'e'], ['EXEC'],
    ['MULTI'], ['ECHO', 'e'], ['SET', 'xa:k'], ['EXEC'],
    ['MULTI'], ['DEL', 'xa:k'], ['EXEC'],
    ['EXEC'], ['DISCARD'],
  ];

  it.each(STATES)('100:error %s: every EXEC answered as by the server in that state', async (kind) => {
    const replies = async (port: number) => (await rawReplies(port, requests.map((r) => cmd(...r)))).map((r, i) => `${requests[i].join(' ')}: ${String(r)}`);
    await inState(kind, async (real) => {
      const want = await replies(real.port);
      expect(want).toHaveLength(requests.length);
      await withProxy({ error: { percent: 100, kind } }, async (p) => expect(await replies(p.port)).toEqual(want));
    });
  });

  // A block whose server changes state between its commands, as a chaos mix drawing kinds per
  // request has it: EXEC is judged by the commands the server queued, those before the block's
  // first refused one (after it, redis answers QUEUED and keeps nothing), by the state or by
  // itself (the wrong number of arguments).
  /** What puts a server in the state a kind stands for (`enter`), and takes it out. */
  const STATE_OF: Record<string, { enter: (n: ClusterNode) => Promise<void>; leave: (n: ClusterNode) => Promise<void> }> = {
    READONLY: { enter: async ({ ctl }) => { await ctl.call('REPLICAOF', '127.0.0.1', '1'); }, leave: async ({ ctl }) => { await ctl.call('REPLICAOF', 'NO', 'ONE'); } },
    OOM: { enter: async ({ ctl }) => { await ctl.call('CONFIG', 'SET', 'maxmemory', '1'); }, leave: async ({ ctl }) => { await ctl.call('CONFIG', 'SET', 'maxmemory', '0'); } },
    ...CLUSTER_STATES,
  };

  /** A redis-server for `plan`'s states, with a client of it: a cluster node for CLUSTERDOWN and TRYAGAIN. */
  async function serverFor(plan: Array<string | undefined>): Promise<ClusterNode> {
    if (plan.includes('CLUSTERDOWN') || plan.includes('TRYAGAIN')) return startClusterNode(plan.includes('TRYAGAIN'));
    const real = await startRedis();
    const ctl = client(real.port);
    await ctl.connect();
    return { port: real.port, ctl, importer: '', stop: async () => { ctl.disconnect(); await real.stop(); } };
  }

  const block = [['MULTI'], ['SET', 'xs:a', '1'], ['SET', 'xs:b', '2'], ['GET', 'xs:c'], ['EXEC']];
  const badArity = [['MULTI'], ['GET', 'xs:c'], ['SET', 'xs:a'], ['SET', 'xs:b', '2'], ['EXEC']];
  // A cluster's block names keys of one slot (else CROSSSLOT): their hash tag says which.
  const tagged = [['MULTI'], ['SET', '{xs}a', '1'], ['SET', '{xs}b', '2'], ['GET', '{xs}c'], ['EXEC']];
  const echoes = [['MULTI'], ['ECHO', 'e'], ['GET', '{xs}c'], ['EXEC']];
  const moving = [['MULTI'], ['MGET', '{t}x', '{t}y'], ['GET', '{t}x'], ['EXEC']];
  const plans: Array<[string[][], Array<string | undefined>]> = [
    [block, [undefined, undefined, 'READONLY', undefined, 'READONLY']],
    [block, [undefined, 'READONLY', undefined, undefined, 'READONLY']],
    [block, [undefined, undefined, undefined, 'OOM', 'READONLY']],
    [block, [undefined, 'OOM', undefined, undefined, 'READONLY']],
    [block, [undefined, undefined, undefined, undefined, 'READONLY']],
    [badArity, [undefined, undefined, undefined, undefined, 'READONLY']],
    // A cluster checks the keys of the block's commands as EXEC comes: down, it discards the block
    // and says the bare line, not EXECABORT (clusterRedirectClient); a block without keys runs.
    [tagged, [undefined, undefined, undefined, undefined, 'CLUSTERDOWN']],
    [tagged, [undefined, undefined, 'CLUSTERDOWN', undefined, 'CLUSTERDOWN']],
    [echoes, [undefined, undefined, undefined, 'CLUSTERDOWN']],
    [echoes, [undefined, undefined, 'CLUSTERDOWN', 'CLUSTERDOWN']],
    // Likewise TRYAGAIN, for a block that names several keys of a slot being moved; one naming a single key runs.
    [moving, [undefined, undefined, undefined, 'TRYAGAIN']],
    [moving, [undefined, 'TRYAGAIN', undefined, 'TRYAGAIN']],
    [[['MULTI'], ['GET', '{t}x'], ['GET', '{t}x'], ['EXEC']], [undefined, undefined, undefined, 'TRYAGAIN']],
    // The node reads the keys of all the block's commands as one request's (getNodeByQuery compares
    // each with the first): one key named twice is one, however it is named; keys of two commands
    // are several, of one slot (TRYAGAIN) or of two (CROSSSLOT, whatever the state).
    [[['MULTI'], ['MGET', '{t}x', '{t}x'], ['EXEC']], [undefined, undefined, 'TRYAGAIN']],
    [[['MULTI'], ['GET', '{t}x'], ['MGET', '{t}x', '{t}x'], ['SET', '{t}x', 'x'], ['EXEC']], [undefined, undefined, undefined, undefined, 'TRYAGAIN']],
    [[['MULTI'], ['GET', '{t}x'], ['GET', '{t}y'], ['EXEC']], [undefined, undefined, undefined, 'TRYAGAIN']],
    [[['MULTI'], ['GET', '{t}x'], ['GET', '{u}x'], ['EXEC']], [undefined, undefined, undefined, 'CLUSTERDOWN']],
    [[['MULTI'], ['GET', '{t}x'], ['GET', '{u}x'], ['EXEC']], [undefined, undefined, undefined, 'TRYAGAIN']],
    [[['MULTI'], ['ECHO', 'e'], ['MGET', '{t}x', '{u}x'], ['GET', '{t}x'], ['EXEC']], [undefined, undefined, undefined, undefined, 'CLUSTERDOWN']],
    // A node down serves SPUBLISH (its channel's slot assigned), and queues it; its EXEC, not sharded pub/sub, reads the channel as a key.
    [[['MULTI'], ['SPUBLISH', '{t}x', 'm'], ['EXEC']], [undefined, 'CLUSTERDOWN', 'CLUSTERDOWN']],
  ];

  /** The replies to `block` sent one at a time on one connection to `port`, `before(i)` awaited before request i is sent. */
  async function oneByOne(port: number, block: string[][], before: (i: number) => Promise<void>): Promise<string[]> {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    let got = Buffer.alloc(0);
    let wake = () => {};
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      wake();
    });
    const out: string[] = [];
    for (const [i, r] of block.entries()) {
      await before(i);
      got = Buffer.alloc(0);
      const replied = new Promise<void>((resolve) => { wake = () => { if (splitReplies(got).length > 0) resolve(); }; });
      s.write(cmd(...r));
      await replied;
      out.push(`${r.join(' ')}: ${String(got)}`);
    }
    s.destroy();
    return out;
  }

  it.each(plans.map(([b, p]) => [b.map((r, i) => `${r.join(' ')}${p[i] ? `:${p[i]}` : ''}`).join(', '), b, p] as const))('%s: EXEC and the counts as a redis-server whose state changes alike', async (_, block, plan) => {
    const node = await serverFor(plan);
    try {
      let state: string | undefined;
      const want = await oneByOne(node.port, block, async (i) => {
        if (state === plan[i]) return;
        if (state !== undefined) await STATE_OF[state].leave(node);
        state = plan[i];
        if (state !== undefined) await STATE_OF[state].enter(node);
      });
      if (state !== undefined) await STATE_OF[state].leave(node);
      // The proxy, in front of the same server back in its normal state, draws the same kinds for
      // the same requests: what it passes, that server answers (a cluster node: CROSSSLOT).
      let next = 0;
      const planned = defineBehavior({ name: 'planned', description: '', options: z.object({}), onExchange: () => { const kind = plan[next++]; return kind === undefined ? undefined : act.error(kind); } });
      const registry = new Map([...builtinBehaviors, planned].map((b) => [b.name, b]));
      await withProxy({ planned: 100 }, async (p) => {
        expect(await oneByOne(p.port, block, async () => {})).toEqual(want);
        // Each error a client got of the kinds drawn, the EXEC's 'because of: ...' with them, and no other.
        const told = want.filter((r) => / -(READONLY|OOM|CLUSTERDOWN|TRYAGAIN|EXECABORT Transaction discarded because of:) /.test(r)).length;
        expect(p.stats().behaviors.planned ?? 0).toBe(told);
      }, { registry, upstream: node.port });
    } finally {
      await node.stop();
    }
  });
});
