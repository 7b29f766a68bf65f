import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import type { MixSpec } from '../src/proxy/mix.js';
import { builtinBehaviors } from '../behaviors/index.js';
import { defineBehavior, z } from '../src/proxy/plugin.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { proxiesTo } from './helpers/with-proxy.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => { echo = await startEchoServer(); });
afterAll(async () => { await echo.close(); });

const withProxy = proxiesTo(() => echo.port, { protocol: 'tcp', seed: 7 });

describe('tcp proxy', () => {
  it('passes bytes through exactly with dummy', async () => {
    await withProxy('', async (p) => {
      const payload = Buffer.alloc(256 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
      const r = await exchange(p.port, payload, { want: payload.length });
      expect(r.reply.equals(payload)).toBe(true);
      expect(p.stats().bytes.upstream).toBe(payload.length);
    });
  });

  it('a stream both ways stays exact while both sides read into reused memory', async () => {
    // Bytes that differ along the whole stream: a piece overwritten by a later read cannot pass.
    const payload = Buffer.from(Array.from({ length: 6 * 1024 * 1024 }, (_, i) => (i * 7 + (i >> 8) + (i >> 16)) % 251));
    // A hook that keeps what it was shown, as a plugin may: it must stay what the client sent.
    const shown: { request: Buffer; copy: Buffer }[] = [];
    const keeper = defineBehavior({
      name: 'keeper',
      description: '',
      options: z.object({}),
      onExchange: (ctx) => { shown.push({ request: ctx.request, copy: Buffer.from(ctx.request) }); },
    });
    const registry = new Map([...builtinBehaviors, keeper].map((b) => [b.name, b]));
    // Chunks forwarded as they come; held back on their way up (delay) or down (latency); written
    // in pieces over time (slicer up, bandwidth down); shown to a hook.
    const mixes: MixSpec[] = [
      '',
      { delay: { percent: 20, sleep: 0.002 }, latency: { percent: 20, latency: 2 } },
      { slicer: { percent: 20, average_size: 4096, stream: 'upstream' }, bandwidth: { percent: 20, rate: 100_000 } },
      { keeper: 30 },
    ];
    for (const behaviors of mixes) {
      await withProxy(behaviors, async (p) => {
        const s = net.connect({ port: p.port, host: '127.0.0.1' });
        const got: Buffer[] = [];
        let size = 0;
        const done = new Promise<void>((resolve, reject) => {
          s.on('data', (c: Buffer) => { got.push(c); size += c.length; if (size >= payload.length) resolve(); });
          s.on('error', reject);
          setTimeout(() => reject(new Error(`${size} of ${payload.length} bytes after 20 s`)), 20_000);
        });
        // Not read for a while: the proxy's writes to the client back up while the echo goes on.
        s.pause();
        for (let at = 0, k = 0; at < payload.length; k++) {
          const n = [1, 333, 4096, 65_536, 150_000][k % 5];
          s.write(payload.subarray(at, at + n));
          at += n;
        }
        await new Promise((r) => setTimeout(r, 300));
        s.resume();
        await done;
        s.destroy();
        expect(Buffer.concat(got).equals(payload)).toBe(true);
        // The delays and pieces happened (the keeper acts on nothing: it is checked below).
        if (typeof behaviors === 'object' && !('keeper' in behaviors)) {
          expect(Object.entries(p.stats().behaviors).filter(([k, n]) => k !== 'dummy' && n > 0)).toHaveLength(2);
        }
      }, { registry });
    }
    expect(shown.length).toBeGreaterThan(0);
    for (const { request, copy } of shown) expect(request.equals(copy)).toBe(true);
  });

  it('delay holds the request for `sleep` seconds', async () => {
    await withProxy({ delay: { percent: 100, sleep: 0.2 } }, async (p) => {
      const r = await exchange(p.port, 'ping', { want: 4 });
      expect(r.reply.toString()).toBe('ping');
      expect(r.ms).toBeGreaterThanOrEqual(195);
      expect(p.stats().behaviors.delay).toBe(1);
    });
  });

  it('latency delays the reply', async () => {
    await withProxy({ latency: { percent: 100, latency: 150 } }, async (p) => {
      const r = await exchange(p.port, 'ping', { want: 4 });
      expect(r.reply.toString()).toBe('ping');
      expect(r.ms).toBeGreaterThanOrEqual(145);
    });
  });

  it('blackout closes the client without reaching the server', async () => {
    await withProxy('100:blackout', async (p) => {
      const r = await exchange(p.port, 'ping');
      expect(r.closed).toBe(true);
      expect(r.reply.length).toBe(0);
    });
  });

  it('hang never answers', async () => {
    await withProxy('100:hang', async (p) => {
      const r = await exchange(p.port, 'ping', { timeoutMs: 300 });
      expect(r.error).toBe('timeout');
      expect(r.reply.length).toBe(0);
    });
  });

  it('error sends random bytes (tcp has no protocol error)', async () => {
    await withProxy('100:error', async (p) => {
      const r = await exchange(p.port, 'ping', { want: 1000 });
      expect(r.reply.length).toBe(1000);
      expect(r.reply.toString()).not.toContain('ping');
    });
  });

  it('reset_peer resets the connection', async () => {
    await withProxy({ reset_peer: { percent: 100, timeout: 50 } }, async (p) => {
      const r = await exchange(p.port, 'ping');
      expect(r.closed).toBe(true);
      expect(r.error).toBe('ECONNRESET');
      expect(r.ms).toBeGreaterThanOrEqual(45);
    });
  });

  it('a reset from either side reaches the other as a reset, after the bytes that came before it', async () => {
    // A backend that answers, then resets the connection (as a crashed one's kernel does), and
    // records how each of the proxy's connections to it ended once it had bytes on it.
    const ends: Promise<string>[] = [];
    const backend = net.createServer((s) => {
      const end = new Promise<string>((resolve) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        s.on('close', () => resolve('close'));
      });
      s.on('data', (d) => {
        ends.push(end);
        if (String(d) === 'reset me') {
          s.write('bye');
          setTimeout(() => s.resetAndDestroy(), 50);
        }
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const upstream = (backend.address() as net.AddressInfo).port;
    await withProxy('', async (p) => {
      const r = await exchange(p.port, 'reset me');
      expect(r.reply.toString()).toBe('bye');
      expect(r.error).toBe('ECONNRESET');
      // The other way: the client resets, the backend sees a reset.
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.write('hello');
      await expect.poll(() => ends.length).toBe(2);
      s.resetAndDestroy();
      expect(await ends[1]).toBe('ECONNRESET');
    }, { upstream }).finally(() => backend.close());
  });

  it('down at 100 % refuses connections and comes back', async () => {
    await withProxy('', async (p) => {
      await p.setMix('100:down');
      const r = await exchange(p.port, 'ping');
      expect(r.error).toBe('ECONNREFUSED');
      await p.setMix('');
      const ok = await exchange(p.port, 'ping', { want: 4 });
      expect(ok.reply.toString()).toBe('ping');
    });
  });

  it('a down toxic at toxicity 1 closes the listener like 100 % down; open connections stay', async () => {
    await withProxy('', async (p) => {
      const open = net.connect({ port: p.port, host: '127.0.0.1' });
      await new Promise((r) => open.once('connect', r));
      p.addToxic({ name: 'dn', type: 'down' });
      expect(p.refusesAll).toBe(true);
      expect((await exchange(p.port, 'ping')).error).toBe('ECONNREFUSED');
      // The connection opened before still passes.
      const echoed = new Promise<string>((r) => open.once('data', (c) => r(c.toString())));
      open.write('still');
      expect(await echoed).toBe('still');
      open.destroy();
      // One that can miss lets connections in: reset, counted under down, not in `refused`.
      p.updateToxic('dn', { toxicity: 0.999 });
      await p.listenerReady();
      expect(p.refusesAll).toBe(false);
      p.updateToxic('dn', { toxicity: 1 });
      p.removeToxic('dn');
      await p.listenerReady();
      expect((await exchange(p.port, 'ping', { want: 4 })).reply.toString()).toBe('ping');
      p.addToxic({ name: 'dn', type: 'down', toxicity: 0.5 });
      await p.listenerReady();
      const tries = [];
      for (let i = 0; i < 20; i++) tries.push(await exchange(p.port, 'x', { want: 1 }));
      const resets = tries.filter((r) => r.error === 'ECONNRESET').length;
      expect(resets).toBeGreaterThan(0);
      expect(p.stats().behaviors.down).toBe(resets);
      expect(p.stats().connections.refused).toBe(0);
    });
  });

  it('a proxy started at 100 % down binds, then refuses; its own toxicity below 1 does not close it', async () => {
    await withProxy('100:down', async (p) => {
      expect(p.port).toBeGreaterThan(0);
      expect((await exchange(p.port, 'ping')).error).toBe('ECONNREFUSED');
      await p.setMix({ down: { percent: 100, toxicity: 0.5 } });
      const tries = [];
      for (let i = 0; i < 20; i++) tries.push(await exchange(p.port, 'x', { want: 1 }));
      expect(tries.some((r) => r.error === 'ECONNRESET')).toBe(true);
      expect(tries.some((r) => r.reply.toString() === 'x')).toBe(true);
    });
  });

  it('limit_data cuts the stream after N bytes', async () => {
    await withProxy({ limit_data: { percent: 100, bytes: 10 } }, async (p) => {
      const r = await exchange(p.port, 'x'.repeat(100));
      expect(r.closed).toBe(true);
      expect(r.reply.length).toBe(10);
    });
  });

  it('bandwidth paces the reply', async () => {
    await withProxy({ bandwidth: { percent: 100, rate: 100 } }, async (p) => {
      const r = await exchange(p.port, Buffer.alloc(30_000, 1), { want: 30_000 });
      expect(r.reply.length).toBe(30_000);
      expect(r.ms).toBeGreaterThanOrEqual(200);
    });
  });

  it('bandwidth with scope: proxy is one link its connections share; per connection, each gets the rate', async () => {
    const fourAtOnce = async (scope: string) => {
      let ms = 0;
      await withProxy({ bandwidth: { percent: 100, rate: 100, scope } }, async (p) => {
        const started = performance.now();
        const replies = await Promise.all([1, 2, 3, 4].map(() => exchange(p.port, Buffer.alloc(25_000, 1), { want: 25_000 })));
        ms = performance.now() - started;
        for (const r of replies) expect(r.reply.length).toBe(25_000);
      });
      return ms;
    };
    // 100 KB at 100 KB/s in all on one link; 25 KB at 100 KB/s on each of four.
    const shared = await fourAtOnce('proxy');
    const own = await fourAtOnce('connection');
    expect(shared).toBeGreaterThanOrEqual(950);
    expect(own).toBeLessThan(shared / 2);
  });

  it('gives the configured share of faults, replayable with a seed', async () => {
    const run = async () => {
      let seen = '';
      await withProxy('30:error', async (p) => {
        for (let i = 0; i < 200; i++) {
          const r = await exchange(p.port, 'abcd', { want: 4 });
          seen += r.reply.toString() === 'abcd' ? '.' : 'E';
        }
        expect(p.stats().behaviors.error).toBe([...seen].filter((c) => c === 'E').length);
      });
      return seen;
    };
    const a = await run();
    const b = await run();
    expect(a).toBe(b);
    const share = [...a].filter((c) => c === 'E').length / a.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.4);
  });

  it('a dead upstream closes the client promptly and the proxy keeps serving', async () => {
    await withProxy('', async (p) => {
      const r = await exchange(p.port, 'ping');
      expect(r.closed).toBe(true);
      expect(r.ms).toBeLessThan(1000);
      expect(p.stats().connections.upstreamErrors).toBe(1);
      p.setUpstream(`127.0.0.1:${echo.port}`);
      const ok = await exchange(p.port, 'ping', { want: 4 });
      expect(ok.reply.toString()).toBe('ping');
    }, { upstream: 1 });
  });
});

describe('toxics (stacked, Toxiproxy-style)', () => {
  it('stack on the mix, update in place, and come off', async () => {
    await withProxy('', async (p) => {
      p.addToxic({ type: 'latency', attributes: { latency: 120 } });
      p.addToxic({ type: 'latency', name: 'up', stream: 'upstream', attributes: { latency: 60 } });
      let r = await exchange(p.port, 'ping', { want: 4 });
      expect(r.ms).toBeGreaterThanOrEqual(175);
      expect(() => p.addToxic({ type: 'latency' })).toThrow('toxic already exists');
      p.updateToxic('latency_downstream', { attributes: { latency: 10 } });
      expect(p.listToxics().find((t) => t.name === 'latency_downstream')!.attributes).toEqual({ latency: 10, jitter: 0 });
      p.removeToxic('up');
      r = await exchange(p.port, 'ping', { want: 4 });
      expect(r.ms).toBeLessThan(60);
      expect(r.ms).toBeGreaterThanOrEqual(9);
      p.removeToxic('latency_downstream');
      expect(p.describe()).toBe('100:dummy');
    });
  });

  it('toxicity 0 never acts, and an unknown type or stream is refused like Toxiproxy', async () => {
    await withProxy('', async (p) => {
      p.addToxic({ type: 'timeout', toxicity: 0, attributes: { timeout: 10 } });
      expect((await exchange(p.port, 'ping', { want: 4 })).reply.toString()).toBe('ping');
      expect(() => p.addToxic({ type: 'nope' })).toThrow('invalid toxic type');
      expect(() => p.addToxic({ type: 'latency', stream: 'sideways' })).toThrow('stream was invalid, can be either upstream or downstream');
    });
  });

  it('disabling closes the listener and open connections; enabling listens again', async () => {
    await withProxy('', async (p) => {
      await p.setEnabled(false);
      expect((await exchange(p.port, 'x')).error).toBe('ECONNREFUSED');
      await p.setEnabled(true);
      expect((await exchange(p.port, 'ok', { want: 2 })).reply.toString()).toBe('ok');
    });
  });
});
