/**
 * SMTP through the chaos proxy: nodemailer (client) -> proxy -> smtp-server (a real SMTP server,
 * in-process on a free loopback port).
 */
import net from 'node:net';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { act, defineBehavior, z, type Behavior } from '../src/proxy/plugin.js';
import type { Proxy, ProxyOptions } from '../src/proxy/proxy.js';
import { SMTP_USERS, startSmtpServer, type RunningSmtp } from './helpers/smtp.js';
import { defaultRegistry } from '../behaviors/index.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { seededRandom } from '../src/proxy/random.js';

/** Errors on exchanges whose label is in `labels` only (to aim at DATA, the message, AUTH...). */
const errorOn = defineBehavior({
  name: 'error_on',
  description: 'test: the error behavior, only for some labels',
  options: z.object({ labels: z.array(z.string()).default([]), kind: z.string().optional() }),
  onExchange: (ctx, o) => (ctx.label !== undefined && o.labels.includes(ctx.label) ? act.error(o.kind) : act.forward()),
});
const registry = new Map<string, Behavior>([...defaultRegistry, [errorOn.name, errorOn as unknown as Behavior]]);

let plain: RunningSmtp;
let authed: RunningSmtp;
let tls: RunningSmtp;
const proxies: Proxy[] = [];

beforeAll(async () => {
  [plain, authed, tls] = await Promise.all([
    startSmtpServer({ reject: ['nobody@example.org'] }),
    startSmtpServer({ auth: true }),
    startSmtpServer({ starttls: true }),
  ]);
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close(100)));
  await Promise.all([plain?.stop(), authed?.stop(), tls?.stop()]);
});

async function proxyTo(server: RunningSmtp, behaviors: ProxyOptions['behaviors'] = '', seed = 1): Promise<Proxy> {
  const p = await startProxy(
    { name: 'smtp', listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}`, protocol: 'smtp', behaviors, seed },
    { behaviors: registry },
  );
  proxies.push(p);
  return p;
}

function transport(port: number, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 5000,
    ...extra,
  });
}

/** A raw RFC 5322 message, CRLF line ends, with lines that need dot-stuffing. */
function rawMessage(id: string, bodyLines = 20): Buffer {
  const lines = [
    'From: a@example.org',
    'To: b@example.org',
    `Subject: test ${id}`,
    `Message-ID: <${id}@example.org>`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    '.',
    '..two dots',
    '.leading dot',
    'a dot at the end.',
    'héllo wörld',
  ];
  for (let i = 0; i < bodyLines; i++) lines.push(`line ${i} ${'x'.repeat(i % 70)}`);
  lines.push('.');
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}

async function send(port: number, raw: Buffer, extra: Record<string, unknown> = {}, to = ['b@example.org']) {
  const t = transport(port, extra);
  try {
    return await t.sendMail({ envelope: { from: 'a@example.org', to }, raw });
  } finally {
    t.close();
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<Error & { code?: string; responseCode?: number; response?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string; responseCode?: number };
  }
  throw new Error('expected a failure, got success');
}

/** nodemailer's low-level client: one SMTP connection, several transactions. */
class Conn {
  readonly c: SMTPConnection;
  constructor(port: number, extra: Record<string, unknown> = {}) {
    this.c = new SMTPConnection({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, socketTimeout: 5000, ...extra });
    this.c.on('error', () => undefined);
  }
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.c.once('error', reject);
      this.c.connect(() => {
        this.c.removeListener('error', reject);
        resolve();
      });
    });
  }
  login(user: string, pass: string, method?: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.c.login({ user, pass, method } as SMTPConnection.AuthenticationCredentials, (err, info) => (err ? reject(err) : resolve(info)));
    });
  }
  send(raw: Buffer, to = ['b@example.org']): Promise<SMTPConnection.SentMessageInfo> {
    return new Promise((resolve, reject) => {
      this.c.send({ from: 'a@example.org', to }, raw, (err, info) => (err ? reject(err) : resolve(info)));
    });
  }
  reset(): Promise<void> {
    return new Promise((resolve, reject) => this.c.reset((err) => (err ? reject(err) : resolve())));
  }
  quit(): void {
    this.c.quit();
  }
}

/** A plain socket speaking SMTP by hand: send lines, read whole replies. */
class Raw {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }
  static async open(port: number): Promise<Raw> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new Raw(s);
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  write(s: string | Buffer): void {
    this.socket.write(s);
  }
  /** Reads `n` whole replies (multi-line ones count once); fails after `timeoutMs`. */
  async replies(n: number, timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out: string[] = [];
      let pos = 0;
      let start = 0;
      while (out.length < n) {
        const nl = this.buf.indexOf('\n', pos);
        if (nl < 0) break;
        const line = this.buf.slice(pos, nl + 1);
        pos = nl + 1;
        if (line[3] !== '-') {
          out.push(this.buf.slice(start, pos));
          start = pos;
        }
      }
      if (out.length === n) {
        this.buf = this.buf.slice(start);
        return out;
      }
      if (this.closed) throw new Error(`closed after ${out.length} of ${n} replies: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${out.length} of ${n} replies`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  /** Resolves when the peer closed, or with false after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }
  close(): void {
    this.socket.destroy();
  }
}

const code = (reply: string) => reply.slice(0, 3);
const byId = (server: RunningSmtp, id: string) => server.messages.filter((m) => m.data.includes(`<${id}@example.org>`));

describe('smtp through the proxy: pass-through', () => {
  it('delivers messages byte-exact, as a direct connection does', async () => {
    const p = await proxyTo(plain);
    const raw = rawMessage('exact-1', 200);
    const direct = await send(plain.port, raw);
    const proxied = await send(p.port, raw);
    expect(proxied.accepted).toEqual(direct.accepted);
    expect(proxied.response).toBe(direct.response);
    const got = byId(plain, 'exact-1');
    expect(got).toHaveLength(2);
    expect(got[0].data.equals(raw)).toBe(true); // direct
    expect(got[1].data.equals(raw)).toBe(true); // through the proxy
    expect(got[1].to).toEqual(got[0].to);
    const s = p.stats();
    expect(s.fallbacks).toBe(0);
    // EHLO, MAIL, RCPT, DATA, message (QUIT may still be on its way)
    expect(s.exchanges).toBeGreaterThanOrEqual(5);
    expect(s.behaviors).toEqual({ dummy: s.exchanges });
  });

  it('delivers a 3 MB message with many dot lines untouched', async () => {
    const p = await proxyTo(plain);
    const line = '.' + 'y'.repeat(60) + '\r\n' + 'z'.repeat(77) + '.\r\n';
    const head = Buffer.from('Subject: big\r\nMessage-ID: <big-1@example.org>\r\n\r\n');
    const body = Buffer.from(line.repeat(Math.ceil((3 * 1024 * 1024) / line.length)));
    const raw = Buffer.concat([head, body]);
    await send(p.port, raw);
    const [m] = byId(plain, 'big-1');
    expect(m.data.length).toBe(raw.length);
    expect(m.data.equals(raw)).toBe(true);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('keeps several pipelined transactions on one connection in order', async () => {
    const p = await proxyTo(plain);
    const c = new Conn(p.port);
    await c.connect();
    const ids = ['pipe-1', 'pipe-2', 'pipe-3', 'pipe-4'];
    for (const id of ids) {
      // Two recipients, one refused: MAIL, RCPT, RCPT, DATA go out in one pipelined batch.
      const info = await c.send(rawMessage(id, 5), ['b@example.org', 'nobody@example.org']);
      expect(info.accepted).toEqual(['b@example.org']);
      expect(info.rejected).toEqual(['nobody@example.org']);
    }
    await c.reset();
    c.quit();
    const got = ids.map((id) => byId(plain, id));
    expect(got.every((g) => g.length === 1)).toBe(true);
    expect(new Set(got.map((g) => g[0].sessionId)).size).toBe(1);
    expect(got.every((g, i) => g[0].data.equals(rawMessage(ids[i], 5)))).toBe(true);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('gives the same replies, byte for byte, as a direct connection to a hand-written pipelined script', async () => {
    const p = await proxyTo(plain);
    const script =
      'EHLO raw.test\r\n' +
      'NOOP\r\nhelp\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n';
    const content = 'Subject: raw\r\nMessage-ID: <raw-1@example.org>\r\n\r\n..dot\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n';
    const transcript = async (port: number) => {
      const r = await Raw.open(port);
      const greeting = await r.replies(1);
      r.write(script);
      const first = await r.replies(7);
      r.write(content);
      const rest = await r.replies(4);
      expect(await r.closedWithin(2000)).toBe(true);
      return { greeting, replies: [...first, ...rest] };
    };
    const direct = await transcript(plain.port);
    const proxied = await transcript(p.port);
    expect(proxied.replies.map(code)).toEqual(['250', '250', '214', '250', '250', '550', '354', '250', '250', '250', '221']);
    // The greeting and the EHLO reply name the client's address, the same (127.0.0.1) both ways.
    expect(proxied).toEqual(direct);
    expect(p.stats().fallbacks).toBe(0);
    expect(p.stats().exchanges).toBe(11);
  });

  it('delivers many concurrent messages written in odd-sized pieces byte for byte, passing and under errors and delays', async () => {
    // The proxy reads both sides into buffers it reuses (reused-reads.ts): a chunk whose bytes
    // are still held (a line cut between chunks, a request delayed, a write the server has not
    // taken) must not be read into again. Distinct bodies make any reuse too early show.
    const random = seededRandom('smtp-pieces');
    const bodies = new Map<string, Buffer>();
    const bodyOf = (id: string) => bodies.get(id) ?? bodies.set(id, makeBody(id)).get(id)!;
    const makeBody = (id: string) => {
      const lines = [`Message-ID: <${id}@example.org>`, ''];
      for (let i = 0, n = Math.floor(random() * 400); i < n; i++) {
        const text = Buffer.from(Array.from({ length: Math.floor(random() * 60) }, () => Math.floor(random() * 256))).toString('base64');
        lines.push(i % 7 === 3 ? `.${text}` : text);
      }
      return Buffer.from(`${lines.join('\r\n')}\r\n`);
    };
    const stuffed = (body: Buffer) => Buffer.from(`${body.toString('latin1').replace(/^\./gm, '..')}.\r\n`, 'latin1');
    const writeInPieces = async (r: Raw, b: Buffer) => {
      for (let at = 0, k = 0; at < b.length; k++) {
        const size = [1, 5, 333, 4096, 150_000][Math.floor(random() * 5)];
        r.write(b.subarray(at, at + size));
        at += size;
        if (k % 3 === 2) await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const mixes: ProxyOptions['behaviors'][] = ['', { error_on: { percent: 30, labels: ['NOOP'] }, delay: { percent: 20, sleep: 0.002 } }];
    for (const [m, behaviors] of mixes.entries()) {
      const p = await proxyTo(plain, behaviors, 5);
      const ids: string[] = [];
      const noops: string[] = [];
      await Promise.all(
        Array.from({ length: 6 }, async (_, c) => {
          const r = await Raw.open(p.port);
          expect(code((await r.replies(1))[0])).toBe('220');
          r.write('EHLO pieces.test\r\n');
          expect(code((await r.replies(1))[0])).toBe('250');
          for (let t = 0; t < 8; t++) {
            const id = `pieces-${m}-${c}-${t}`;
            ids.push(id);
            await writeInPieces(r, Buffer.from('NOOP\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n'));
            const [noop, ...rest] = (await r.replies(4)).map(code);
            noops.push(noop);
            expect(rest).toEqual(['250', '250', '354']);
            await writeInPieces(r, stuffed(bodyOf(id)));
            expect(code((await r.replies(1))[0])).toBe('250');
          }
          r.write('QUIT\r\n');
          await r.replies(1);
          r.close();
        }),
      );
      for (const id of ids) {
        const got = byId(plain, id);
        expect(got, id).toHaveLength(1);
        expect(got[0].data.equals(bodyOf(id)), `body of ${id}`).toBe(true);
      }
      expect(noops.filter((n) => n === '451').length > 0).toBe(m === 1);
      expect(p.stats().fallbacks).toBe(0);
    }
  }, 60_000);

  it('authenticates with PLAIN and LOGIN, and passes a refusal on', async () => {
    const p = await proxyTo(authed);
    const [user, pass] = Object.entries(SMTP_USERS)[0];
    for (const method of ['PLAIN', 'LOGIN']) {
      await send(p.port, rawMessage(`auth-${method}`), { auth: { user, pass }, authMethod: method });
      const [m] = byId(authed, `auth-${method}`);
      expect(m.user).toBe(user);
    }
    const err = await failure(send(p.port, rawMessage('auth-bad'), { auth: { user, pass: 'wrong' }, authMethod: 'LOGIN' }));
    expect(err.code).toBe('EAUTH');
    expect(err.responseCode).toBe(535);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('passes everything through after STARTTLS (the mail goes inside TLS, unframed)', async () => {
    // Errors on every SMTP command but EHLO and STARTTLS: none can reach the commands sent
    // inside TLS, since the proxy no longer frames them.
    const everything = ['MAIL', 'RCPT', 'DATA', 'message', 'QUIT', 'NOOP', 'RSET', 'AUTH'];
    const p = await proxyTo(tls, { error_on: { percent: 100, labels: everything } });
    const info = await send(p.port, rawMessage('tls-1'), { ignoreTLS: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    expect(info.accepted).toEqual(['b@example.org']);
    const [m] = byId(tls, 'tls-1');
    expect(m.secure).toBe(true);
    expect(m.data.equals(rawMessage('tls-1'))).toBe(true);
    const s = p.stats();
    expect(s.fallbacks).toBe(0);
    expect(s.exchanges).toBe(2); // EHLO, STARTTLS; then passthrough
  });
});

describe('smtp through the proxy: framing fallback', () => {
  it('passes a connection through untouched once it stops making sense as SMTP', async () => {
    const p = await proxyTo(plain, '100:error'); // framed exchanges would all fail
    const r = await Raw.open(p.port);
    expect(code((await r.replies(1))[0])).toBe('220');
    r.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x0d, 0x0a]));
    // smtp-server's own answer to a line it cannot parse, not the proxy's 451.
    expect(code((await r.replies(1))[0])).toBe('500');
    r.write('NOOP\r\n');
    expect(code((await r.replies(1))[0])).toBe('250');
    r.close();
    expect(p.stats().fallbacks).toBe(1);
    expect(p.stats().behaviors.error ?? 0).toBe(0);
  });
});

describe('smtp through the proxy: injected errors', () => {
  for (const kind of ['451', '452', '554', '421']) {
    it(`100:error with kind ${kind} gives nodemailer an SMTP error with responseCode ${kind}`, async () => {
      const p = await proxyTo(plain, { error: { percent: 100, kind } });
      const before = plain.messages.length;
      const err = await failure(send(p.port, rawMessage(`err-${kind}`)));
      // nodemailer retries a refused EHLO with HELO; a 421 is a connection error to it.
      expect(err.code).toBe(kind === '421' ? 'ECONNECTION' : 'EPROTOCOL');
      expect(err.responseCode).toBe(Number(kind));
      expect(err.response).toMatch(new RegExp(`^${kind} `));
      expect(plain.messages.length).toBe(before);
      // By hand: the same reply to any command; 421 closes the connection, the others do not.
      const r = await Raw.open(p.port);
      expect(code((await r.replies(1))[0])).toBe('220');
      r.write('NOOP\r\n');
      expect(code((await r.replies(1))[0])).toBe(kind);
      if (kind === '421') {
        expect(await r.closedWithin(2000)).toBe(true);
      } else {
        r.write('RSET\r\n');
        expect(code((await r.replies(1))[0])).toBe(kind);
        expect(r.closed).toBe(false);
        r.close();
      }
      expect(p.stats().behaviors.error).toBe(kind === '421' ? 2 : 4); // (EHLO, HELO,) NOOP, RSET
    });
  }

  it('the connection goes on after an error on the envelope, once the mix is back to dummy', async () => {
    const p = await proxyTo(plain);
    const c = new Conn(p.port);
    await c.connect();
    await p.setMix({ error: { percent: 100, kind: '452' } });
    const err = await failure(c.send(rawMessage('after-err-0')));
    expect(err.code).toBe('EENVELOPE');
    expect(err.responseCode).toBe(452);
    await p.setMix('100:dummy');
    await c.send(rawMessage('after-err-1'));
    c.quit();
    expect(byId(plain, 'after-err-0')).toHaveLength(0);
    expect(byId(plain, 'after-err-1')).toHaveLength(1);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('an error on DATA keeps the session in step (no content is sent, the next mail goes through)', async () => {
    const p = await proxyTo(plain, { error_on: { percent: 100, labels: ['DATA'], kind: '451' } });
    const c = new Conn(p.port);
    await c.connect();
    const err = await failure(c.send(rawMessage('data-err-0')));
    expect(err.responseCode).toBe(451);
    await p.setMix('100:dummy');
    await c.reset();
    const info = await c.send(rawMessage('data-err-1'));
    expect(info.accepted).toEqual(['b@example.org']);
    c.quit();
    expect(byId(plain, 'data-err-0')).toHaveLength(0);
    expect(byId(plain, 'data-err-1')).toHaveLength(1);
    expect(byId(plain, 'data-err-1')[0].data.equals(rawMessage('data-err-1'))).toBe(true);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('an error on the message replaces the final reply: the server got it, the client sees the error', async () => {
    const p = await proxyTo(plain, { error_on: { percent: 100, labels: ['message'], kind: '554' } });
    const c = new Conn(p.port);
    await c.connect();
    const err = await failure(c.send(rawMessage('msg-err-0')));
    expect(err.code).toBe('EMESSAGE');
    expect(err.responseCode).toBe(554);
    // The content had to be forwarded (the server was in data mode): it was delivered.
    expect(byId(plain, 'msg-err-0')).toHaveLength(1);
    await p.setMix('100:dummy');
    await c.send(rawMessage('msg-err-1'));
    c.quit();
    expect(byId(plain, 'msg-err-1')).toHaveLength(1);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('an error on an AUTH challenge answer fails the login', async () => {
    const p = await proxyTo(authed, { error_on: { percent: 100, labels: ['auth-data'], kind: '451' } });
    const [user, pass] = Object.entries(SMTP_USERS)[0];
    const err = await failure(send(p.port, rawMessage('auth-err'), { auth: { user, pass }, authMethod: 'LOGIN' }));
    expect(err.code).toBe('EAUTH');
    expect(err.responseCode).toBe(451);
    expect(byId(authed, 'auth-err')).toHaveLength(0);
  });

  it('50:error with a seed fails about half of 400 pipelined exchanges, replies staying in order', async () => {
    const p = await proxyTo(plain, '50:error', 42);
    const r = await Raw.open(p.port);
    await r.replies(1); // greeting: passthrough, never faulted
    const codes: string[] = [];
    for (let batch = 0; batch < 8; batch++) {
      // 50 NOOPs in one write: the proxy must interleave its own 451s with the server's 250s.
      r.write(Array.from({ length: 50 }, (_, i) => `NOOP ${batch * 50 + i}\r\n`).join(''));
      const replies = await r.replies(50);
      codes.push(...replies.map(code));
    }
    r.close();
    const errors = codes.filter((c) => c === '451').length;
    expect(codes.filter((c) => c !== '451' && c !== '250')).toEqual([]);
    // Binomial(400, 0.5): mean 200, sd 10; +-40 is 4 sd (a seeded run is deterministic anyway).
    expect(errors).toBeGreaterThanOrEqual(160);
    expect(errors).toBeLessThanOrEqual(240);
    expect(p.stats().behaviors.error).toBe(errors);
    expect(p.stats().fallbacks).toBe(0);
  });

  it('50:error with a seed over many short mail sessions: every failure is a 451, every success delivered', async () => {
    const p = await proxyTo(plain, '50:error', 7);
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 40; i++) {
      try {
        await send(p.port, rawMessage(`half-${i}`, 2));
        ok++;
        expect(byId(plain, `half-${i}`)).toHaveLength(1);
      } catch (e) {
        failed++;
        expect((e as { responseCode?: number }).responseCode).toBe(451);
      }
    }
    // A session needs EHLO (or HELO after it), MAIL, RCPT, DATA and the message all to pass.
    expect(ok + failed).toBe(40);
    expect(failed).toBeGreaterThan(20);
    expect(p.stats().fallbacks).toBe(0);
  });
});

describe('smtp through the proxy: other behaviors', () => {
  it('100:delay with sleep 0.2 adds about 200 ms per exchange', async () => {
    const p = await proxyTo(plain, { delay: { percent: 100, sleep: 0.2 } });
    const r = await Raw.open(p.port);
    await r.replies(1);
    const t0 = performance.now();
    r.write('NOOP\r\n');
    expect(code((await r.replies(1))[0])).toBe('250');
    const ms = performance.now() - t0;
    r.close();
    expect(ms).toBeGreaterThanOrEqual(195);
    expect(ms).toBeLessThan(1000);
    const t1 = performance.now();
    await send(p.port, rawMessage('delay-1'));
    // EHLO, MAIL, RCPT, DATA, message: five exchanges, one after the other.
    expect(performance.now() - t1).toBeGreaterThanOrEqual(5 * 195);
    expect(byId(plain, 'delay-1')).toHaveLength(1);
  });

  it('100:blackout closes the client connection, nothing reaches the server', async () => {
    const p = await proxyTo(plain, '100:blackout');
    const before = plain.messages.length;
    const err = await failure(send(p.port, rawMessage('blackout-1')));
    expect(err.code).toMatch(/^(ECONNECTION|ESOCKET|EPROTOCOL)$/);
    expect(plain.messages.length).toBe(before);
    const r = await Raw.open(p.port);
    expect(code((await r.replies(1))[0])).toBe('220'); // the greeting is never faulted
    r.write('NOOP\r\n');
    expect(await r.closedWithin(2000)).toBe(true);
  });

  it('100:hang makes the client time out', async () => {
    const p = await proxyTo(plain, '100:hang');
    const t0 = performance.now();
    const err = await failure(send(p.port, rawMessage('hang-1'), { socketTimeout: 300 }));
    expect(err.code).toBe('ETIMEDOUT');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(byId(plain, 'hang-1')).toHaveLength(0);
  });
});
