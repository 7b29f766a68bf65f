/**
 * Conversation tests for framers: a list of steps (bytes from the client or the server, and the
 * message each should be part of), fed through a session whole or cut anywhere, and the messages
 * the session frames compared with the ones the steps describe.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect } from 'vitest';
import { FramingError, type FramerSession, type Protocol, type Segment } from '../../src/proxy/protocol.js';
import { seededRandom } from '../../src/proxy/random.js';

export type Kind = 'pass' | 'req' | 'req-start' | 'req-mid' | 'req-end' | 'noreply' | 'reply' | 'reply-start' | 'reply-mid' | 'reply-end';
export interface Step { from: 'c' | 's'; bytes: Buffer; kind: Kind; label?: string }
export const C = (bytes: Buffer, kind: Kind = 'req', label?: string): Step => ({ from: 'c', bytes, kind, label });
export const S = (bytes: Buffer, kind: Kind = 'reply'): Step => ({ from: 's', bytes, kind });

export interface Msg { kind: 'pass' | 'req' | 'reply'; label?: string; noReply?: boolean; data: Buffer }
export interface Open { cur?: Msg; parts?: Buffer[] }

/** Assemble segments into messages, checking start/end pairing and flags. */
export function assemble(segs: Segment[], open: Open, out: Msg[], fromClient: boolean): void {
  // Plain checks (this runs for every segment of thousands of replays).
  const fail = (why: string) => { throw new Error(`bad segments: ${why}`); };
  for (const s of segs) {
    if (!s.data.length) fail('empty segment');
    if (s.start) {
      if (open.cur) fail('a message starts inside another');
      const kind = s.passthrough ? 'pass' : fromClient ? 'req' : 'reply';
      open.cur = { kind, label: s.label, noReply: s.noReply, data: Buffer.alloc(0) };
      open.parts = [];
      if ((kind === 'req') !== !!s.label) fail(`label ${s.label} on a ${kind} message`);
    } else {
      if (!open.cur) fail('a continuation outside any message');
      if (!!s.passthrough !== (open.cur!.kind === 'pass')) fail('passthrough flag changes inside a message');
      if (s.label !== undefined || s.noReply !== undefined) fail('label on a continuation');
    }
    open.parts!.push(s.data);
    if (s.end) {
      open.cur!.data = open.parts!.length === 1 ? open.parts![0] : Buffer.concat(open.parts!);
      out.push(open.cur!);
      open.cur = undefined;
    }
  }
}

export interface Run { c: Msg[]; s: Msg[]; session: FramerSession; openC?: Msg; openS?: Msg }

/** Feed steps (each cut into pieces by `cut`) through one session of `proto`, in order. */
export function runSteps(proto: Protocol, steps: { from: 'c' | 's'; bytes: Buffer }[], cut: (b: Buffer, i: number) => Buffer[] = (b) => [b]): Run {
  const session = proto.createSession();
  const c: Msg[] = [], s: Msg[] = [];
  const oc: Open = {}, os: Open = {};
  steps.forEach((st, i) => {
    for (const piece of cut(st.bytes, i)) {
      if (!piece.length) continue;
      if (st.from === 'c') assemble(session.fromClient(piece), oc, c, true);
      else assemble(session.fromServer(piece), os, s, false);
    }
  });
  return { c, s, session, openC: oc.cur, openS: os.cur };
}

/** The messages a conversation's steps should produce, per direction. */
export function expected(steps: Step[]): { c: Msg[]; s: Msg[] } {
  const c: Msg[] = [], s: Msg[] = [];
  let req: Buffer[] = [], reply: Buffer[] = [];
  let label: string | undefined;
  for (const st of steps) {
    if (st.from === 'c') {
      if (st.kind === 'pass') c.push({ kind: 'pass', data: st.bytes });
      else if (st.kind === 'req' || st.kind === 'noreply') c.push({ kind: 'req', label: st.label, noReply: st.kind === 'noreply' ? true : undefined, data: st.bytes });
      else {
        if (st.kind === 'req-start') label = st.label;
        req.push(st.bytes);
        if (st.kind === 'req-end') { c.push({ kind: 'req', label, data: Buffer.concat(req) }); req = []; }
      }
    } else if (st.kind === 'pass') s.push({ kind: 'pass', data: st.bytes });
    else if (st.kind === 'reply') s.push({ kind: 'reply', data: st.bytes });
    else {
      reply.push(st.bytes);
      if (st.kind === 'reply-end') { s.push({ kind: 'reply', data: Buffer.concat(reply) }); reply = []; }
    }
  }
  return { c, s };
}

export const summary = (ms: Msg[]) => ms.map((m) => `${m.kind}${m.label ? `:${m.label}` : ''}${m.noReply ? ':noreply' : ''}:${
  m.data.length <= 256 ? m.data.toString('hex') : `${m.data.length}:${createHash('sha1').update(m.data).digest('hex')}`}`);

/** Each conversation's expected summaries, computed once for its many replays. */
const wanted = new WeakMap<Step[], { c: string[]; s: string[] }>();
export function expectConversation(proto: Protocol, steps: Step[], cut?: (b: Buffer, i: number) => Buffer[], why = ''): void {
  let want = wanted.get(steps);
  if (!want) {
    const e = expected(steps);
    want = { c: summary(e.c), s: summary(e.s) };
    wanted.set(steps, want);
  }
  const got = runSteps(proto, steps, cut);
  const c = summary(got.c), s = summary(got.s);
  // Cheap comparison first; the detailed diff only on a mismatch.
  if (c.join() !== want.c.join()) expect(c, `client messages ${why}`).toEqual(want.c);
  if (s.join() !== want.s.join()) expect(s, `server messages ${why}`).toEqual(want.s);
  expect(got.openC, why).toBeUndefined();
  expect(got.openS, why).toBeUndefined();
  expect(got.session.buffered(), why).toBe(0);
}

/** `b` cut into random pieces of 1..max bytes. */
export function randomCuts(b: Buffer, rnd: () => number, max = 40): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) { const n = 1 + Math.floor(rnd() * Math.min(b.length - i, max)); out.push(b.subarray(i, i + n)); i += n; }
  return out;
}

/** Seeds for fuzzFramer: all the server's bytes of a conversation, and all the client's. */
export function conversationSeeds(steps: Step[]): Buffer[] {
  return (['s', 'c'] as const).map((from) => Buffer.concat(steps.filter((s) => s.from === from).map((s) => s.bytes)));
}

/**
 * A real conversation cut short anywhere, garbage spliced in, fed in random pieces: only
 * FramingError is ever thrown, at most `maxHeld` bytes are held, and emitted + drained bytes are
 * exactly what was fed.
 */
export function fuzzConversation(proto: Protocol, steps: Step[], maxHeld: number, numRuns = 300): void {
  fc.assert(
    fc.property(fc.nat(steps.length), fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.integer({ min: 1, max: 2 ** 31 }), (upto, junk, junkFromClient, seed) => {
      const rnd = seededRandom(seed);
      const session = proto.createSession();
      const sent = { c: [] as Buffer[], s: [] as Buffer[] };
      const got = { c: [] as Buffer[], s: [] as Buffer[] };
      const feedSteps = [...steps.slice(0, upto), { from: junkFromClient ? 'c' : 's', bytes: Buffer.from(junk) } as const, ...steps.slice(upto)];
      try {
        for (const st of feedSteps) {
          for (const piece of randomCuts(st.bytes, rnd)) {
            sent[st.from].push(piece);
            const segs = st.from === 'c' ? session.fromClient(piece) : session.fromServer(piece);
            got[st.from].push(...segs.map((x) => x.data));
            expect(session.buffered()).toBeLessThanOrEqual(maxHeld);
          }
        }
      } catch (e) {
        if (!(e instanceof FramingError)) throw e;
      }
      const rest = session.drain();
      got.c.push(rest.client);
      got.s.push(rest.server);
      expect(Buffer.concat(got.c).equals(Buffer.concat(sent.c))).toBe(true);
      expect(Buffer.concat(got.s).equals(Buffer.concat(sent.s))).toBe(true);
    }),
    { numRuns },
  );
}
