/**
 * Framing checks for the line-oriented protocols (redis, memcache): segments grouped into
 * readable messages, and a conversation that must frame the same whole, split at every point and
 * byte by byte.
 */
import { expect } from 'vitest';
import type { FramerSession, Protocol, Segment } from '../../src/proxy/protocol.js';

export type Dir = 'c' | 's';

export interface Msg {
  dir: Dir;
  data: string;
  label?: string;
  noReply?: boolean;
  pass?: boolean;
}

export const B = (s: string) => Buffer.from(s, 'latin1');

/** Group segments into messages, checking start/end pairing; consecutive passthrough merges. */
export function group(dir: Dir, segs: Segment[], acc: Msg[] = [], open: { cur?: Msg } = {}): Msg[] {
  for (const s of segs) {
    expect(s.data.length, 'empty segment').toBeGreaterThan(0);
    if (s.passthrough) {
      expect(open.cur, 'passthrough inside an open message').toBeUndefined();
      const last = acc[acc.length - 1];
      if (last && last.pass && last.dir === dir) last.data += s.data.toString('latin1');
      else acc.push({ dir, data: s.data.toString('latin1'), pass: true });
      continue;
    }
    if (s.start) {
      expect(open.cur, 'start inside an open message').toBeUndefined();
      open.cur = { dir, data: '' };
      if (s.label !== undefined) open.cur.label = s.label;
      if (s.noReply) open.cur.noReply = true;
    } else {
      expect(open.cur, 'continuation without start').toBeDefined();
      expect(s.label).toBeUndefined();
    }
    open.cur!.data += s.data.toString('latin1');
    if (s.end) {
      acc.push(open.cur!);
      open.cur = undefined;
    }
  }
  return acc;
}

/** `b` cut at the given offsets. */
export function splitAt(b: Buffer, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points].sort((x, y) => x - y)) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  out.push(b.subarray(prev));
  return out;
}

/** Requests, then (after `skip`ped ordinals) replies, through one session: the messages, none left open. */
export function runThrough(session: FramerSession, reqPieces: Buffer[], repPieces: Buffer[], skip: number[] = []): Msg[] {
  const acc: Msg[] = [];
  const openC: { cur?: Msg } = {};
  for (const p of reqPieces) group('c', session.fromClient(p), acc, openC);
  for (const o of skip) session.skipped!(o);
  const openS: { cur?: Msg } = {};
  for (const p of repPieces) group('s', session.fromServer(p), acc, openS);
  expect(openC.cur).toBeUndefined();
  expect(openS.cur).toBeUndefined();
  expect(session.buffered()).toBe(0);
  return acc;
}

/** Whole, at every split point of either side, and byte by byte: all must frame the same. */
export function checkEverySplit(proto: Protocol, requests: string, replies: string, skip: number[] = []): Msg[] {
  const rq = B(requests);
  const rp = B(replies);
  const run = (q: Buffer[], p: Buffer[]) => runThrough(proto.createSession(), q, p, skip);
  const whole = run([rq], [rp]);
  for (let i = 0; i <= rq.length; i++) expect(run(splitAt(rq, [i]), [rp])).toEqual(whole);
  for (let i = 0; i <= rp.length; i++) expect(run([rq], splitAt(rp, [i]))).toEqual(whole);
  const bytes = (b: Buffer) => [...b].map((x) => Buffer.from([x]));
  expect(run(bytes(rq), bytes(rp))).toEqual(whole);
  return whole;
}
