/**
 * A MULTI block's EXEC through the proxy at 100:error of a kind, byte for byte as a redis-server
 * in that state answers it: EXECABORT 'because of previous errors' after a command refused as
 * it was queued, 'because of: <error>' when the state refuses the EXEC itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { cmd, inState, rawReplies, STATES } from './proxy-redis-real.js';

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
});
