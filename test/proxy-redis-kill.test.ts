/**
 * An application's recovery from BUSY (SCRIPT KILL) through the proxy, as on a redis-server
 * busy running a script: what ioredis is told equals what the busy server tells it.
 */
import type { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client, cmd, inState, rawReplies } from './proxy-redis-real.js';

const run = haveServer('redis-server');

const told = (q: Promise<unknown>) => q.then((v) => String(v), (e: Error) => e.message);

/** The commands of the recovery, as a client sends them. */
interface Calls {
  get(): Promise<unknown>;
  functionKill(): Promise<unknown>;
  scriptKill(): Promise<unknown>;
}

const ioredisCalls = (r: Redis): Calls => ({ get: () => r.get('sk:k'), functionKill: () => r.function('KILL'), scriptKill: () => r.script('KILL') });

/** node-redis (the `redis` package), RESP3, on `port`, not reconnecting. */
function nodeRedis(port: number) {
  const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  c.on('error', () => {});
  return Object.assign(c, { calls: (): Calls => ({ get: () => c.get('sk:k'), functionKill: () => c.functionKill(), scriptKill: () => c.scriptKill() }) });
}

/**
 * GET (BUSY on a busy server), FUNCTION KILL, SCRIPT KILL, then GET until the killed script has
 * stopped (a busy server stops it at its next check), and SCRIPT KILL again.
 */
async function recovery(r: Calls): Promise<string[]> {
  const said: string[] = [];
  said.push(await told(r.get()));
  said.push(await told(r.functionKill()));
  said.push(await told(r.scriptKill()));
  let got = '';
  for (let i = 0; i < 100 && (got = await told(r.get())).startsWith('BUSY '); i++) await new Promise((res) => setTimeout(res, 20));
  said.push(got);
  said.push(await told(r.scriptKill()));
  return said;
}

const BUSY_RECOVERY = [
  'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
  'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
  'OK',
  'null',
  'NOTBUSY No scripts in execution right now.',
];

describe.skipIf(!run)('redis: SCRIPT KILL after an injected BUSY', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startRedis(); });
  afterAll(async () => { await server?.stop(); });

  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  it('ioredis and node-redis: the GET that draws BUSY, then FUNCTION KILL and SCRIPT KILL, answered as by a busy redis-server; the script killed, the next GET served', async () => {
    const want: string[][] = [];
    await inState('BUSY', async (real) => {
      const r = client(real.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      want.push(await recovery(ioredisCalls(r)));
      r.disconnect();
    });
    await inState('BUSY', async (real) => {
      const c = nodeRedis(real.port);
      await c.connect();
      want.push(await recovery(c.calls()));
      c.destroy();
    });
    expect(want).toEqual([BUSY_RECOVERY, BUSY_RECOVERY]);
    await withProxy('', async (p) => {
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      // The first exchange alone draws BUSY: the GET.
      await p.setMix({ transient: { percent: 100, warmup: 0, agitate: 1, kind: 'BUSY' } });
      expect(await recovery(ioredisCalls(r))).toEqual(BUSY_RECOVERY);
      expect(p.stats().behaviors.transient).toBe(1);
      r.disconnect();
    });
    await withProxy('', async (p) => {
      const c = nodeRedis(p.port);
      await c.connect();
      await p.setMix({ transient: { percent: 100, warmup: 0, agitate: 1, kind: 'BUSY' } });
      expect(await recovery(c.calls())).toEqual(BUSY_RECOVERY);
      expect(p.stats().behaviors.transient).toBe(1);
      c.destroy();
    });
  });

  it('a kill not right after a BUSY, or queued in a block, is the server\'s; one drawing an error is not done', async () => {
    await withProxy('', async (p) => {
      await p.setMix({ transient: { percent: 100, warmup: 0, agitate: 1, kind: 'BUSY' } });
      // BUSY on the GET; the PING between is served, so the script had ended.
      const between = await rawReplies(p.port, [cmd('GET', 'sk:k'), cmd('PING'), cmd('SCRIPT', 'KILL')]);
      expect(between.map(String)).toEqual([
        '-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n', '+PONG\r\n', '-NOTBUSY No scripts in execution right now.\r\n',
      ]);
      await p.setMix({ transient: { percent: 100, warmup: 1, agitate: 1, kind: 'BUSY' } });
      const queued = await rawReplies(p.port, [cmd('MULTI'), cmd('GET', 'sk:k'), cmd('SCRIPT', 'KILL'), cmd('EXEC')]);
      expect(queued.map(String)).toEqual([
        '+OK\r\n', '-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n', '+QUEUED\r\n',
        '-EXECABORT Transaction discarded because of previous errors.\r\n',
      ]);
      // LOADING refuses SCRIPT KILL: the kill is withheld (a PING goes in its place), the error its reply.
      const direct = client(server.port);
      await direct.connect();
      await direct.call('CONFIG', 'RESETSTAT');
      await p.setMix({ error: { percent: 100, kind: 'LOADING' } });
      const refused = await rawReplies(p.port, [cmd('SCRIPT', 'KILL'), cmd('FUNCTION', 'KILL')]);
      expect(refused.map(String)).toEqual(['-LOADING Redis is loading the dataset in memory\r\n', '-LOADING Redis is loading the dataset in memory\r\n']);
      const stats = String(await direct.call('INFO', 'commandstats'));
      expect(stats).not.toMatch(/kill/);
      expect(stats).toMatch(/cmdstat_ping:calls=2,/);
      direct.disconnect();
    });
  });
});
