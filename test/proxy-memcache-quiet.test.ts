/**
 * memcache's binary quiet commands (GETQ, GETKQ, SETQ, DELETEQ, ...) in raw packets against a real
 * memcached, directly and through the chaos proxy: batches closed by a NOOP, by a GETK
 * (libmemcached's multi-get: GETKQ of one opaque), or by a plain GET. memjs sends no quiet command.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startMemcached, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { within } from './helpers/within.js';

const run = haveServer('memcached');

const OOM = 0x82;

interface Req { op: number; key?: string; extras?: Buffer; value?: string; opaque: number }
interface Rep { op: number; status: number; opaque: number; key: string; body: string }

function packet(r: Req): Buffer {
  const key = Buffer.from(r.key ?? '');
  const extras = r.extras ?? Buffer.alloc(0);
  const value = Buffer.from(r.value ?? '');
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = r.op;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(r.opaque, 12);
  return Buffer.concat([h, extras, key, value]);
}

function parse(b: Buffer): { reps: Rep[]; rest: Buffer } {
  const reps: Rep[] = [];
  let p = 0;
  while (p + 24 <= b.length) {
    const body = b.readUInt32BE(p + 8);
    if (p + 24 + body > b.length) break;
    const keyAt = p + 24 + b[p + 4];
    const keyEnd = keyAt + b.readUInt16BE(p + 2);
    reps.push({ op: b[p + 1], status: b.readUInt16BE(p + 6), opaque: b.readUInt32BE(p + 12), key: b.toString('latin1', keyAt, keyEnd), body: b.toString('latin1', keyEnd, p + 24 + body) });
    p += 24 + body;
  }
  return { reps, rest: b.subarray(p) };
}

/** A connection that sends batches and reads replies up to the one of the batch's last request. */
async function connect(port: number) {
  const s = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  let held: Buffer = Buffer.alloc(0);
  let got: Rep[] = [];
  let wake: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    const r = parse(Buffer.concat([held, d]));
    held = r.rest;
    got.push(...r.reps);
    wake?.();
  });
  return {
    async batch(reqs: Req[], what: string): Promise<Rep[]> {
      const last = reqs.at(-1)!;
      s.write(Buffer.concat(reqs.map(packet)));
      const done = () => got.some((r) => r.opaque === last.opaque && r.op === last.op);
      await within(what, new Promise<void>((resolve) => {
        wake = () => { if (done()) resolve(); };
        wake();
      }));
      const out = got;
      got = [];
      return out;
    },
    close: () => s.destroy(),
  };
}

const flags = Buffer.alloc(8);
const by = (delta: number) => { const b = Buffer.alloc(20); b.writeBigUInt64BE(BigInt(delta)); return b; };

/**
 * A batch whose replies do not depend on what the batch does (its writes fail or touch keys it
 * does not read), opaques from `o`: hits, misses, and failures memcached answers.
 */
function batch(ns: string, o: number, closer: 'noop' | 'get'): Req[] {
  const reqs: Req[] = [
    { op: 0x09, key: `${ns}:hit`, opaque: o },              // GETQ hit: answered
    { op: 0x09, key: `${ns}:miss`, opaque: o + 1 },         // GETQ miss: silence
    { op: 0x0d, key: `${ns}:hit`, opaque: o + 2 },          // GETKQ hit: answered with the key
    { op: 0x0d, key: `${ns}:miss`, opaque: o + 3 },         // GETKQ miss: silence
    { op: 0x14, key: `${ns}:miss`, opaque: o + 4 },         // DELETEQ missing: 0x01 Not found
    { op: 0x12, key: `${ns}:hit`, extras: flags, value: 'x', opaque: o + 5 }, // ADDQ existing: 0x02
    { op: 0x15, key: `${ns}:hit`, extras: by(1), opaque: o + 6 },             // INCRQ non-numeric: 0x06
    { op: 0x11, key: `${ns}:w${o}`, extras: flags, value: 'w', opaque: o + 7 }, // SETQ: silence
    { op: 0x19, key: `${ns}:miss`, value: 'x', opaque: o + 8 },               // APPENDQ missing: 0x05
  ];
  reqs.push(closer === 'noop' ? { op: 0x0a, opaque: o + 9 } : { op: 0x00, key: `${ns}:hit`, opaque: o + 9 });
  return reqs;
}

/** Replies keyed by opaque, the namespace taken out of keys. */
const byOpaque = (reps: Rep[], ns: string) => new Map(reps.map((r) => [r.opaque, { ...r, key: r.key.replace(`${ns}:`, '') }]));

describe.skipIf(!run)('memcache binary quiet commands through the proxy to memcached', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 7 });

  /** `ns`'s hit key holds a value, set directly. */
  async function seed(ns: string) {
    const c = await connect(server.port);
    await c.batch([{ op: 0x01, key: `${ns}:hit`, extras: flags, value: 'v', opaque: 1 }], 'set');
    c.close();
  }

  it('memcached answers quiet commands that fail or hit, and nothing else; the proxy passes them framed, one exchange each', async () => {
    await seed('pq');
    const direct = await connect(server.port);
    const expected = await direct.batch(batch('pq', 100, 'noop'), 'direct batch');
    direct.close();
    expect(expected.map((r) => [r.opaque, r.op, r.status])).toEqual([
      [100, 0x09, 0], [102, 0x0d, 0], [104, 0x14, 1], [105, 0x12, 2], [106, 0x15, 6], [108, 0x19, 5], [109, 0x0a, 0],
    ]);
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      try {
        expect(await c.batch(batch('pq', 100, 'noop'), 'batch through the proxy')).toEqual(expected);
        // libmemcached's multi-get: GETKQ of one opaque, closed by a GETK; told apart by key.
        const mget = ['a', 'hit', 'b', 'hit'].map((k) => ({ op: 0x0d, key: `pq:${k}`, opaque: 0 }));
        const got = await c.batch([...mget, { op: 0x0c, key: 'pq:c', opaque: 0 }], 'multi-get');
        expect(got.map((r) => [r.op, r.status, r.key])).toEqual([[0x0d, 0, 'pq:hit'], [0x0d, 0, 'pq:hit'], [0x0c, 1, 'pq:c']]);
        const st = p.stats();
        expect(st.fallbacks).toBe(0);
        expect(st.exchanges).toBe(15);
        expect(st.latency.count).toBe(15);
      } finally {
        c.close();
      }
    });
  });

  it('100:error: every quiet command is answered with the error by its opaque, as memcached answers a failing one, in order, none reaching memcached', async () => {
    await seed('eq');
    await withProxy('100:error', async (p) => {
      const c = await connect(p.port);
      try {
        const reqs = batch('eq', 200, 'noop');
        const got = await c.batch(reqs, 'batch at 100:error');
        expect(got.map((r) => [r.opaque, r.op, r.status, r.body])).toEqual(reqs.map((r) => [r.opaque, r.op, OOM, 'Out of memory']));
        const st = p.stats();
        expect(st.behaviors.error).toBe(reqs.length);
        expect(st.exchanges).toBe(reqs.length);
        expect(st.fallbacks).toBe(0);
      } finally {
        c.close();
      }
      const direct = await connect(server.port);
      const stored = await direct.batch([{ op: 0x00, key: 'eq:w200', opaque: 9 }], 'direct get');
      direct.close();
      expect(stored.map((r) => r.status)).toEqual([1]);
    });
  });

  it('30:error with a seed: each request gets its injected error or what memcached answers, in order; the counts are exact', async () => {
    await seed('sq');
    const rounds = 30;
    const closerOf = (i: number) => (i % 2 ? 'noop' : 'get');
    const direct = await connect(server.port);
    const expected = new Map<number, Rep>();
    for (let i = 0; i < rounds; i++) {
      for (const [o, r] of byOpaque(await direct.batch(batch('sq', 1000 + 10 * i, closerOf(i)), `direct ${i}`), 'sq')) expected.set(o, r);
    }
    direct.close();
    await withProxy('30:error', async (p) => {
      const c = await connect(p.port);
      let errors = 0;
      let standIns = 0;
      try {
        for (let i = 0; i < rounds; i++) {
          const reqs = batch('sq', 1000 + 10 * i, closerOf(i));
          const last = reqs.at(-1)!;
          // The closer itself may draw the error, then the batch ends with it.
          const got = await c.batch(reqs, `batch ${i} through the proxy`);
          const mine = byOpaque(got, 'sq');
          expect(got.map((r) => r.opaque)).toEqual([...mine.keys()].sort((a, b) => a - b));
          for (const r of reqs) {
            const g = mine.get(r.opaque);
            if (g?.status === OOM && g.body === 'Out of memory') {
              errors++;
              expect(g.op).toBe(r.op);
            } else {
              expect(g).toEqual(expected.get(r.opaque));
            }
          }
          // A closer refused behind a quiet request the server kept silent on: its error needed a stand-in.
          if (mine.get(last.opaque)?.status === OOM && !mine.has(last.opaque - 8)) standIns++;
        }
        const st = p.stats();
        expect(errors).toBeGreaterThan(rounds * 10 * 0.2);
        expect(standIns).toBeGreaterThan(0);
        expect(st.behaviors.error).toBe(errors);
        expect(st.exchanges).toBe(rounds * 10);
        expect(st.latency.count).toBe(rounds * 10);
        expect(st.fallbacks).toBe(0);
      } finally {
        c.close();
      }
    });
  });
});
