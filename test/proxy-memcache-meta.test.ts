/**
 * memcache's text meta commands with the `q` flag (mg, ms, md, ma) in raw batches closed by `mn`,
 * against a real memcached, directly and through the chaos proxy: memcached answers a quiet one
 * only when it hits or fails, so which got none the replies after it say.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memcache } from '../src/proxy/protocols/memcache.js';
import { haveServer, startMemcached, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { within } from './helpers/within.js';

const run = haveServer('memcached');

/** The SERVER_ERROR kind's lines, by what the command is to memcache.ts. */
const OOM = { get: 'SERVER_ERROR out of memory writing get response', store: 'SERVER_ERROR out of memory storing object', other: 'SERVER_ERROR out of memory' };

interface Req { text: string; err: keyof typeof OOM }

/**
 * A batch whose replies do not depend on what the batch does, opaques from `o`: hits, misses,
 * failures memcached answers, a plain mg, closed by mn. A request whose reply may be nothing is
 * followed by one whose injected error reads otherwise, so a reader tells them apart.
 */
function batch(ns: string, o: number): Req[] {
  return [
    { text: `mg ${ns}:hit q v O${o}\r\n`, err: 'get' },             // hit: VA with O
    { text: `mg ${ns}:miss q v O${o + 1}\r\n`, err: 'get' },        // miss: nothing
    { text: `md ${ns}:miss q O${o + 2}\r\n`, err: 'other' },        // NF with O
    { text: `mg ${ns}:miss q k\r\n`, err: 'get' },                  // miss: nothing
    { text: `ms ${ns}:hit 1 q ME O${o + 4}\r\nx\r\n`, err: 'store' }, // add of an existing key: NS
    { text: `mg ${ns}:hit q k\r\n`, err: 'get' },                   // hit: HD with k
    { text: `ms ${ns}:w${o} 1 q\r\nw\r\n`, err: 'store' },          // stored: nothing
    { text: `mg ${ns}:hit s v\r\n`, err: 'get' },                   // not quiet: VA
    { text: `ma ${ns}:hit q O${o + 8}\r\n`, err: 'other' },         // non-numeric: CLIENT_ERROR
    { text: `md ${ns}:miss q\r\n`, err: 'other' },                  // NF
    { text: 'mn\r\n', err: 'other' },                               // MN
  ];
}

/** Reply units read from the stream: a line, with its data block for VA. */
function units(b: Buffer): { got: string[]; rest: Buffer } {
  const got: string[] = [];
  let p = 0;
  for (;;) {
    const lf = b.indexOf('\r\n', p);
    if (lf < 0) break;
    const line = b.toString('latin1', p, lf);
    let end = lf + 2;
    if (line.startsWith('VA ')) {
      end += Number(line.split(' ')[1]) + 2;
      if (end > b.length) break;
    }
    got.push(b.toString('latin1', p, end));
    p = end;
  }
  return { got, rest: b.subarray(p) };
}

/**
 * Each request's reply in the units read, by what it would get directly (`direct`, '' for
 * nothing) or its injected error; undefined until the closer's has come.
 */
function walk(reqs: Req[], direct: string[], got: string[]): { replies: string[]; errored: boolean[] } | undefined {
  const replies: string[] = [];
  const errored: boolean[] = [];
  let i = 0;
  for (let r = 0; r < reqs.length; r++) {
    const u = got[i];
    if (u === undefined) return undefined;
    if (u === `${OOM[reqs[r].err]}\r\n`) {
      replies.push(u);
      errored.push(true);
      i++;
    } else {
      replies.push(direct[r]);
      errored.push(false);
      if (direct[r] !== '') {
        expect(u, `request ${r} (${reqs[r].text.trim()})`).toBe(direct[r]);
        i++;
      }
    }
  }
  expect(got.slice(i), 'nothing after the closer').toEqual([]);
  return { replies, errored };
}

async function connect(port: number) {
  const s = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  let held: Buffer = Buffer.alloc(0);
  let got: string[] = [];
  let wake: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    const u = units(Buffer.concat([held, d]));
    held = u.rest;
    got.push(...u.got);
    wake?.();
  });
  return {
    /** Sends the batch, reads until `done` says the closer's reply has come. */
    async batch<T>(reqs: Req[], what: string, done: (got: string[]) => T | undefined): Promise<T> {
      s.write(reqs.map((r) => r.text).join(''));
      const out = await within(what, new Promise<T>((resolve) => {
        wake = () => {
          const d = done(got);
          if (d !== undefined) resolve(d);
        };
        wake();
      }));
      got = [];
      return out;
    },
    close: () => s.destroy(),
  };
}

/** The closer's MN has come: the units, each with its request by the direct replies. */
const untilMN = (got: string[]) => (got.at(-1) === 'MN\r\n' ? [...got] : undefined);

describe.skipIf(!run)('memcache meta commands with q through the proxy to memcached', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 7 });

  /** `ns`'s hit key holds 'v', set directly. */
  async function seed(ns: string) {
    const c = await connect(server.port);
    await c.batch([{ text: `ms ${ns}:hit 1\r\nv\r\n`, err: 'store' }], 'seed', (g) => (g.length ? g : undefined));
    c.close();
  }

  /** What memcached answers each request of the batch with, directly ('' for nothing). */
  async function directly(ns: string, o: number): Promise<string[]> {
    const c = await connect(server.port);
    const reqs = batch(ns, o);
    const got = await c.batch(reqs, 'direct batch', untilMN);
    c.close();
    // Read by hand once, the rest follows: the silent ones are 1, 3 and 6.
    const direct = ['', '', '', '', '', '', '', '', '', '', ''];
    let u = 0;
    for (const r of [0, 2, 4, 5, 7, 8, 9, 10]) direct[r] = got[u++];
    expect(u).toBe(got.length);
    return direct;
  }

  it('memcached answers quiet meta commands that hit or fail, and nothing else; the proxy passes them framed, one exchange each', async () => {
    await seed('pm');
    const direct = await directly('pm', 100);
    expect(direct).toEqual([
      'VA 1 O100\r\nv\r\n', '', 'NF O102\r\n', '', 'NS O104\r\n', 'HD kpm:hit\r\n', '', 'VA 1 s1\r\nv\r\n',
      'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n', 'NF\r\n', 'MN\r\n',
    ]);
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      try {
        expect(await c.batch(batch('pm', 100), 'batch through the proxy', untilMN)).toEqual(direct.filter((d) => d !== ''));
        const st = p.stats();
        expect(st.fallbacks).toBe(0);
        expect(st.exchanges).toBe(11);
        expect(st.latency.count).toBe(11);
      } finally {
        c.close();
      }
    });
  });

  it('100:error: every quiet meta command is answered with the error, as memcached answers a failing one, in order, none reaching memcached', async () => {
    await seed('em');
    await withProxy('100:error', async (p) => {
      const c = await connect(p.port);
      const reqs = batch('em', 200);
      try {
        const got = await c.batch(reqs, 'batch at 100:error', (g) => (g.length >= reqs.length ? [...g] : undefined));
        expect(got).toEqual(reqs.map((r) => `${OOM[r.err]}\r\n`));
        const st = p.stats();
        expect(st.behaviors.error).toBe(reqs.length);
        expect(st.exchanges).toBe(reqs.length);
        expect(st.fallbacks).toBe(0);
      } finally {
        c.close();
      }
    });
    const direct = await connect(server.port);
    const stored = await direct.batch([{ text: 'mg em:w200 v\r\n', err: 'get' }], 'direct mg', (g) => (g.length ? g : undefined));
    direct.close();
    expect(stored).toEqual(['EN\r\n']);
  });

  it('a command without q behind quiet ones is framed when the shape of its reply, or the mn right behind it, tells it from theirs; one that cannot be told falls back', async () => {
    await seed('sh');
    // Each request and memcached's reply ('' for none): a command without q right behind a quiet
    // one whose hit its reply could be taken for but for the flags it answers (s, t, f, k).
    const reqs: [string, string][] = [
      ['mg sh:miss q v\r\n', ''],
      ['mg sh:hit s\r\n', 'HD s1\r\n'],
      ['mg sh:hit q v\r\n', 'VA 1\r\nv\r\n'],
      ['mg sh:miss s v\r\n', 'EN\r\n'],
      ['mg sh:miss q s v\r\n', ''],
      ['mg sh:hit v t\r\n', 'VA 1 t-1\r\nv\r\n'],
      ['md sh:miss q\r\n', 'NF\r\n'],
      ['ms sh:hit 1 q c ME\r\nx\r\n', 'NS c0\r\n'],
      ['md sh:miss k\r\n', 'NF ksh:miss\r\n'],
      ['mg sh:miss q f\r\n', ''],
      ['mg sh:hit f k\r\n', 'HD f0 ksh:hit\r\n'],
      ['mn\r\n', 'MN\r\n'],
    ];
    const text = reqs.map(([r]) => r).join('');
    const replies = reqs.map(([, r]) => r);
    const direct = await connect(server.port);
    const got = await direct.batch([{ text, err: 'get' }], 'direct', untilMN);
    direct.close();
    expect(got.join('')).toBe(replies.join(''));
    // Framed, each reply is its request's; the quiet ones memcached kept silent on end empty.
    const s = memcache.createSession();
    s.fromClient(Buffer.from(text, 'latin1'));
    const framed: string[] = [];
    let cur = '';
    for (const x of s.fromServer(Buffer.from(got.join(''), 'latin1'))) {
      cur = (x.start ? '' : cur) + x.data.toString('latin1');
      if (x.end) framed.push(cur);
    }
    expect(framed).toEqual(replies);
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      try {
        expect(await c.batch([{ text, err: 'get' }], 'through the proxy', untilMN)).toEqual(got);
        expect(p.stats()).toMatchObject({ exchanges: reqs.length, fallbacks: 0 });
        expect(p.stats().latency.count).toBe(reqs.length);
        // Behind an mg v q, an mg v's hit reads "VA 1" as the quiet one's would: the mn right
        // behind them says which, its MN next (the quiet one missed) or after the other's reply.
        for (const [pair, replies] of [['mg sh:miss q v\r\nmg sh:hit v\r\n', ['', 'VA 1\r\nv\r\n']], ['mg sh:hit q v\r\nmg sh:miss v\r\n', ['VA 1\r\nv\r\n', 'EN\r\n']], ['mg sh:hit q v\r\nmg sh:hit v\r\n', ['VA 1\r\nv\r\n', 'VA 1\r\nv\r\n']]] as const) {
          const before = p.stats().exchanges;
          expect(await c.batch([{ text: `${pair}mn\r\n`, err: 'get' }], pair, untilMN)).toEqual([...replies.filter((r) => r !== ''), 'MN\r\n']);
          expect(p.stats()).toMatchObject({ exchanges: before + 3, fallbacks: 0 });
        }
        expect(p.stats().latency.count).toBe(reqs.length + 9);
        // Without it, a client waits for the VA and sends nothing more: whose it is, nothing says.
        expect(await c.batch([{ text: 'mg sh:miss q v\r\nmg sh:hit v\r\n', err: 'get' }], 'an mg v behind an mg v q alone', (g) => (g.length ? [...g] : undefined))).toEqual(['VA 1\r\nv\r\n']);
        expect(p.stats().fallbacks).toBe(1);
      } finally {
        c.close();
      }
    });
    await withProxy('100:error', async (p) => {
      const c = await connect(p.port);
      const errs = reqs.map(([r]) => `${OOM[r.startsWith('ms') ? 'store' : r.startsWith('mg') ? 'get' : 'other']}\r\n`);
      try {
        expect(await c.batch([{ text, err: 'get' }], 'at 100:error', (g) => (g.length >= reqs.length ? [...g] : undefined))).toEqual(errs);
        expect(p.stats()).toMatchObject({ exchanges: reqs.length, fallbacks: 0 });
        expect(p.stats().behaviors.error).toBe(reqs.length);
      } finally {
        c.close();
      }
    });
  });

  it('an mg v behind an mg v q with nothing behind them is framed when a reply follows the one in doubt, as memcached sends a hit\'s pair; the quiet one\'s miss still falls back', async () => {
    await seed('al');
    // The client waits for the mg v's reply and sends nothing more. memcached 1.6.18 answers a
    // pair sent in one write in one write: the quiet one's hit, then the other's reply.
    const pairs: [string, string[]][] = [
      ['mg al:hit q v\r\nmg al:hit v\r\n', ['VA 1\r\nv\r\n', 'VA 1\r\nv\r\n']],
      ['mg al:hit q v\r\nmg al:miss v\r\n', ['VA 1\r\nv\r\n', 'EN\r\n']],
      ['mg al:miss q v\r\nmg al:miss v\r\n', ['EN\r\n']],
    ];
    const direct = await connect(server.port);
    try {
      for (const [pair, replies] of pairs) {
        expect(await direct.batch([{ text: pair, err: 'get' }], `${pair} directly`, (g) => (g.length >= replies.length ? [...g] : undefined))).toEqual(replies);
      }
    } finally {
      direct.close();
    }
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      try {
        for (const [pair, replies] of pairs) {
          const before = p.stats().exchanges;
          expect(await c.batch([{ text: pair, err: 'get' }], `${pair} through the proxy`, (g) => (g.length >= replies.length ? [...g] : undefined))).toEqual(replies);
          expect(p.stats()).toMatchObject({ exchanges: before + 2, fallbacks: 0 });
        }
        await within('every exchange ended', (async () => { while (p.stats().latency.count < pairs.length * 2) await new Promise((r) => setTimeout(r, 10)); })());
        expect(p.stats().latency.count).toBe(pairs.length * 2);
        // The quiet one missed: the mg v's VA alone, which the quiet one's hit would read as
        // while the other's reply is on its way. Only time would tell: that falls back.
        expect(await c.batch([{ text: 'mg al:miss q v\r\nmg al:hit v\r\n', err: 'get' }], 'the quiet one missed', (g) => (g.length ? [...g] : undefined))).toEqual(['VA 1\r\nv\r\n']);
        expect(p.stats().fallbacks).toBe(1);
      } finally {
        c.close();
      }
    });
  });

  it('an mg v behind an mg v q, alike in shape, is told apart by the command right behind them when its replies read otherwise (a get, an ms, an md, version), as by an mn', async () => {
    await seed('tl');
    const version = await (async () => {
      const c = await connect(server.port);
      const v = await c.batch([{ text: 'version\r\n', err: 'other' }], 'version', (g) => (g.length ? g[0] : undefined));
      c.close();
      return v;
    })();
    // Each pair as memcached answers it: the quiet one's hit ('' when it missed), the other's reply.
    const pairs: [string, string[]][] = [
      ['mg tl:miss q v\r\nmg tl:hit v\r\n', ['', 'VA 1\r\nv\r\n']],
      ['mg tl:hit q v\r\nmg tl:miss v\r\n', ['VA 1\r\nv\r\n', 'EN\r\n']],
      ['mg tl:hit q v\r\nmg tl:hit v\r\n', ['VA 1\r\nv\r\n', 'VA 1\r\nv\r\n']],
      ['mg tl:miss q v\r\nmg tl:miss v\r\n', ['', 'EN\r\n']],
    ];
    const tellers: [Req, string][] = [
      [{ text: 'get tl:hit\r\n', err: 'get' }, 'VALUE tl:hit 0 1\r\nv\r\nEND\r\n'],
      [{ text: 'ms tl:w 1\r\nw\r\n', err: 'store' }, 'HD\r\n'],
      [{ text: 'md tl:miss\r\n', err: 'other' }, 'NF\r\n'],
      [{ text: 'version\r\n', err: 'other' }, version],
    ];
    const until = (last: string) => (g: string[]) => (g.join('').endsWith(last) ? g.join('') : undefined);
    const direct = await connect(server.port);
    try {
      for (const [pair, replies] of pairs) {
        for (const [teller, its] of tellers) {
          const want = [...replies, its];
          expect(await direct.batch([{ text: pair + teller.text, err: 'get' }], `${pair}${teller.text} directly`, until(its))).toBe(want.join(''));
          // Framed, each reply is its request's, the quiet one's silence an empty one.
          const s = memcache.createSession();
          s.fromClient(Buffer.from(pair + teller.text, 'latin1'));
          const framed: string[] = [];
          let cur = '';
          for (const x of s.fromServer(Buffer.from(want.join(''), 'latin1'))) {
            cur = (x.start ? '' : cur) + x.data.toString('latin1');
            if (x.end) framed.push(cur);
          }
          expect(framed, pair + teller.text).toEqual(want);
        }
      }
    } finally {
      direct.close();
    }
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      try {
        for (const [pair, replies] of pairs) {
          for (const [teller, its] of tellers) {
            const before = p.stats().exchanges;
            expect(await c.batch([{ text: pair + teller.text, err: 'get' }], `${pair}${teller.text} through the proxy`, until(its))).toBe([...replies, its].join(''));
            expect(p.stats()).toMatchObject({ exchanges: before + 3, fallbacks: 0 });
          }
        }
        await within('every exchange ended', (async () => { while (p.stats().latency.count < pairs.length * tellers.length * 3) await new Promise((r) => setTimeout(r, 10)); })());
        expect(p.stats().latency.count).toBe(pairs.length * tellers.length * 3);
        // Another mg v right behind reads as they do: that still falls back.
        expect(await c.batch([{ text: 'mg tl:miss q v\r\nmg tl:hit v\r\nmg tl:hit v\r\n', err: 'get' }], 'an mg v behind the pair', (g) => (g.length >= 2 ? [...g] : undefined))).toEqual(['VA 1\r\nv\r\n', 'VA 1\r\nv\r\n']);
        expect(p.stats().fallbacks).toBe(1);
      } finally {
        c.close();
      }
    });
    // Errors drawn among them (an error for the other one or for the command behind goes to
    // memcached as an mn, the quiet one waiting): each request its error or memcached's reply, in
    // order. The pair's errors read alike: any such reading will do.
    const oneEach = (reqs: Req[], direct: string[], got: string[]) => {
      const from = (r: number, i: number): boolean =>
        r === reqs.length
          ? i === got.length
          : (got[i] === `${OOM[reqs[r].err]}\r\n` && from(r + 1, i + 1)) || (direct[r] === '' ? from(r + 1, i) : got[i] === direct[r] && from(r + 1, i + 1));
      return from(0, 0) ? [...got] : undefined;
    };
    await withProxy('40:error', async (p) => {
      const c = await connect(p.port);
      try {
        for (let round = 0; round < 6; round++) {
          for (const [pair, replies] of pairs) {
            for (const [teller, its] of tellers.slice(1, 3)) {
              const reqs: Req[] = [...pair.split(/(?<=\n)/).map((text) => ({ text, err: 'get' as const })), teller];
              await c.batch(reqs, `${pair}${teller.text} at 40:error`, (g) => oneEach(reqs, [...replies, its], g));
            }
          }
        }
        expect(p.stats()).toMatchObject({ exchanges: 6 * pairs.length * 2 * 3, fallbacks: 0 });
        expect(p.stats().behaviors.error).toBeGreaterThan(0);
      } finally {
        c.close();
      }
    });
  });

  it('30:error with a seed: each request gets its injected error or what memcached answers, in order; the counts are exact', async () => {
    await seed('sm');
    const rounds = 30;
    const direct: string[][] = [];
    for (let i = 0; i < rounds; i++) direct.push(await directly('sm', 1000 + 20 * i));
    await withProxy('30:error', async (p) => {
      const c = await connect(p.port);
      let errors = 0;
      let standIns = 0;
      try {
        for (let i = 0; i < rounds; i++) {
          const reqs = batch('sm', 1000 + 20 * i);
          const { errored } = await c.batch(reqs, `batch ${i} through the proxy`, (g) => walk(reqs, direct[i], g));
          errors += errored.filter(Boolean).length;
          // The plain mg refused behind the stored ms the server kept silent on: its error needed an mn in its place.
          if (errored[7] && !errored[6]) standIns++;
        }
        const st = p.stats();
        expect(errors).toBeGreaterThan(rounds * 11 * 0.2);
        expect(standIns).toBeGreaterThan(0);
        expect(st.behaviors.error).toBe(errors);
        expect(st.exchanges).toBe(rounds * 11);
        expect(st.latency.count).toBe(rounds * 11);
        expect(st.fallbacks).toBe(0);
      } finally {
        c.close();
      }
    });
  });
});
