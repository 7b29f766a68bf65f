import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FramingError, MAX_HEAD_BYTES } from '../../src/proxy/protocol.js';
import { memcache } from '../../src/proxy/protocols/memcache.js';
import { checkEverySplit, splitAt } from '../helpers/text-framing.js';

/** A binary packet: request (0x80) or reply (0x81), as latin1 text for the text-framing helpers. */
function packet(o: { reply?: boolean; op: number; key?: string; extras?: number; value?: string; status?: number; opaque?: number }): string {
  const key = Buffer.from(o.key ?? '', 'latin1');
  const extras = Buffer.alloc(o.extras ?? 0, 1);
  const value = Buffer.from(o.value ?? '', 'latin1');
  const h = Buffer.alloc(24);
  h[0] = o.reply ? 0x81 : 0x80;
  h[1] = o.op;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(o.status ?? 0, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(o.opaque ?? 0, 12);
  return Buffer.concat([h, extras, key, value]).toString('latin1');
}
const bin = (s: string) => Buffer.from(s, 'latin1');

describe('memcache binary protocol framer', () => {
  it('frames requests and their replies, split anywhere: one reply each, STAT up to its keyless packet', () => {
    const set = packet({ op: 0x01, key: 'k', extras: 8, value: 'v\r\nEND\r\n' });
    const get = packet({ op: 0x00, key: 'k', opaque: 7 });
    const stat = packet({ op: 0x10 });
    const del = packet({ op: 0x04, key: 'missing' });
    const reqs = set + get + stat + del;
    const stats = packet({ reply: true, op: 0x10, key: 'pid', value: '42' }) + packet({ reply: true, op: 0x10, key: 'uptime', value: '9' }) + packet({ reply: true, op: 0x10 });
    const reps = [packet({ reply: true, op: 0x01 }), packet({ reply: true, op: 0x00, extras: 4, value: 'v\r\nEND\r\n', opaque: 7 }), stats, packet({ reply: true, op: 0x04, status: 1, value: 'Not found' })];
    const msgs = checkEverySplit(memcache, reqs, reps.join(''));
    expect(msgs.filter((m) => m.dir === 'c')).toEqual([
      { dir: 'c', data: set, label: 'set' },
      { dir: 'c', data: get, label: 'get' },
      { dir: 'c', data: stat, label: 'stat' },
      { dir: 'c', data: del, label: 'delete' },
    ]);
    expect(msgs.filter((m) => m.dir === 's').map((m) => m.data)).toEqual(reps);
  });

  it('the start segment holds header, extras and key; a value streams', () => {
    const s = memcache.createSession();
    const value = 'x'.repeat(200_000);
    const set = bin(packet({ op: 0x01, key: 'big', extras: 8, value }));
    const segs = [...s.fromClient(set.subarray(0, 50_000)), ...s.fromClient(set.subarray(50_000))];
    expect(segs[0]).toMatchObject({ start: true, end: false, label: 'set' });
    expect(segs[0].data.length).toBe(24 + 8 + 3);
    expect(segs.at(-1)?.end).toBe(true);
    expect(s.buffered()).toBe(0);
  });

  it('QUITQ expects no reply; a reply nobody asked for passes through; a skipped request is forgotten', () => {
    const s = memcache.createSession();
    const reqs = s.fromClient(bin(packet({ op: 0x0a }) + packet({ op: 0x0b }) + packet({ op: 0x17 })));
    expect(reqs.map((r) => [r.label, r.noReply ?? false])).toEqual([['noop', false], ['version', false], ['quitq', true]]);
    s.skipped?.(0);
    const reps = s.fromServer(bin(packet({ reply: true, op: 0x0b, value: '1.6.18' }) + packet({ reply: true, op: 0x0a })));
    expect(reps.map((r) => r.passthrough)).toEqual([false, true]);
  });

  it('a bad magic and a key longer than the body are not framed: FramingError, bytes kept', () => {
    for (const bad of [packet({ op: 0x00, key: 'k' }).replace('\x80', '\x81'), packet({ op: 0x00, key: 'k' }).slice(0, 8) + '\0\0\0\0' + packet({ op: 0x00, key: 'k' }).slice(12)]) {
      const s = memcache.createSession();
      const input = bin(packet({ op: 0x0a }) + bad);
      const segs = s.fromClient(bin(packet({ op: 0x0a })));
      expect(() => s.fromClient(bin(bad))).toThrow(FramingError);
      expect(Buffer.concat([...segs.map((x) => x.data), s.drain().client]).equals(input)).toBe(true);
    }
    const s = memcache.createSession();
    s.fromClient(bin(packet({ op: 0x0a })));
    expect(() => s.fromServer(bin('SERVER_ERROR out of memory\r\n'))).toThrow(FramingError);
  });

  /** The replies to `reqs`, split at `points`: each request's (empty when it got none), or a passthrough's. */
  function quietReplies(reqs: string, reps: string, points: number[], skip: number[] = []): string[] {
    const s = memcache.createSession();
    s.fromClient(bin(reqs));
    for (const o of skip) s.skipped?.(o);
    const out: string[] = [];
    let cur: string | undefined;
    for (const piece of splitAt(bin(reps), points)) {
      for (const x of s.fromServer(piece)) {
        if (x.passthrough) { out.push(`pass ${x.data.toString('latin1')}`); continue; }
        cur = (x.start ? '' : cur!) + x.data.toString('latin1');
        if (x.end) out.push(cur);
      }
    }
    expect(s.buffered()).toBe(0);
    return out;
  }

  it('quiet commands: a reply is the oldest quiet request whose opcode and opaque (and key) it echoes; those it passes got none, an empty reply each', () => {
    const reqs = [
      packet({ op: 0x09, key: 'miss', opaque: 1 }), packet({ op: 0x09, key: 'hit', opaque: 2 }),
      // libmemcached's multi-get: GETKQ of one opaque, told apart by key.
      packet({ op: 0x0d, key: 'a', opaque: 0 }), packet({ op: 0x0d, key: 'b', opaque: 0 }), packet({ op: 0x0d, key: 'c', opaque: 0 }),
      packet({ op: 0x11, key: 'k', extras: 8, value: 'v', opaque: 3 }), packet({ op: 0x14, key: 'gone', opaque: 4 }),
      packet({ op: 0x0a, opaque: 5 }),
    ];
    const hit = packet({ reply: true, op: 0x09, extras: 4, value: 'V', opaque: 2 });
    const b = packet({ reply: true, op: 0x0d, key: 'b', extras: 4, value: 'B', opaque: 0 });
    const notFound = packet({ reply: true, op: 0x14, status: 1, value: 'Not found', opaque: 4 });
    const noop = packet({ reply: true, op: 0x0a, opaque: 5 });
    const reps = hit + b + notFound + noop;
    const want = ['', hit, '', b, '', '', notFound, noop];
    const n = bin(reps).length;
    for (let cut = 0; cut <= n; cut++) expect(quietReplies(reqs.join(''), reps, [cut])).toEqual(want);
    expect(quietReplies(reqs.join(''), reps, Array.from({ length: n }, (_, i) => i))).toEqual(want);
    // Skipped (answered by the proxy), a quiet request waits for nothing: the hit is the next one's.
    expect(quietReplies(reqs.join(''), reps, [], [0])).toEqual(want.slice(1));
  });

  it('a batch of thousands of quiet requests: each has its reply or none, the hit where it belongs', () => {
    const reqs = Array.from({ length: 3000 }, (_, i) => packet({ op: 0x09, key: `k${i}`, opaque: i })).join('') + packet({ op: 0x0a, opaque: 9999 });
    const hit = packet({ reply: true, op: 0x09, extras: 4, value: 'V', opaque: 2000 });
    const noop = packet({ reply: true, op: 0x0a, opaque: 9999 });
    const got = quietReplies(reqs, hit + noop, [10]);
    expect(got.length).toBe(3001);
    expect(got.flatMap((r, i) => (r ? [i] : []))).toEqual([2000, 3000]);
    expect([got[2000], got[3000]]).toEqual([hit, noop]);
  });

  it('an error behind quiet requests waiting goes to the server as a NOOP of its opaque, whose reply ends them', () => {
    const s = memcache.createSession();
    const getq = bin(packet({ op: 0x09, key: 'miss', opaque: 1 }));
    const get = bin(packet({ op: 0x00, key: 'k', opaque: 0xabcd }));
    const setq = bin(packet({ op: 0x11, key: 'k', extras: 8, value: 'v', opaque: 3 }));
    s.fromClient(Buffer.concat([getq, get, setq]));
    // None ahead of the GETQ; a QUITQ is answered by the close alone.
    expect(memcache.standIn?.(getq, true, s, 0)).toBeUndefined();
    expect(memcache.standIn?.(bin(packet({ op: 0x17 })), true, s, 3)).toBeUndefined();
    const noop = memcache.standIn?.(get, true, s, 1);
    expect(noop?.equals(bin(packet({ op: 0x0a, opaque: 0xabcd })))).toBe(true);
    const forSetq = memcache.standIn?.(setq, false, s, 2);
    expect(forSetq?.equals(bin(packet({ op: 0x0a, opaque: 3 })))).toBe(true);
    s.errored?.(1, noop);
    s.errored?.(2, forSetq);
    const reps = s.fromServer(bin(packet({ reply: true, op: 0x0a, opaque: 0xabcd }) + packet({ reply: true, op: 0x0a, opaque: 3 })));
    expect(reps.map((r) => [r.data.length, r.start, r.end, r.passthrough ?? false])).toEqual([[0, true, true, false], [24, true, true, false], [24, true, true, false]]);
  });

  it('the client\'s side stopped: the replies owed to the requests returned are framed, up to the last one answered whatever it does, then the server\'s bytes pass through', () => {
    const get = (opaque: number) => packet({ op: 0x00, key: 'k', opaque });
    const getq = (opaque: number) => packet({ op: 0x09, key: 'k', opaque });
    const hit = (op: number, opaque: number) => packet({ reply: true, op, extras: 4, value: 'v', opaque });
    const miss = (opaque: number) => packet({ reply: true, op: 0x00, status: 1, value: 'Not found', opaque });
    // Over max_buffer (`returned`): the chunk's requests went, the header held did not.
    const held = packet({ op: 0x00, key: 'x'.repeat(200), opaque: 9 }).slice(0, 100);
    const s = memcache.createSession();
    s.fromClient(bin(get(1) + getq(2) + get(3) + getq(4) + held));
    expect(s.stopRequests?.(true)?.toString('latin1')).toBe(held);
    // The quiet one behind the last GET: its hit or silence only what follows would tell.
    const reps = [hit(0x00, 1), '', miss(3), hit(0x09, 4) + miss(9)];
    const framed = s.fromServer(bin(reps.join('')));
    expect(framed.map((x) => [x.data.toString('latin1'), x.end, x.passthrough ?? false])).toEqual([
      [reps[0], true, false], ['', true, false], [reps[2], true, false], [reps[3], true, true],
    ]);
    expect(s.fromServer(bin(miss(10))).map((x) => x.passthrough)).toEqual([true]);
    // A chunk that threw (not `returned`): its requests pass through with it, those before wait.
    const t = memcache.createSession();
    t.fromClient(bin(get(1)));
    expect(() => t.fromClient(bin(get(2) + 'bad'.repeat(10)))).toThrow(FramingError);
    expect(t.stopRequests?.(false)?.toString('latin1')).toBe(get(2) + 'bad'.repeat(10));
    expect(t.fromServer(bin(miss(1) + miss(2))).map((x) => [x.data.toString('latin1'), x.passthrough ?? false])).toEqual([[miss(1), false], [miss(2), true]]);
    // Only quiet ones before: nothing tells where their replies end.
    const u = memcache.createSession();
    u.fromClient(bin(getq(1)));
    expect(u.stopRequests?.(true)).toBeUndefined();
  });

  it('fuzz: no crash but FramingError, bounded buffer, emitted + drained == input', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        packet({ op: 0x00, key: 'k' }), packet({ op: 0x01, key: 'k', extras: 8, value: 'abc' }), packet({ op: 0x10 }),
        packet({ op: 0x09, key: 'q' }), packet({ reply: true, op: 0x00, extras: 4, value: 'v' }), packet({ reply: true, op: 0x10, key: 'a', value: '1' }),
        packet({ reply: true, op: 0x0d, key: 'k', extras: 4, value: 'v' }), packet({ reply: true, op: 0x09, extras: 4, value: 'v' }),
        packet({ reply: true, op: 0x10 }), packet({ op: 0x01, key: 'v', extras: 8, value: 'v'.repeat(3000) }),
      ),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
    );
    const prime = bin(packet({ op: 0x0d, key: 'k' }) + packet({ op: 0x00, key: 'a' }) + packet({ op: 0x10 }) + packet({ op: 0x09, key: 'q' }) + packet({ op: 0x01, key: 'b', extras: 8 }));
    fc.assert(fc.property(fc.array(piece, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (parts, points, replies) => {
      const s = memcache.createSession();
      const data = bin((replies ? '' : '\x80') + parts.join(''));
      if (replies) s.fromClient(prime);
      const out: Buffer[] = [];
      let emitted = 0;
      let threw = false;
      for (const p of splitAt(data, points.map((x) => x % (data.length + 1)))) {
        try {
          for (const x of replies ? s.fromServer(p) : s.fromClient(p)) { out.push(x.data); emitted += x.data.length; }
          expect(s.buffered()).toBeLessThanOrEqual(MAX_HEAD_BYTES + 24 + 255);
        } catch (err) {
          expect(err).toBeInstanceOf(FramingError);
          threw = true;
          break;
        }
      }
      const held = s.drain();
      out.push(replies ? held.server : held.client);
      expect(Buffer.concat(out).equals(threw ? data.subarray(0, emitted + (replies ? held.server : held.client).length) : data)).toBe(true);
    }), { numRuns: 400 });
  });
});

describe('memcache binary protocol errors', () => {
  const request = bin(packet({ op: 0x01, key: 'k', extras: 8, value: 'v', opaque: 0xdeadbeef }));
  const ctx = (message?: string) => ({ label: 'set', request, random: Math.random, message });

  it('answers a packet of the request opcode and opaque with each kind status and memcached text', () => {
    const statuses: Record<string, [number, string]> = {
      SERVER_ERROR: [0x82, 'Out of memory'], too_large: [0x03, 'Too large.'], busy: [0x86, 'Temporary failure'],
      backend: [0x84, 'Internal error'], CLIENT_ERROR: [0x04, 'Invalid arguments'], ERROR: [0x81, 'Unknown command'],
    };
    expect(Object.keys(memcache.errorKinds).sort()).toEqual(Object.keys(statuses).sort());
    for (const [kind, [status, text]] of Object.entries(statuses)) {
      const r = memcache.encodeError(kind, ctx());
      expect(r.close).toBe(false);
      expect([r.bytes[0], r.bytes[1], r.bytes.readUInt16BE(2), r.bytes[4], r.bytes.readUInt16BE(6)]).toEqual([0x81, 0x01, 0, 0, status]);
      expect(r.bytes.readUInt32BE(8)).toBe(text.length);
      expect(r.bytes.readUInt32BE(12)).toBe(0xdeadbeef);
      expect(r.bytes.subarray(24).toString()).toBe(text);
      expect(memcache.errorKinds[kind].description).toContain(text);
    }
  });

  it('carries a behavior message as the body; QUITQ gets the close alone', () => {
    expect(memcache.encodeError('busy', ctx('try\nlater')).bytes.subarray(24).toString()).toBe('try later');
    const quitq = bin(packet({ op: 0x17 }));
    expect(memcache.encodeError('SERVER_ERROR', { request: quitq, random: Math.random })).toEqual({ bytes: Buffer.alloc(0), close: true });
  });
});
