/**
 * What a proxy counts for PostgreSQL requests whose messages come over several reads (Parse,
 * Describe, Flush, then the rest): an error drawn as the first read came that the request is
 * never given (it runs nothing and its Sync comes, at a kind a real server gives only as a
 * statement runs, or at a deadlock) is no error in the counts, as in the one-read case; one the
 * client gets is. Its stats() behaviors and its statsd pings, over a real PostgreSQL, with raw
 * socket writes split on purpose.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxySet } from '../src/proxy/proxy-set.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { defaultRegistry } from '../behaviors/index.js';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { bind, execute, flush, messageClient, msg, parse, simple, sync, word, type Message } from './helpers/postgres-wire.js';

let db: RunningServer;

const withProxy = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });

const words = (ms: Message[]) => ms.map(word).join(' ');
const describeS = (name: string) => msg('D', Buffer.from(`S${name}\0`));

type Client = Awaited<ReturnType<typeof messageClient>>;

/** The client's write, and the words of the server's messages up to the next of `type`. */
async function read(c: Client, type: string, ...ms: Buffer[]): Promise<string> {
  c.write(Buffer.concat(ms));
  return words(await c.until(type));
}

/** The behaviors counted since the last call, those unchanged left out. */
function counter(p: Proxy): () => Record<string, number> {
  let before: Record<string, number> = { ...p.stats().behaviors };
  return () => {
    const now = p.stats().behaviors;
    const delta: Record<string, number> = {};
    for (const [name, n] of Object.entries(now)) if (n !== (before[name] ?? 0)) delta[name] = n - (before[name] ?? 0);
    before = { ...now };
    return delta;
  };
}

describe.skipIf(!havePostgres())('postgres: what the counts say acted is what the client saw (real PostgreSQL)', () => {
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(async () => {
    await db?.stop();
  });

  // The proxy counted the error drawn as the first read came, given or not: `error` for an
  // exchange the client got the server's own answers for, where the one-read case counts `dummy`.
  it('counts a request over several reads that is served dummy, and one that fails error', async () => {
    await withProxy('', async (p) => {
      const c = await messageClient(p.port);
      try {
        const since = counter(p);
        const seen: [string, string, Record<string, number>][] = [];
        const step = async (kind: string, block: boolean, ...reads: [string, Buffer[]][]) => {
          if (block) await read(c, 'Z', simple('BEGIN'));
          since();
          await p.setMix({ error: { percent: 100, kind } });
          const out: string[] = [];
          for (const [type, ms] of reads) out.push(await read(c, type, ...ms));
          await p.setMix('');
          seen.push([kind, out.join(' / '), since()]);
          if (block) await read(c, 'Z', simple('ROLLBACK'));
        };
        // In one read, for reference: served, nothing acted.
        await step('40001', false, ['Z', [parse('SELECT 1', 'a'), describeS('a'), sync()]]);
        // Over several reads, served at the Sync: nothing acted either.
        await step('40001', false, ['T', [parse('SELECT 2', 'b'), describeS('b'), flush()]], ['Z', [sync()]]);
        await step('40P01', false, ['T', [parse('SELECT 3', 'c'), describeS('c'), flush()]], ['Z', [sync()]]);
        await step('25006', true, ['n', [parse('COMMIT', 'd'), describeS('d'), flush()]], ['Z', [sync()]]);
        // Over several reads, failed: at the Sync (a statement timeout), at the Execute.
        await step('57014', false, ['T', [parse('SELECT 4', 'e'), describeS('e'), flush()]], ['Z', [sync()]]);
        await step('40001', false, ['T', [parse('SELECT 5', 'f'), describeS('f'), flush()]], ['Z', [bind('f'), execute(), sync()]]);
        expect(seen).toEqual([
          ['40001', '1 t T ZI', { dummy: 1 }],
          ['40001', '1 t T / ZI', { dummy: 1 }],
          ['40P01', '1 t T / ZI', { dummy: 1 }],
          ['25006', '1 t n / ZT', { dummy: 1 }],
          ['57014', '1 t T / E57014 ZI', { error: 1 }],
          ['40001', '1 t T / 2 E40001 ZI', { error: 1 }],
        ]);
        // A client that leaves before its Sync was given nothing either.
        const left = await messageClient(p.port);
        since();
        await p.setMix({ error: { percent: 100, kind: '40001' } });
        expect(await read(left, 'T', parse('SELECT 6', 'g'), describeS('g'), flush())).toBe('1 t T');
        left.close();
        const deadline = Date.now() + 5000;
        while (p.stats().connections.open > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await p.setMix('');
        expect(since()).toEqual({ dummy: 1 });
        const s = p.stats();
        // Every exchange is counted once: the startups, the BEGINs and ROLLBACKs, the requests.
        expect(Object.values(s.behaviors).reduce((a, b) => a + b, 0)).toBe(s.exchanges);
      } finally {
        c.close();
      }
    });
  });

  // A statsd ping goes once the error is given: none for the request served at its Sync.
  it('pings statsd for the error the client got, not for the one it was never given', async () => {
    const sock = dgram.createSocket('udp4');
    const packets: string[] = [];
    sock.on('message', (m) => packets.push(...String(m).split('\n')));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const set = new ProxySet(defaultRegistry);
    try {
      await set.start(
        [{ name: 'pg', listen: '127.0.0.1:0', upstream: `127.0.0.1:${db.port}`, protocol: 'postgres', behaviors: '', seed: 1 }],
        { host: '127.0.0.1', port: sock.address().port, prefix: 'c', sample_rate: 1 },
      );
      const p = set.get('pg')!;
      const c = await messageClient(p.port);
      try {
        await p.setMix({ error: { percent: 100, kind: '40001' } });
        expect(await read(c, 'T', parse('SELECT 1', 'a'), describeS('a'), flush())).toBe('1 t T');
        expect(await read(c, 'Z', sync())).toBe('ZI');
        await p.setMix({ error: { percent: 100, kind: '57014' } });
        expect(await read(c, 'T', parse('SELECT 2', 'b'), describeS('b'), flush())).toBe('1 t T');
        expect(await read(c, 'Z', sync())).toBe('E57014 ZI');
      } finally {
        c.close();
      }
      const errors = () => packets.filter((x) => x === 'c.pg.error:1|c').length;
      const deadline = Date.now() + 3000;
      while (errors() < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Pings go in order over loopback: one for the first request would be in by now.
      await new Promise((r) => setTimeout(r, 100));
      expect(errors()).toBe(1);
      expect(p.stats().behaviors.error).toBe(1);
    } finally {
      await set.close(0);
      sock.close();
    }
  });
});
