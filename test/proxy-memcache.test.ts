/**
 * memcached against the real server: the framer on real replies, then the chaos proxy between
 * memcache-client and the server.
 */
import net from 'node:net';
import { MemcacheClient, type MultiRetrievalResponse } from 'memcache-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Segment } from '../src/proxy/protocol.js';
import { memcache as memcacheProtocol } from '../src/proxy/protocols/memcache.js';
import { parseCommand, Reply } from '../src/proxy/protocols/memcache-lines.js';
import { rawExchange } from './helpers/net.js';
import { haveServer, startMemcached, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';

const run = haveServer('memcached');

/** On one socket: write each step's data, then wait until the replies end with its marker. */
async function steps(port: number, list: Array<[string, string]>, timeoutMs = 5000): Promise<string> {
  const s = net.connect({ port, host: '127.0.0.1' });
  let got = '';
  let wake = () => {};
  s.on('data', (c: Buffer) => { got += c.toString('latin1'); wake(); });
  try {
    for (const [data, marker] of list) {
      const before = got.length;
      s.write(data);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${marker}" in ${JSON.stringify(got)}`)), timeoutMs);
        wake = () => { if (got.slice(before).endsWith(marker)) { clearTimeout(timer); resolve(); } };
        wake();
      });
    }
    return got;
  } finally {
    s.destroy();
  }
}

function frame(requests: Buffer, replyChunks: Buffer[]) {
  const s = memcacheProtocol.createSession();
  const reqs = s.fromClient(requests);
  const reps: Segment[] = [];
  for (const c of replyChunks) reps.push(...s.fromServer(c));
  expect(s.buffered()).toBe(0);
  expect(Buffer.concat(reps.map((x) => x.data)).equals(Buffer.concat(replyChunks))).toBe(true);
  const starts = reqs.filter((x) => x.start && !x.passthrough);
  return {
    requests: starts,
    expecting: starts.filter((x) => !x.noReply).length,
    replies: reps.filter((x) => x.end && !x.passthrough),
    passthrough: reps.filter((x) => x.passthrough),
  };
}

const END_MARKER = '__end__\r\nEND\r\n';
const big = 'B'.repeat(500_000);
/** Replies to these do not change from one run to the next (no cas values, times or stats). */
const deterministic = [
  'flush_all', 'set a 0 0 5\r\nhello', 'get a', 'get a b missing', 'add a 0 0 1\r\nx', 'replace nope 0 0 1\r\nx',
  'append a 0 0 3\r\n!!!', 'prepend a 0 0 1\r\n<', 'set n 0 0 1\r\n5', 'incr n 10', 'decr n 3', 'incr nope 1', 'touch a 100',
  'gat 100 a', 'delete n', 'delete n', `set big 7 0 ${big.length}\r\n${big}`, 'get big', 'set q 0 0 1 noreply\r\nq',
  'delete q noreply', 'version', 'verbosity 0', '', 'bogus', 'set bad 0 0 -1', 'ms m 3 T0 F5\r\nabc', 'mg m v f s',
  'mg missing v', 'ma cnt N0 J7 v', 'md m', 'md m', 'mn', 'set zzend 0 0 7\r\n__end__', 'get zzend',
];
const varying = ['gets a', 'gats 100 a big', 'cas a 0 0 1 999\r\nz', 'stats', 'stats slabs', 'stats items', 'stats settings', 'me cnt', 'mg a c t'];
const toWire = (lines: string[]) => Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');

describe.skipIf(!run)('memcache: framer and proxy against memcached', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startMemcached(); });
  afterAll(async () => { await server?.stop(); });

  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 1 });

  const newClient = (port: number, opts: Record<string, unknown> = {}) =>
    new MemcacheClient({ server: `127.0.0.1:${port}`, cmdTimeout: 3000, ...opts });

  it('the framer finds one reply per request in real traffic (classic and meta commands, stats, noreply)', async () => {
    const lines = [...deterministic.slice(0, -2), ...varying, ...deterministic.slice(-2)];
    const wire = toWire(lines);
    const chunks = await rawExchange(server.port, wire, END_MARKER);
    const f = frame(wire, chunks);
    expect(f.requests).toHaveLength(lines.length);
    expect(f.expecting).toBe(lines.length - 2);
    expect(f.replies).toHaveLength(f.expecting);
    expect(f.passthrough).toHaveLength(0);
    const texts = f.replies.map((r) => r.data.toString('latin1'));
    expect(texts.find((t) => t.startsWith('STAT pid '))).toMatch(/END\r\n$/);
    expect(texts).toContain('VA 3 f5 s3\r\nabc\r\n');
  });

  it('pass-through is byte-exact and the proxy never gives up framing', async () => {
    const wire = toWire(deterministic);
    const direct = Buffer.concat(await rawExchange(server.port, wire, END_MARKER));
    await withProxy('', async (p) => {
      const proxied = Buffer.concat(await rawExchange(p.port, wire, END_MARKER));
      expect(proxied.equals(direct)).toBe(true);
      const st = p.stats();
      expect(st.exchanges).toBe(deterministic.length);
      expect(st.fallbacks).toBe(0);
      expect(st.bytes.upstream).toBe(wire.length);
    });
  });

  it('memcache-client gets the same results through the proxy as directly', async () => {
    const scenario = async (c: MemcacheClient) => {
      const out: unknown[] = [];
      const buf = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
      out.push(await c.set('s1', 'hello'), (await c.get<string>('s1'))?.value, await c.get('nothing'));
      out.push(await c.set('s2', buf), ((await c.get<Buffer>('s2'))?.value as Buffer).equals(buf));
      out.push(await c.set('s3', { a: [1, 2], b: 'x' }), (await c.get('s3'))?.value);
      out.push(await c.set('big', big), ((await c.get<string>('big'))?.value ?? '').length);
      const multi = await c.get<MultiRetrievalResponse>(['s1', 's3', 'nothing']);
      out.push(Object.keys(multi).sort(), multi.s1.value);
      const g = await c.gets<string>('s1');
      out.push(await c.cas('s1', 'changed', { casUniq: g!.casUniq }), (await c.get<string>('s1'))?.value);
      out.push(await c.cas('s1', 'again', { casUniq: g!.casUniq }).catch((e: Error) => e.message));
      out.push(await c.set('cnt', '10'), await c.incr('cnt', 5), await c.decr('cnt', 2));
      out.push(await c.delete('cnt'), await c.delete('cnt').catch((e: Error) => e.message));
      out.push(await c.touch('s1', 100), await c.replace('none', 'x').catch((e: Error) => e.message));
      await c.set('fire', 'forget', { noreply: true });
      out.push((await c.get<string>('fire'))?.value);
      const settled = await Promise.all(Array.from({ length: 200 }, (_, i) => c.set(`p${i}`, String(i)).then(() => c.get<string>(`p${i}`))));
      out.push(settled.map((r) => r?.value));
      out.push(Object.keys((await c.cmd<{ STAT: string[][] }>('stats')).STAT.reduce((a, s) => ({ ...a, [s[0]]: 1 }), {})).includes('pid'));
      out.push(await c.version());
      c.shutdown();
      return out;
    };
    const direct = await scenario(newClient(server.port));
    await withProxy('', async (p) => {
      expect(await scenario(newClient(p.port))).toEqual(direct);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  it('100:error gives memcache-client the protocol error of each kind, and the connection keeps working', async () => {
    const expected: Record<string, { get: string; set: string }> = {
      SERVER_ERROR: { get: 'SERVER_ERROR out of memory writing get response', set: 'SERVER_ERROR out of memory storing object' },
      too_large: { get: 'SERVER_ERROR object too large for cache', set: 'SERVER_ERROR object too large for cache' },
      busy: { get: 'SERVER_ERROR temporary failure', set: 'SERVER_ERROR temporary failure' },
      backend: { get: 'SERVER_ERROR backend failure', set: 'SERVER_ERROR backend failure' },
      CLIENT_ERROR: { get: 'CLIENT_ERROR bad command line format', set: 'CLIENT_ERROR bad data chunk' },
      ERROR: { get: 'ERROR', set: 'ERROR' },
    };
    expect(Object.keys(expected).sort()).toEqual(Object.keys(memcacheProtocol.errorKinds).sort());
    await withProxy('', async (p) => {
      const c = newClient(p.port);
      await c.set('ek', 'ok');
      for (const [kind, msg] of Object.entries(expected)) {
        await p.setMix({ error: { percent: 100, kind } });
        const e1 = await c.get('ek').then(() => undefined, (e: Error & { cmdTokens?: string[] }) => e);
        expect(e1?.message, kind).toBe(msg.get);
        expect(e1?.cmdTokens?.[0]).toBe(msg.get.split(' ')[0]);
        const e2 = await c.set('ek', 'changed').then(() => undefined, (e: Error) => e);
        expect(e2?.message, kind).toBe(msg.set);
        // noreply: the server answers nothing, so the proxy never faults it (withholding it would
        // lose the write silently): it reaches the server even at 100 % error, and the stream
        // stays in step.
        await c.set('ek', 'forwarded', { noreply: true });
        await expect(c.get('ek')).rejects.toThrow(msg.get);
        await p.setMix('');
        expect((await c.get<string>('ek'))?.value).toBe('forwarded');
        await c.set('ek', 'ok');
      }
      expect(p.stats().connections.total).toBe(1);
      expect(p.stats().fallbacks).toBe(0);
      c.shutdown();
    });
  });

  it('50:error with a seed gives about half errors, replayably', async () => {
    const runOnce = async () => {
      let seen = '';
      await withProxy('50:error', async (p) => {
        const c = newClient(p.port);
        for (let i = 0; i < 400; i++) {
          seen += await c.version().then(() => '.', (e: Error) => (e.message.startsWith('SERVER_ERROR') ? 'E' : '?'));
        }
        expect(p.stats().behaviors.error).toBe([...seen].filter((x) => x === 'E').length);
        expect(p.stats().connections.total).toBe(1);
        c.shutdown();
      });
      return seen;
    };
    const a = await runOnce();
    expect(a).not.toContain('?');
    const errors = [...a].filter((x) => x === 'E').length;
    // Binomial(400, 0.5): sd = 10; +-40 is four sd.
    expect(errors).toBeGreaterThanOrEqual(160);
    expect(errors).toBeLessThanOrEqual(240);
    expect(await runOnce()).toBe(a);
  });

  it('100:delay (sleep 0.2) adds about 200 ms per command', async () => {
    await withProxy('', async (p) => {
      const c = newClient(p.port);
      let t = performance.now();
      await c.version();
      const base = performance.now() - t;
      await p.setMix({ delay: { percent: 100, sleep: 0.2 } });
      t = performance.now();
      expect(await c.set('dk', '1')).toEqual(['STORED']);
      const ms = performance.now() - t;
      expect(ms).toBeGreaterThanOrEqual(195);
      expect(ms).toBeLessThan(base + 1000);
      c.shutdown();
    });
  });

  it('100:blackout closes the connection under memcache-client', async () => {
    await withProxy('', async (p) => {
      const c = newClient(p.port);
      await c.version();
      await p.setMix('100:blackout');
      const err = await c.get('bk').then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/socket (end|close|error)/);
      c.shutdown();
    });
  });

  it('100:hang makes the command time out', async () => {
    await withProxy('', async (p) => {
      const c = newClient(p.port, { cmdTimeout: 300 });
      await c.version();
      await p.setMix('100:hang');
      const t = performance.now();
      const err = await c.get('hk').then(() => undefined, (e: Error) => e);
      expect(err?.message).toBe('Command timeout');
      expect(performance.now() - t).toBeGreaterThanOrEqual(290);
      c.shutdown();
    });
  });

  it('a meta command that cannot be told from a quiet one ahead falls back to raw pass-through and still works; a binary connection is framed and faulted', async () => {
    await withProxy('100:error', async (p) => {
      // The first request is faulted; then an mg behind an mg q, neither with an opaque, and
      // another mg v right behind them, which cannot tell their replies apart (an mn or a get
      // would), makes the connection raw: no more faults.
      const reply = await steps(p.port, [
        ['set qk 0 0 2\r\nhi\r\n', '\r\n'],
        ['mg qk v q\r\nmg nope v\r\nmg qk v\r\n', 'EN\r\nEN\r\n'],
        ['set qk 0 0 2\r\nhi\r\nmg qk v q\r\nmn\r\n', 'MN\r\n'],
      ]);
      expect(reply).toBe('SERVER_ERROR out of memory storing object\r\nEN\r\nEN\r\nSTORED\r\nVA 2\r\nhi\r\nMN\r\n');
      expect(p.stats().fallbacks).toBe(1);
      // Binary protocol: a version request (opcode 0x0b, opaque 9) answered with a binary error status.
      const bin = Buffer.alloc(24);
      bin[0] = 0x80;
      bin[1] = 0x0b;
      bin.writeUInt32BE(9, 12);
      const got = await new Promise<Buffer>((resolve, reject) => {
        const s = net.connect({ port: p.port, host: '127.0.0.1' }, () => s.write(bin));
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => {
          parts.push(d);
          const all = Buffer.concat(parts);
          if (all.length >= 24 && all.length >= 24 + all.readUInt32BE(8)) { s.destroy(); resolve(all); }
        });
        s.on('error', reject);
      });
      expect([got[0], got[1], got.readUInt16BE(6), got.readUInt32BE(12)]).toEqual([0x81, 0x0b, 0x82, 9]);
      expect(got.subarray(24).toString()).toBe('Out of memory');
      expect(p.stats().fallbacks).toBe(1);
    });
  });
});

describe('memcache command lines', () => {
  const parse = (line: string) => parseCommand(Buffer.from(line, 'latin1'), 0, line.length);
  it('reads the GET family from its bytes, and nothing that only looks like it', () => {
    for (const w of ['get', 'gets', 'gat', 'gats']) {
      expect(parse(`${w} a b c`)).toMatchObject({ kind: 'get', label: w, reply: Reply.Multi, noReply: false });
      expect(parse(`  ${w}`)).toMatchObject({ kind: 'get', label: w });
    }
    for (const w of ['GET', 'ge', 'gett', 'gits', 'gatx', 'get\u00e9', 'set']) expect(parse(`${w} k`).kind, w).not.toBe('get');
    expect(parse('set k 0 0 5 noreply')).toMatchObject({ kind: 'store', data: 5, noReply: true });
  });
});
