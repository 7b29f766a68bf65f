/**
 * The redis command flags the proxy decides its injected errors by (redis-commands.ts) against
 * the redis-server at hand's COMMAND INFO.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_FLAGS } from '../src/proxy/protocols/redis-commands.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';

/** COMMAND INFO's entry: name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands. */
type Info = [string, number, string[], number, number, number, string[], string[], unknown[], Info[]];

/** redis-commands.ts' letters for one command, as its header says. */
function letters([, , flags, first, last, , , , specs]: Info): string {
  const has = (f: string) => flags.includes(f);
  const keys = specs.length > 0 || has('movablekeys');
  const several = has('movablekeys') || specs.length > 1 || last < 0 || last > first;
  return [has('write') && 'w', has('denyoom') && 'o', has('loading') && 'l', has('stale') && 's', has('allow_busy') && 'b', has('no_auth') && 'a', keys && 'k', several && 'm']
    .filter(Boolean).join('');
}

describe.skipIf(!haveServer('redis-server'))('redis command flags against redis-server', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startRedis(); });
  afterAll(async () => { await server?.stop(); });

  it('the table says what COMMAND INFO says, for every command and subcommand it lists', async () => {
    const r = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    await r.connect();
    try {
      const infos = (await r.call('COMMAND')) as Info[];
      const live: Record<string, string> = {};
      for (const c of infos) for (const one of [c, ...(c[9] ?? [])]) live[one[0].toUpperCase()] = letters(one);
      expect(Object.keys(live).length).toBeGreaterThan(300);
      expect(COMMAND_FLAGS).toEqual(live);
    } finally {
      r.disconnect();
    }
  });
});
