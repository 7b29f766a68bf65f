import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FramingError, MAX_HEAD_BYTES, type FramerSession, type Segment } from '../../src/proxy/protocol.js';
import { smtp } from '../../src/proxy/protocols/smtp.js';

/** One step of a conversation: bytes from the client (C) or from the server (S). */
type Step = ['C' | 'S', string | Buffer];

interface Message {
  data: string;
  label?: string;
  passthrough?: boolean;
  mustForward?: boolean;
}

/** What the engine would see: requests and replies, and which reply answered which request. */
interface Outcome {
  requests: Message[];
  replies: Message[];
  /** For every non-passthrough reply, in order: the label of the request it answers. */
  pairs: string[];
  client: Buffer;
  server: Buffer;
}

const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

/** Assembles segments into messages, checking that start/end flags nest properly. */
class Assembler {
  messages: Message[] = [];
  private open: Message | undefined;
  all: Buffer[] = [];
  push(segs: Segment[]): Message[] {
    const done: Message[] = [];
    for (const s of segs) {
      this.all.push(s.data);
      if (s.start) {
        expect(this.open, 'a start segment inside an open message').toBeUndefined();
        this.open = { data: '' };
        if (s.label !== undefined) this.open.label = s.label;
        if (s.passthrough) this.open.passthrough = true;
        if (s.mustForward) this.open.mustForward = true;
        expect(s.noReply, 'SMTP has no request without a reply').toBeFalsy();
      } else {
        expect(this.open, 'a continuation segment outside a message').toBeDefined();
        expect(!!s.passthrough, 'passthrough flag changed inside a message').toBe(!!this.open!.passthrough);
      }
      this.open!.data += s.data.toString('latin1');
      if (s.end) {
        this.messages.push(this.open!);
        done.push(this.open!);
        this.open = undefined;
      }
    }
    return done;
  }
  get isOpen(): boolean {
    return this.open !== undefined;
  }
}

/**
 * Feeds a conversation, each step cut into pieces by `cut`, and pairs replies with requests the
 * way the engine does (FIFO, skipped requests removed). `skip` lists request ordinals the proxy
 * answers itself: the session is told right after the chunk that completed their start segment.
 */
function run(steps: Step[], cut: (b: Buffer, stepIndex: number) => Buffer[] = (b) => [b], skip: number[] = []): Outcome {
  const session = smtp.createSession();
  const req = new Assembler();
  const rep = new Assembler();
  const waiting: { ordinal: number; label: string }[] = [];
  const pairs: string[] = [];
  let ordinal = 0;
  steps.forEach(([dir, data], i) => {
    for (const piece of cut(bytes(data), i)) {
      if (dir === 'C') {
        const segs = session.fromClient(piece);
        for (const s of segs) {
          if (s.start && !s.passthrough) {
            const o = ordinal++;
            waiting.push({ ordinal: o, label: s.label ?? '?' });
          }
        }
        req.push(segs);
        for (const o of skip) {
          const k = waiting.findIndex((w) => w.ordinal === o);
          if (k >= 0) {
            waiting.splice(k, 1);
            session.skipped!(o);
          }
        }
      } else {
        for (const m of rep.push(session.fromServer(piece))) {
          if (m.passthrough) continue;
          const w = waiting.shift();
          expect(w, `a reply with no request: ${JSON.stringify(m.data)}`).toBeDefined();
          pairs.push(w!.label);
        }
      }
    }
  });
  return {
    requests: req.messages,
    replies: rep.messages,
    pairs,
    client: Buffer.concat(req.all),
    server: Buffer.concat(rep.all),
  };
}

function streams(steps: Step[]): { client: Buffer; server: Buffer } {
  return {
    client: Buffer.concat(steps.filter(([d]) => d === 'C').map(([, b]) => bytes(b))),
    server: Buffer.concat(steps.filter(([d]) => d === 'S').map(([, b]) => bytes(b))),
  };
}

const GREETING = '220-mx.example.org ESMTP ready\r\n220 no UCE\r\n';
const BODY = 'From: a@x\r\nSubject: dots\r\n\r\n..leading dot\r\n.\r\r\n\r\n..\r\nx.\r\n.x\r\nend\r\n';

/** A full session: greeting, EHLO, AUTH LOGIN, pipelined envelope, DATA, BDAT, QUIT. */
const SESSION: Step[] = [
  ['S', GREETING],
  ['C', 'EHLO client.example\r\n'],
  ['S', '250-mx.example.org\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250 8BITMIME\r\n'],
  ['C', 'AUTH LOGIN\r\n'],
  ['S', '334 VXNlcm5hbWU6\r\n'],
  ['C', 'dXNlcg==\r\n'],
  ['S', '334 UGFzc3dvcmQ6\r\n'],
  ['C', 'cGFzcw==\r\n'],
  ['S', '235 2.7.0 Authentication successful\r\n'],
  ['C', 'MAIL FROM:<a@x> BODY=8BITMIME\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n'],
  ['S', '250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n'],
  ['C', `${BODY}.\r\nRSET\r\n`],
  ['S', '250 2.0.0 queued as 42\r\n250 2.0.0 reset\r\n'],
  ['C', 'MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 7\r\n\r\n.\r\n\x00\xffBDAT 0 LAST\r\n'],
  ['S', '250 ok\r\n250 ok\r\n250 7 bytes\r\n250 queued\r\n'],
  ['C', 'noop\r\n'],
  ['S', '250 ok\r\n'],
  ['C', 'QUIT\r\n'],
  ['S', '221 2.0.0 bye\r\n'],
];

const SESSION_LABELS = [
  'EHLO', 'AUTH', 'auth-data', 'auth-data', 'MAIL', 'RCPT', 'RCPT', 'DATA', 'message', 'RSET',
  'MAIL', 'RCPT', 'BDAT', 'BDAT', 'NOOP', 'QUIT',
];

function checkSession(o: Outcome): void {
  const { client, server } = streams(SESSION);
  expect(o.client.equals(client)).toBe(true);
  expect(o.server.equals(server)).toBe(true);
  expect(o.requests.map((m) => m.label)).toEqual(SESSION_LABELS);
  expect(o.pairs).toEqual(SESSION_LABELS);
  expect(o.replies[0]).toEqual({ data: GREETING, passthrough: true });
  expect(o.replies.slice(1).every((m) => !m.passthrough)).toBe(true);
  expect(o.requests[8]).toEqual({ data: `${BODY}.\r\n`, label: 'message', mustForward: true });
  expect(o.requests[12].data).toBe('BDAT 7\r\n\r\n.\r\n\x00\xff');
  expect(o.requests.filter((m) => m.mustForward).map((m) => m.label)).toEqual(['auth-data', 'auth-data', 'message', 'BDAT', 'BDAT']);
  expect(o.replies[1].data).toBe(SESSION[2][1]);
  // Replies are not cut in the middle: each is one whole `ddd ...` message.
  expect(o.replies.map((m) => m.data.slice(0, 3))).toEqual([
    '220', '250', '334', '334', '235', '250', '250', '550', '354', '250', '250', '250', '250', '250', '250', '250', '221',
  ]);
}

/** Cuts a buffer at the given positions. */
function cutAt(b: Buffer, points: number[]): Buffer[] {
  const ps = [...new Set(points.filter((p) => p > 0 && p < b.length))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of ps) {
    out.push(b.subarray(last, p));
    last = p;
  }
  out.push(b.subarray(last));
  return out;
}

describe('smtp framing', () => {
  it('frames a whole session in one chunk per step', () => {
    checkSession(run(SESSION));
  });

  it('frames the same whatever single split point a step has', () => {
    SESSION.forEach(([, data], i) => {
      for (let p = 1; p < bytes(data).length; p++) {
        checkSession(run(SESSION, (b, j) => (j === i ? cutAt(b, [p]) : [b])));
      }
    });
  });

  it('frames the same when every byte comes alone', () => {
    checkSession(run(SESSION, (b) => cutAt(b, Array.from({ length: b.length }, (_, k) => k))));
  });

  it('frames the same under random splits (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat(200), { maxLength: 6 }), { minLength: SESSION.length, maxLength: SESSION.length }), (points) => {
        checkSession(run(SESSION, (b, i) => cutAt(b, points[i])));
      }),
      { numRuns: 300 },
    );
  });

  it('does not copy bytes when a chunk holds whole messages', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    const chunk = Buffer.from('MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n');
    const segs = s.fromClient(chunk);
    expect(segs).toHaveLength(3);
    for (const seg of segs) expect(seg.data.buffer).toBe(chunk.buffer);
    s.fromServer(Buffer.from('250 a\r\n250 b\r\n354 c\r\n'));
    const body = Buffer.alloc(100_000, 'a');
    body.write('\r\n.\r\n', body.length - 5, 'latin1');
    const [m] = s.fromClient(body);
    expect(m).toMatchObject({ start: true, end: true, label: 'message', mustForward: true });
    expect(m.data.buffer).toBe(body.buffer);
    expect(s.buffered()).toBe(0);
  });

  it('streams a big message without holding it', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    s.fromClient(Buffer.from('DATA\r\n'));
    s.fromServer(Buffer.from('354 go\r\n'));
    const line = Buffer.from(`${'x'.repeat(998)}\r\n`);
    let first = true;
    for (let i = 0; i < 200; i++) {
      const segs = s.fromClient(line);
      expect(segs.map((g) => [g.data, g.start, g.end, g.label, g.mustForward, !!g.passthrough])).toEqual([
        [line, first, false, first ? 'message' : undefined, first ? true : undefined, false],
      ]);
      first = false;
      expect(s.buffered()).toBe(0);
    }
    expect(s.fromClient(Buffer.from('.\r\nQUIT\r\n')).map((g) => [g.start, g.end, g.label])).toEqual([
      [false, true, undefined],
      [true, true, 'QUIT'],
    ]);
  });

  it('handles an empty message (the terminator right after 354)', () => {
    const o = run([
      ['S', '220 hi\r\n'],
      ['C', 'DATA\r\n'],
      ['S', '354 go\r\n'],
      ['C', '.\r\n'],
      ['S', '250 ok\r\n'],
      ['C', 'QUIT\r\n'],
      ['S', '221 bye\r\n'],
    ]);
    expect(o.requests).toEqual([
      { data: 'DATA\r\n', label: 'DATA' },
      { data: '.\r\n', label: 'message', mustForward: true },
      { data: 'QUIT\r\n', label: 'QUIT' },
    ]);
    expect(o.pairs).toEqual(['DATA', 'message', 'QUIT']);
  });

  it('does not end a message at a dot-stuffed line or a dot inside a line', () => {
    const body = '..\r\n...\r\na.\r\n.a\r\n. \r\n.\n\r\n.\r\r\n';
    const steps: Step[] = [['S', '220 hi\r\n'], ['C', 'DATA\r\n'], ['S', '354 go\r\n'], ['C', `${body}.\r\n`], ['S', '250 ok\r\n']];
    for (let p = 0; p <= body.length + 3; p++) {
      const o = run(steps, (b, i) => (i === 3 ? cutAt(b, [p]) : [b]));
      expect(o.requests[1].data).toBe(`${body}.\r\n`);
      expect(o.pairs).toEqual(['DATA', 'message']);
    }
  });

  it('finds the terminator after many lines that end with a dot (search fallback)', () => {
    for (const lines of [0, 1, 7, 8, 9, 20, 500]) {
      const body = 'x.\r\n'.repeat(lines) + '..\r\n.a\r\n';
      const s = smtp.createSession();
      s.fromServer(Buffer.from('220 hi\r\n'));
      s.fromClient(Buffer.from('DATA\r\n'));
      s.fromServer(Buffer.from('354 go\r\n'));
      const segs = s.fromClient(Buffer.from(`${body}.\r\nNOOP\r\n`));
      expect(segs.map((g) => [g.data.toString(), g.end])).toEqual([
        [`${body}.\r\n`, true],
        ['NOOP\r\n', true],
      ]);
    }
  });

  it('takes the first CRLF.CRLF that straddles chunks', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    s.fromClient(Buffer.from('DATA\r\n'));
    s.fromServer(Buffer.from('354 go\r\n'));
    expect(s.fromClient(Buffer.from('abc\r'))[0].end).toBe(false);
    expect(s.fromClient(Buffer.from('\n'))[0].end).toBe(false);
    expect(s.fromClient(Buffer.from('.'))[0].end).toBe(false);
    const segs = s.fromClient(Buffer.from('\r\nNOOP\r\n'));
    expect(segs.map((g) => [g.data.toString(), g.end, g.label])).toEqual([
      ['\r\n', true, undefined],
      ['NOOP\r\n', true, 'NOOP'],
    ]);
  });

  it('frames content sent before the 354 (an eager pipelining client)', () => {
    const o = run([
      ['S', '220 hi\r\n'],
      ['C', 'MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n'],
      ['S', '250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n'],
    ]);
    expect(o.requests.map((m) => m.label)).toEqual(['MAIL', 'RCPT', 'DATA', 'message', 'QUIT']);
    expect(o.pairs).toEqual(['MAIL', 'RCPT', 'DATA', 'message', 'QUIT']);
  });

  it('gives up (FramingError, no byte lost) when eager content follows a refused DATA', () => {
    const s = smtp.createSession();
    const out: Buffer[] = [];
    const take = (segs: Segment[]) => segs.forEach((g) => out.push(g.data));
    take(s.fromServer(Buffer.from('220 hi\r\n')));
    take(s.fromClient(Buffer.from('DATA\r\nSubject: x\r\n')));
    const refused = Buffer.from('554 no valid recipients\r\n');
    expect(() => s.fromServer(refused)).toThrow(FramingError);
    const { client, server } = s.drain();
    expect(client.length).toBe(0);
    expect(server.equals(refused)).toBe(true);
    expect(Buffer.concat(out).toString()).toBe('220 hi\r\nDATA\r\nSubject: x\r\n');
  });

  it('goes back to commands when DATA is refused', () => {
    const o = run([
      ['S', '220 hi\r\n'],
      ['C', 'MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n'],
      ['S', '250 ok\r\n550 unknown user\r\n554 no valid recipients\r\n'],
      ['C', 'RSET\r\n'],
      ['S', '250 ok\r\n'],
    ]);
    expect(o.requests.map((m) => m.label)).toEqual(['MAIL', 'RCPT', 'DATA', 'RSET']);
    expect(o.pairs).toEqual(['MAIL', 'RCPT', 'DATA', 'RSET']);
  });

  it('forgets a DATA the proxy answered itself (skipped), also when pipelined', () => {
    const o = run(
      [
        ['S', '220 hi\r\n'],
        ['C', 'MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n'],
        ['S', '250 ok\r\n250 ok\r\n'],
        ['C', 'RSET\r\n'],
        ['S', '250 reset\r\n'],
      ],
      (b) => [b],
      [2],
    );
    expect(o.requests.map((m) => m.label)).toEqual(['MAIL', 'RCPT', 'DATA', 'RSET']);
    expect(o.pairs).toEqual(['MAIL', 'RCPT', 'RSET']);
  });

  it('forgets any skipped command', () => {
    const o = run(
      [
        ['S', '220 hi\r\n'],
        ['C', 'EHLO a\r\n'],
        ['C', 'NOOP\r\n'],
        ['S', '250 hello\r\n'],
        ['C', 'QUIT\r\n'],
        ['S', '221 bye\r\n'],
      ],
      (b) => [b],
      [1],
    );
    expect(o.pairs).toEqual(['EHLO', 'QUIT']);
  });

  it('passes everything through after STARTTLS and 220', () => {
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0a, 0x0d]);
    const o = run([
      ['S', '220 hi\r\n'],
      ['C', 'EHLO a\r\n'],
      ['S', '250-hi\r\n250 STARTTLS\r\n'],
      ['C', 'STARTTLS\r\n'],
      ['S', '220 2.0.0 Ready to start TLS\r\n'],
      ['C', hello],
      ['S', Buffer.from([0x16, 0x03, 0x03, 0x00, 0x7a, 0x02])],
      ['C', 'not a command at all\x00\r\n'],
    ]);
    expect(o.requests.map((m) => [m.label, !!m.passthrough])).toEqual([
      ['EHLO', false],
      ['STARTTLS', false],
      [undefined, true],
      [undefined, true],
    ]);
    expect(o.pairs).toEqual(['EHLO', 'STARTTLS']);
    expect(o.replies.at(-1)).toEqual({ data: '\x16\x03\x03\x00\x7a\x02', passthrough: true });
  });

  it('keeps framing when STARTTLS is refused', () => {
    const o = run([
      ['S', '220 hi\r\n'],
      ['C', 'STARTTLS\r\n'],
      ['S', '454 4.7.0 TLS not available\r\n'],
      ['C', 'QUIT\r\n'],
      ['S', '221 bye\r\n'],
    ]);
    expect(o.pairs).toEqual(['STARTTLS', 'QUIT']);
    expect(o.requests.every((m) => !m.passthrough)).toBe(true);
  });

  it('labels AUTH challenge answers, whatever they look like', () => {
    const o = run([
      ['S', '220 hi\r\n'],
      ['C', 'AUTH PLAIN\r\n'],
      ['S', '334 \r\n'],
      ['C', 'AGFsaWNlAHNlY3JldA==\r\n'],
      ['S', '535 5.7.8 bad credentials\r\n'],
      ['C', 'AUTH CRAM-MD5\r\n'],
      ['S', '334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=\r\n'],
      ['C', '*\r\n'],
      ['S', '501 5.0.0 cancelled\r\n'],
      ['C', 'auth plain AGFsaWNlAHNlY3JldA==\r\n'],
      ['S', '235 ok\r\n'],
    ]);
    expect(o.requests.map((m) => m.label)).toEqual(['AUTH', 'auth-data', 'AUTH', 'auth-data', 'AUTH']);
    expect(o.pairs).toEqual(['AUTH', 'auth-data', 'AUTH', 'auth-data', 'AUTH']);
  });

  it('treats the greeting and unsolicited replies as passthrough, also with an early talker', () => {
    const o = run([
      ['C', 'EHLO early\r\n'],
      ['S', '220 hi\r\n'],
      ['S', '250 hello\r\n'],
      ['S', '421 4.4.2 idle timeout\r\n'],
    ]);
    expect(o.replies.map((m) => !!m.passthrough)).toEqual([true, false, true]);
    expect(o.pairs).toEqual(['EHLO']);
  });

  it('accepts bare LF line ends, lower-case verbs and empty lines', () => {
    const o = run([
      ['S', '220 hi\n'],
      ['C', 'helo a\n\r\nvrfy\tx\r\n'],
      ['S', '250 hi\n500 5.5.2 syntax error\r\n252 maybe\r\n'],
    ]);
    expect(o.requests.map((m) => m.label)).toEqual(['HELO', '(empty)', 'VRFY']);
    expect(o.pairs).toEqual(['HELO', '(empty)', 'VRFY']);
  });

  it('frames a multi-line reply split over chunks as one message', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    s.fromClient(Buffer.from('EHLO a\r\n'));
    const a = s.fromServer(Buffer.from('250-one\r\n250-tw'));
    expect(a.map((g) => [g.data.toString(), g.start, g.end])).toEqual([['250-one\r\n', true, false]]);
    expect(s.buffered()).toBe(6);
    const b = s.fromServer(Buffer.from('o\r\n250 three\r\n'));
    expect(b.map((g) => [g.data.toString(), g.start, g.end])).toEqual([
      ['250-two\r\n', false, false],
      ['250 three\r\n', false, true],
    ]);
    expect(s.buffered()).toBe(0);
  });

  it('frames BDAT chunks by their size, including CRLF.CRLF and binary bytes inside', () => {
    const payload = Buffer.from([0x0d, 0x0a, 0x2e, 0x0d, 0x0a, 0x00, 0xff, 0x0a]);
    const steps: Step[] = [
      ['S', '220 hi\r\n'],
      ['C', Buffer.concat([Buffer.from(`BDAT ${payload.length} LAST\r\n`), payload, Buffer.from('QUIT\r\n')])],
      ['S', '250 ok\r\n221 bye\r\n'],
    ];
    for (let p = 1; p < bytes(steps[1][1]).length; p++) {
      const o = run(steps, (b, i) => (i === 1 ? cutAt(b, [p]) : [b]));
      expect(o.requests.map((m) => m.label)).toEqual(['BDAT', 'QUIT']);
      expect(Buffer.from(o.requests[0].data, 'latin1').subarray(-payload.length).equals(payload)).toBe(true);
      expect(o.pairs).toEqual(['BDAT', 'QUIT']);
    }
  });

  it('refuses a BDAT without a size', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    expect(() => s.fromClient(Buffer.from('BDAT LAST\r\n'))).toThrow(FramingError);
    expect(s.drain().client.toString()).toBe('BDAT LAST\r\n');
  });

  it('raises FramingError at once on binary bytes, and keeps them for drain()', () => {
    const s = smtp.createSession();
    // A TLS ClientHello sent to a plain SMTP port (implicit TLS): no LF to wait for.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]);
    expect(() => s.fromClient(hello)).toThrow(FramingError);
    expect(s.drain().client.equals(hello)).toBe(true);
    const t = smtp.createSession();
    expect(() => t.fromServer(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toThrow(FramingError);
    expect(t.drain().server.toString()).toBe('HTTP/1.1 400 Bad Request\r\n');
  });

  it('keeps earlier bytes of the failing chunk and the held ones', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    expect(s.fromClient(Buffer.from('NOOP\r\nEH'))).toHaveLength(1);
    expect(s.buffered()).toBe(2);
    expect(() => s.fromClient(Buffer.from('LO a\r\nGET\x00 /\r\n'))).toThrow(FramingError);
    expect(s.drain().client.toString('latin1')).toBe('EHLO a\r\nGET\x00 /\r\n');
    expect(s.buffered()).toBe(0);
  });

  it('caps a command line and a reply line at MAX_HEAD_BYTES', () => {
    const s = smtp.createSession();
    s.fromServer(Buffer.from('220 hi\r\n'));
    s.fromClient(Buffer.from('NOOP '));
    const filler = Buffer.alloc(4096, 'a');
    let thrown = false;
    for (let i = 0; i < 40 && !thrown; i++) {
      try {
        s.fromClient(filler);
      } catch (e) {
        expect(e).toBeInstanceOf(FramingError);
        thrown = true;
      }
      expect(s.buffered()).toBeLessThanOrEqual(MAX_HEAD_BYTES + filler.length);
    }
    expect(thrown).toBe(true);
    const t = smtp.createSession();
    t.fromServer(Buffer.from('220 '));
    expect(() => {
      for (let i = 0; i < 40; i++) t.fromServer(filler);
    }).toThrow(FramingError);
  });

  it('keeps failing after a FramingError, without losing bytes', () => {
    const s = smtp.createSession();
    expect(() => s.fromServer(Buffer.from('\x00\x01'))).toThrow(FramingError);
    expect(() => s.fromServer(Buffer.from('220 ok\r\n'))).toThrow(FramingError);
    expect(s.drain().server.toString('latin1')).toBe('\x00\x01220 ok\r\n');
  });
});

describe('smtp errors', () => {
  const ctx = { request: Buffer.from('DATA\r\n'), label: 'DATA', random: Math.random };

  it('encodes each kind as one reply line, 421 closing the connection', () => {
    expect(Object.keys(smtp.errorKinds).sort()).toEqual(['421', '451', '452', '554']);
    expect(smtp.defaultError).toBe('451');
    expect(smtp.framesReplies).toBe(true);
    const expected: Record<string, [string, boolean]> = {
      '421': ['421 4.3.0 Service not available, closing transmission channel\r\n', true],
      '451': ['451 4.3.0 Local error in processing\r\n', false],
      '452': ['452 4.3.1 Insufficient system storage\r\n', false],
      '554': ['554 5.3.0 Transaction failed\r\n', false],
    };
    for (const [kind, [text, close]] of Object.entries(expected)) {
      const r = smtp.encodeError(kind, ctx);
      expect(r.bytes.toString('latin1')).toBe(text);
      expect(r.close).toBe(close);
      expect(smtp.errorKinds[kind].fatal).toBe(close);
    }
  });

  it('encodes replies the framer itself reads as whole replies', () => {
    for (const kind of Object.keys(smtp.errorKinds)) {
      const s = smtp.createSession();
      s.fromServer(Buffer.from('220 hi\r\n'));
      s.fromClient(Buffer.from('NOOP\r\n'));
      const segs = s.fromServer(smtp.encodeError(kind, ctx).bytes);
      expect(segs).toHaveLength(1);
      expect(segs[0]).toMatchObject({ start: true, end: true });
      expect(segs[0].passthrough).toBeFalsy();
    }
  });

  it('falls back to the default kind for an unknown one, also one named like an Object method', () => {
    for (const kind of ['nope', 'toString', '__proto__']) {
      expect(smtp.encodeError(kind, ctx).bytes.toString()).toBe('451 4.3.0 Local error in processing\r\n');
    }
  });

  it('puts a message after the code of its kind, on one line', () => {
    const r = smtp.encodeError('554', { ...ctx, message: 'no\r\nway' });
    expect(r.bytes.toString()).toBe('554 no way\r\n');
    expect(smtp.encodeError('554', ctx).bytes.toString()).toBe('554 5.3.0 Transaction failed\r\n');
  });
});

// ---- property tests ----

interface Gen {
  steps: Step[];
  labels: string[];
}

const printable = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '.', ':', '-', '\t', 'é'), maxLength: 12 });

/** A dot-stuffed message body made of random lines, some starting with dots. */
const bodyArb = fc
  .array(fc.oneof(printable, printable.map((l) => `.${l}`), printable.map((l) => `${l}.`), fc.constant(''), fc.constant('.')), {
    maxLength: 30,
  })
  .map((lines) => lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).map((l) => `${l}\r\n`).join(''));

const replyArb = (code: string) =>
  fc.array(printable.map((t) => t.replace(/[\r\n]/g, '')), { minLength: 1, maxLength: 3 }).map((texts) =>
    texts.map((t, i) => `${code}${i === texts.length - 1 ? ' ' : '-'}${t}\r\n`).join(''),
  );

/** One random exchange (or transaction) of a session, with the labels it produces. */
const exchangeArb: fc.Arbitrary<Gen> = fc.oneof(
  fc.tuple(fc.constantFrom('NOOP', 'RSET', 'HELP', 'VRFY x', 'EHLO a.b', 'xclient', 'MAIL FROM:<a@b>'), replyArb('250')).map(
    ([cmd, reply]) => ({ steps: [['C', `${cmd}\r\n`], ['S', reply]] as Step[], labels: [cmd.split(' ')[0].toUpperCase()] }),
  ),
  fc.tuple(bodyArb, replyArb('250'), fc.boolean()).map(([body, reply, refuse]) =>
    refuse
      ? { steps: [['C', 'DATA\r\n'], ['S', '554 no\r\n']] as Step[], labels: ['DATA'] }
      : {
          steps: [['C', 'DATA\r\n'], ['S', '354 go\r\n'], ['C', `${body}.\r\n`], ['S', reply]] as Step[],
          labels: ['DATA', 'message'],
        },
  ),
  fc.tuple(fc.uint8Array({ maxLength: 20 }), fc.boolean()).map(([data, last]) => ({
    steps: [
      ['C', Buffer.concat([Buffer.from(`BDAT ${data.length}${last ? ' LAST' : ''}\r\n`), Buffer.from(data)])],
      ['S', '250 ok\r\n'],
    ] as Step[],
    labels: ['BDAT'],
  })),
  fc.integer({ min: 0, max: 3 }).map((rounds) => {
    const steps: Step[] = [['C', 'AUTH LOGIN\r\n']];
    const labels = ['AUTH'];
    for (let i = 0; i < rounds; i++) {
      steps.push(['S', '334 VXNlcm5hbWU6\r\n'], ['C', 'dXNlcg==\r\n']);
      labels.push('auth-data');
    }
    steps.push(['S', '235 ok\r\n']);
    return { steps, labels };
  }),
);

const sessionArb = fc.array(exchangeArb, { maxLength: 12 }).map((xs) => ({
  steps: [['S', '220 hi\r\n'] as Step, ...xs.flatMap((x) => x.steps)],
  labels: xs.flatMap((x) => x.labels),
}));

describe('smtp framing properties (fast-check)', () => {
  it('frames random valid sessions cut anywhere', () => {
    fc.assert(
      fc.property(sessionArb, fc.array(fc.array(fc.nat(100), { maxLength: 4 }), { maxLength: 60 }), (gen, points) => {
        const o = run(gen.steps, (b, i) => cutAt(b, points[i] ?? []));
        const { client, server } = streams(gen.steps);
        expect(o.client.equals(client)).toBe(true);
        expect(o.server.equals(server)).toBe(true);
        expect(o.requests.map((m) => m.label)).toEqual(gen.labels);
        expect(o.pairs).toEqual(gen.labels);
      }),
      { numRuns: 500 },
    );
  });

  it('ends the message exactly at the first CRLF.CRLF, whatever the body and the splits', () => {
    const body = fc.array(fc.constantFrom(0x0d, 0x0a, 0x2e, 0x61), { maxLength: 300 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(body, fc.array(fc.nat(310), { maxLength: 8 }), (raw, points) => {
        const s = smtp.createSession();
        s.fromServer(Buffer.from('220 hi\r\n'));
        s.fromClient(Buffer.from('DATA\r\n'));
        s.fromServer(Buffer.from('354 go\r\n'));
        // The DATA line's CRLF is the first CRLF of an immediate terminator.
        const k = Buffer.concat([Buffer.from('\r\n'), raw]).indexOf('\r\n.\r\n');
        const expectedEnd = k < 0 ? -1 : k + 3;
        // What follows a terminator is commands: a NOOP there.
        const x = expectedEnd < 0 ? raw : Buffer.concat([raw.subarray(0, expectedEnd), Buffer.from('NOOP\r\n')]);
        const content: Buffer[] = [];
        let endedAt = -1;
        let offset = 0;
        for (const piece of cutAt(x, points)) {
          for (const g of s.fromClient(piece)) {
            if (endedAt < 0) {
              content.push(g.data);
              if (g.end) endedAt = offset + g.data.length;
            }
            offset += g.data.length;
          }
        }
        expect(offset + s.buffered()).toBe(x.length);
        expect(s.buffered()).toBe(0);
        expect(endedAt).toBe(expectedEnd);
        expect(Buffer.concat(content).equals(x.subarray(0, expectedEnd < 0 ? x.length : expectedEnd))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('never loses bytes nor crashes on random, truncated or garbage input', () => {
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc.constantFrom('220 hi\r\n', '250-a\r\n', '250 ok\r\n', '354 go\r\n', '334 x\r\n', 'DATA\r\n', 'BDAT 3\r\n', 'EHLO x\r\n', '.\r\n', '\r\n', 'STARTTLS\r\n').map((s) => Buffer.from(s)),
      fc.integer({ min: 1, max: 3 }).map((k) => Buffer.alloc(k * 30_000, 'a')),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), piece), { maxLength: 40 }), (chunks) => {
        const s: FramerSession = smtp.createSession();
        const sent = { C: [] as Buffer[], S: [] as Buffer[] };
        const got = { C: [] as Buffer[], S: [] as Buffer[] };
        let failed = false;
        for (const [fromClient, chunk] of chunks) {
          const dir = fromClient ? 'C' : 'S';
          sent[dir].push(chunk);
          try {
            const segs = fromClient ? s.fromClient(chunk) : s.fromServer(chunk);
            for (const g of segs) got[dir].push(g.data);
          } catch (e) {
            expect(e).toBeInstanceOf(FramingError);
            failed = true;
            break;
          }
          expect(s.buffered()).toBeLessThanOrEqual(2 * MAX_HEAD_BYTES);
        }
        const held = s.buffered();
        const { client, server } = s.drain();
        expect(client.length + server.length).toBe(held);
        expect(Buffer.concat([...got.C, client]).equals(Buffer.concat(sent.C))).toBe(true);
        expect(Buffer.concat([...got.S, server]).equals(Buffer.concat(sent.S))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
