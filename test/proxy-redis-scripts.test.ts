/**
 * EVAL and FCALL through the proxy at 100:error READONLY, OOM and MISCONF, byte for byte as a
 * redis-server in that state answers them: a script that writes is refused, up front by its
 * shebang's flags or at its first write, said with the script's SHA1 and the line.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client, cmd, inState, rawReplies } from './proxy-redis-real.js';

const run = haveServer('redis-server');

/** The data and functions both servers hold: a function that writes (no flags) and one flagged no-writes. */
async function prepare(c: Redis): Promise<void> {
  await c.set('sc:k', 'v');
  await c.call('FUNCTION', 'LOAD', 'REPLACE', [
    '#!lua name=sclib',
    "redis.register_function('scw', function(keys) return redis.call('SET', keys[1], 'v') end)",
    "redis.register_function{function_name='scr', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}",
  ].join('\n'));
}

describe.skipIf(!run)('redis: scripts at 100:error as a redis-server in that state', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startRedis();
    const c = client(server.port);
    await c.connect();
    await prepare(c);
    c.disconnect();
  });
  afterAll(async () => { await server?.stop(); });
  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  const requests = [
    ['EVAL', "return redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "return redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "local x = 1\nredis.call('GET', 'sc:k')\nreturn redis.call(\"set\", 'sc:k', 'v')", '0'],
    ['EVAL', "redis.call('DEL', 'sc:none')\nreturn redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "redis.call('INCR', 'sc:n') return 1", '0'],
    ['EVAL', "return redis.pcall('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "local ok = redis.pcall('SET', 'sc:k', 'v') return 1", '0'],
    ['EVAL', "#!lua\nreturn redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "#!lua flags=no-writes\nreturn redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "#!lua flags=allow-oom\nreturn redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL_RO', "return redis.call('GET', 'sc:k')", '0'],
    ['FCALL', 'scw', '1', 'sc:k'],
    ['FCALL_RO', 'scr', '1', 'sc:k'],
    ['MULTI'], ['EVAL', "#!lua\nreturn redis.call('GET', 'sc:k')", '0'], ['EXEC'],
    ['GET', 'sc:k'],
  ];

  it.each([['READONLY'], ['OOM'], ['MISCONF']])('100:error %s: EVAL and FCALL answered as by the server in that state', async (kind) => {
    const replies = async (port: number) => (await rawReplies(port, requests.map((r) => cmd(...r)))).map((r, i) => `${requests[i].join(' ')}: ${String(r)}`);
    await inState(kind, async (real) => {
      const want = await replies(real.port);
      expect(want).toHaveLength(requests.length);
      expect(want[0]).toMatch(new RegExp(`: -${kind} .* script: [0-9a-f]{40}, on @user_script:1\\.\\r\\n$`));
      await withProxy({ error: { percent: 100, kind } }, async (p) => expect(await replies(p.port)).toEqual(want));
    }, prepare);
  });
});
