import fc from 'fast-check';
import { expect } from 'vitest';
import { FramingError, type FramerSession, type Protocol, type Segment } from '../../src/proxy/protocol.js';

export interface Message {
  data: Buffer;
  label?: string;
  noReply?: boolean;
  passthrough?: boolean;
}

/** Reassemble segments into messages, checking start/end pairing. */
export function messages(segs: Segment[]): Message[] {
  const out: Message[] = [];
  let cur: Buffer[] | undefined;
  let meta: Segment | undefined;
  for (const s of segs) {
    if (s.passthrough) {
      out.push({ data: s.data, passthrough: true });
      continue;
    }
    if (s.start) {
      expect(cur, 'a message starts inside another').toBeUndefined();
      cur = [];
      meta = s;
    } else {
      expect(cur, 'a continuation segment outside any message').toBeDefined();
    }
    cur!.push(s.data);
    if (s.end) {
      out.push({ data: Buffer.concat(cur!), label: meta!.label, noReply: meta!.noReply });
      cur = undefined;
    }
  }
  return out;
}

/** Feed `bytes` in the given pieces through one direction of a fresh or given session. */
export function feed(session: FramerSession, side: 'client' | 'server', pieces: Buffer[]): Segment[] {
  const segs: Segment[] = [];
  for (const p of pieces) segs.push(...(side === 'client' ? session.fromClient(p) : session.fromServer(p)));
  return segs;
}

/** Every split of `bytes` in two pieces gives the same messages as feeding it whole. */
export function expectSplitInvariant(proto: Protocol, side: 'client' | 'server', bytes: Buffer, prime?: (s: FramerSession) => void): Message[] {
  const whole = proto.createSession();
  prime?.(whole);
  const expected = messages(feed(whole, side, [bytes]));
  for (let i = 1; i < bytes.length; i++) {
    const s = proto.createSession();
    prime?.(s);
    const got = messages(feed(s, side, [bytes.subarray(0, i), bytes.subarray(i)]));
    expect(Buffer.concat(got.map((m) => m.data)).equals(Buffer.concat(expected.map((m) => m.data))), `split at ${i}`).toBe(true);
    expect(got.filter((m) => !m.passthrough).map((m) => m.data.length), `split at ${i}`).toEqual(
      expected.filter((m) => !m.passthrough).map((m) => m.data.length),
    );
  }
  return expected;
}

/**
 * Fuzz: random and garbage bytes in random pieces never crash the framer with anything but a
 * FramingError, never lose a byte (emitted + drained == input), and keep what it holds bounded.
 */
export function fuzzFramer(proto: Protocol, seeds: Buffer[] = [], runs = 300): void {
  const arbBytes = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
    fc.constantFrom(...(seeds.length ? seeds : [Buffer.from('x')])).chain((s) =>
      fc.tuple(fc.nat(s.length), fc.uint8Array({ maxLength: 64 })).map(([cut, junk]) => Buffer.concat([s.subarray(0, cut), Buffer.from(junk)])),
    ),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), arbBytes), { maxLength: 12 }), (pieces) => {
      const s = proto.createSession();
      const sent = { client: [] as Buffer[], server: [] as Buffer[] };
      const got = { client: [] as Buffer[], server: [] as Buffer[] };
      for (const [fromClient, bytes] of pieces) {
        const side = fromClient ? 'client' : 'server';
        sent[side].push(bytes);
        try {
          for (const seg of fromClient ? s.fromClient(bytes) : s.fromServer(bytes)) got[side].push(seg.data);
        } catch (e) {
          if (!(e instanceof FramingError)) throw e;
          const held = s.drain();
          got.client.push(held.client);
          got.server.push(held.server);
          break;
        }
        expect(s.buffered()).toBeLessThanOrEqual(Buffer.concat(sent.client).length + Buffer.concat(sent.server).length);
      }
      const held = s.drain();
      got.client.push(held.client);
      got.server.push(held.server);
      // Nothing lost, nothing invented: emitted + drained is exactly what was fed.
      expect(Buffer.concat(got.client).equals(Buffer.concat(sent.client))).toBe(true);
      expect(Buffer.concat(got.server).equals(Buffer.concat(sent.server))).toBe(true);
    }),
    { numRuns: runs },
  );
}
