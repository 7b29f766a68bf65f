/**
 * A MULTI block's EXEC through the proxy at 100:error of a kind, byte for byte as a redis-server
 * in that state answers it: EXECABORT 'because of previous errors' after a command refused as
 * it was queued, 'because of: <error>' when the state refuses the EXEC itself.
 */
import net from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinBehaviors } from '../behaviors/index.js';
import { act, defineBehavior, z } from '../src/proxy/plugin.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client, cmd, inState, rawReplies, splitReplies, STATES } from './proxy-redis-real.js';

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
  const STATE_OF: Record<string, [string[], string[]]> = {
    READONLY: [['REPLICAOF', '127.0.0.1', '1'], ['REPLICAOF', 'NO', 'ONE']],
    OOM: [['CONFIG', 'SET', 'maxmemory', '1'], ['CONFIG', 'SET', 'maxmemory', '0']],
  };
  const block = [['MULTI'], ['SET', 'xs:a', '1'], ['SET', 'xs:b', '2'], ['GET', 'xs:c'], ['EXEC']];
  const badArity = [['MULTI'], ['GET', 'xs:c'], ['SET', 'xs:a'], ['SET', 'xs:b', '2'], ['EXEC']];
  const plans: Array<[string[][], Array<string | undefined>]> = [
    [block, [undefined, undefined, 'READONLY', undefined, 'READONLY']],
    [block, [undefined, 'READONLY', undefined, undefined, 'READONLY']],
    [block, [undefined, undefined, undefined, 'OOM', 'READONLY']],
    [block, [undefined, 'OOM', undefined, undefined, 'READONLY']],
    [block, [undefined, undefined, undefined, undefined, 'READONLY']],
    [badArity, [undefined, undefined, undefined, undefined, 'READONLY']],
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
    const real = await startRedis();
    const ctl: Redis = client(real.port);
    let want: string[];
    try {
      await ctl.connect();
      let state: string | undefined;
      want = await oneByOne(real.port, block, async (i) => {
        if (state === plan[i]) return;
        if (state !== undefined) await ctl.call(STATE_OF[state][1][0], ...STATE_OF[state][1].slice(1));
        state = plan[i];
        if (state !== undefined) await ctl.call(STATE_OF[state][0][0], ...STATE_OF[state][0].slice(1));
      });
      if (state !== undefined) await ctl.call(STATE_OF[state][1][0], ...STATE_OF[state][1].slice(1));
    } finally {
      ctl.disconnect();
      await real.stop();
    }
    // The proxy draws the same kinds for the same requests.
    let next = 0;
    const planned = defineBehavior({ name: 'planned', description: '', options: z.object({}), onExchange: () => { const kind = plan[next++]; return kind === undefined ? undefined : act.error(kind); } });
    const registry = new Map([...builtinBehaviors, planned].map((b) => [b.name, b]));
    await withProxy({ planned: 100 }, async (p) => {
      expect(await oneByOne(p.port, block, async () => {})).toEqual(want);
      // Each error a client got of the kinds drawn, the EXEC's 'because of: ...' with them, and no other.
      const told = want.filter((r) => / -(READONLY|OOM|EXECABORT Transaction discarded because of:) /.test(r)).length;
      expect(p.stats().behaviors.planned ?? 0).toBe(told);
    }, { registry });
  });
});
