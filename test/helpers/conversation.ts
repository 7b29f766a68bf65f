/**
 * Conversation tests for framers: a list of steps (bytes from the client or the server, and the
 * message each should be part of), fed through a session whole or cut anywhere, and the messages
 * the session frames compared with the ones the steps describe.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { FramerSession, Protocol, Segment } from '../../src/proxy/protocol.js';

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
