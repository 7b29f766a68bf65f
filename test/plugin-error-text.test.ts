/**
 * A behavior can answer with its own error text (`act.error(kind, message)`, or the built-in
 * `error`'s `message` option), framed as the protocol's real error: real clients (ioredis, fetch)
 * read it as such, through a proxy in front of real servers.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinBehaviors } from '../behaviors/index.js';
import { act, defineBehavior, z, type Behavior } from '../src/proxy/plugin.js';
import { ProxySet } from '../src/proxy/proxy-set.js';
import { startHttpServer } from './helpers/http-server.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';

const maintenance = defineBehavior({
  name: 'maintenance',
  description: 'Answers GETs with a 503 and a JSON body of our own.',
  options: z.object({}),
  onExchange: (ctx) => (ctx.label?.startsWith('GET') ? act.error('503', '{"error":"down for maintenance"}\n') : act.forward()),
});
const customErr = defineBehavior({
  name: 'custom_err',
  description: 'Answers GET with -ERR naming the command.',
  options: z.object({}),
  onExchange: (ctx) => (ctx.label === 'GET' ? act.error('ERR', `custom\r\nfor ${ctx.label}`) : act.forward()),
});

const registryWith = (b: Behavior) => new Map([...builtinBehaviors, b].map((x) => [x.name, x]));

let web: Awaited<ReturnType<typeof startHttpServer>>;
beforeAll(async () => { web = await startHttpServer(); });
afterAll(async () => { await web.close(); });

describe('a behavior answers with its own error text', () => {
  it('HTTP: the plugin\'s body, with the status and a Content-Length that fit it', async () => {
    const set = new ProxySet(registryWith(maintenance));
    await set.start([{ name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${web.port}`, protocol: 'http', behaviors: '100:maintenance' }]);
    const port = set.get('web')!.port;
    const res = await fetch(`http://127.0.0.1:${port}/cart`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('{"error":"down for maintenance"}\n');
    // Other requests get the server's reply.
    const post = await fetch(`http://127.0.0.1:${port}/cart`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(200);
    await set.close(0);
  });
});

const run = haveServer('redis-server');
describe.skipIf(!run)('Redis: the error line is the plugin\'s, on one line', () => {
  let redis: RunningServer;
  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => { await redis.stop(); });

  it('ioredis gets -ERR with the plugin\'s text; the built-in error takes a message option too', async () => {
    const set = new ProxySet(registryWith(customErr));
    await set.start([{ name: 'cache', listen: '127.0.0.1:0', upstream: `127.0.0.1:${redis.port}`, protocol: 'redis', behaviors: '100:custom_err' }]);
    const p = set.get('cache')!;
    const client = new Redis({ host: '127.0.0.1', port: p.port, enableReadyCheck: false, maxRetriesPerRequest: 0, lazyConnect: true });
    await client.connect();
    try {
      expect(await client.set('k', 'v')).toBe('OK');
      await expect(client.get('k')).rejects.toThrow(/^ERR custom for GET$/);
      await p.setMix({ error: { percent: 100, kind: 'READONLY', message: 'replica in maintenance' } });
      await expect(client.set('k', 'w')).rejects.toThrow(/^READONLY replica in maintenance$/);
      await p.setMix('');
      expect(await client.get('k')).toBe('v');
    } finally {
      client.disconnect();
      await set.close(0);
    }
  });
});
