/**
 * A SUBSCRIBE the redis-server behind the proxy refuses itself leaves the connection as the
 * server does, in normal mode: the proxy goes on framing and faulting its commands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client } from './proxy-redis-real.js';

const run = haveServer('redis-server');

describe.skipIf(!run)('redis: a SUBSCRIBE refused by the server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startRedis();
    const admin = client(server.port);
    await admin.connect();
    // No channel of its own (redis 7.0's acl-pubsub-default is resetchannels): SUBSCRIBE gets NOPERM.
    await admin.call('ACL', 'SETUSER', 'nochan', 'on', '>pw', '~*', '+@all', 'resetchannels');
    await admin.set('ns:k', 'v');
    admin.disconnect();
  });
  afterAll(async () => { await server?.stop(); });

  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  const word = (e: Error) => e.message.split(' ')[0];

  // 100:error LOADING: a loading redis serves AUTH, INFO and SUBSCRIBE (flag loading), so the
  // server answers those itself, and refuses GET: each GET after the refused SUBSCRIBE is drawn.
  it.each([['SUBSCRIBE'], ['PSUBSCRIBE']])('an ACL refusing %s: ioredis gets NOPERM, and the connection stays framed and faulted', async (command) => {
    await withProxy({ error: { percent: 100, kind: 'LOADING' } }, async (p) => {
      const r = client(p.port, { username: 'nochan', password: 'pw' });
      await r.connect();
      const subscribe = command === 'SUBSCRIBE' ? r.subscribe('ns:ch') : r.psubscribe('ns:*');
      expect(await subscribe.then(() => 'subscribed', word)).toBe('NOPERM');
      for (let i = 0; i < 3; i++) expect(await r.get('ns:k').then(String, word)).toBe('LOADING');
      expect(p.stats().behaviors.error).toBe(3);
      expect(p.stats().fallbacks).toBe(0);
      r.disconnect();
    });
  });
});
