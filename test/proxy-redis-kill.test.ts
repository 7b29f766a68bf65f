/**
 * An application's recovery from BUSY (SCRIPT KILL) through the proxy, as on a redis-server
 * busy running a script: what ioredis is told equals what the busy server tells it.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy/proxy.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { client, cmd, inState, rawReplies } from './proxy-redis-real.js';

const run = haveServer('redis-server');

const told = (q: Promise<unknown>) => q.then((v) => String(v), (e: Error) => e.message);

/**
 * GET (BUSY on a busy server), FUNCTION KILL, SCRIPT KILL, then GET until the killed script has
 * stopped (a busy server stops it at its next check), and SCRIPT KILL again.
 */
async function recovery(r: Redis): Promise<string[]> {
  const said: string[] = [];
  said.push(await told(r.get('sk:k')));
  said.push(await told(r.function('KILL')));
  said.push(await told(r.script('KILL')));
  let got = '';
  for (let i = 0; i < 100 && (got = await told(r.get('sk:k'))).startsWith('BUSY '); i++) await new Promise((res) => setTimeout(res, 20));
  said.push(got);
  said.push(await told(r.script('KILL')));
  return said;
}

describe.skipIf(!run)('redis: SCRIPT KILL after an injected BUSY', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startRedis(); });
  afterAll(async () => { await server?.stop(); });

  async function withProxy(fn: (p: Proxy) => Promise<void>) {
    const p = await startProxy({ name: 'r', listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}`, protocol: 'redis', behaviors: '', seed: 1 });
    try { await fn(p); } finally { await p.close(100); }
  }

  it('ioredis: the GET that draws BUSY, then FUNCTION KILL and SCRIPT KILL, answered as by a busy redis-server; the script killed, the next GET served', async () => {
    let want: string[] = [];
    await inState('BUSY', async (real) => {
      const r = client(real.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      want = await recovery(r);
      r.disconnect();
    });
    expect(want).toEqual([
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
      'OK',
      'null',
      'NOTBUSY No scripts in execution right now.',
    ]);
    await withProxy(async (p) => {
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      // The first exchange alone draws BUSY: the GET.
      await p.setMix({ transient: { percent: 100, warmup: 0, agitate: 1, kind: 'BUSY' } });
      expect(await recovery(r)).toEqual(want);
      expect(p.stats().behaviors.transient).toBe(1);
      r.disconnect();
    });
  });

  it('a kill not right after a BUSY, or queued in a block, is the server\'s; one drawing an error is not done', async () => {
    await withProxy(async (p) => {
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
