/**
 * Error lines behind memcache's quiet meta commands, against a real memcached put where it fails
 * (memory full under -M, a small -I): an error line echoes neither opaque nor key, so which
 * request it is for only what each could be refused for says.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memcache } from '../src/proxy/protocols/memcache.js';
import { refusal, runtimeErrors } from '../src/proxy/protocols/memcache-meta-errors.js';
import { findBinary, haveServer, startProcess, tempDir } from './helpers/servers.js';
import { freePort } from './helpers/net.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { within } from './helpers/within.js';

const run = haveServer('memcached');

const TOO_LARGE = 'SERVER_ERROR object too large for cache\r\n';
const NOT_A_NUMBER = 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n';
const OUT_OF_MEMORY = 'SERVER_ERROR out of memory storing object\r\n';

/** A connection that sends bytes and reads until the replies end with `MN`. */
async function connect(port: number) {
  const s = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  let got = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    wake?.();
  });
  return {
    async send(bytes: string, what: string, done = (b: Buffer) => b.toString('latin1').endsWith('MN\r\n')): Promise<Buffer> {
      s.write(Buffer.from(bytes, 'latin1'));
      const out = await within(what, new Promise<Buffer>((resolve) => {
        wake = () => { if (done(got)) resolve(got); };
        wake();
      }));
      got = Buffer.alloc(0);
      return out;
    },
    close: () => s.destroy(),
  };
}

/** Each request's reply as the memcache session frames `replies` to `requests` ('' for none). */
function framed(requests: string, replies: Buffer): string[] {
  const s = memcache.createSession();
  s.fromClient(Buffer.from(requests, 'latin1'));
  const out: string[] = [];
  let cur = '';
  for (const x of s.fromServer(replies)) {
    expect(x.passthrough, 'a reply nobody asked for').toBeFalsy();
    cur = (x.start ? '' : cur) + x.data.toString('latin1');
    if (x.end) out.push(cur);
  }
  return out;
}

describe.skipIf(!run)('memcache: error lines behind quiet meta commands, memcached out of memory and with -I 2k', () => {
  let port: number;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    port = await freePort();
    const dir = await tempDir('memcached-full');
    ({ stop } = await startProcess(
      findBinary('memcached') ?? 'memcached',
      ['-u', 'root', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '1', '-M', '-I', '2k', '-o', 'slab_chunk_max=1024'],
      port,
      dir,
    ));
    // A string ma cannot add to, then 100-byte items until memory is full (-M: no eviction).
    const c = await connect(port);
    const v = 'x'.repeat(100);
    let fill = 'ms txt 1\r\nv\r\nms cnt 2 q\r\n10\r\n';
    for (let i = 0; i < 12000; i++) fill += `ms fill${i} 100 q\r\n${v}\r\n`;
    const got = (await c.send(`${fill}mn\r\n`, 'filling memcached')).toString('latin1');
    c.close();
    expect(got.startsWith('HD\r\n')).toBe(true);
    expect(got).toContain(OUT_OF_MEMORY);
  });
  afterAll(async () => {
    await stop?.();
  });

  // Each request and what memcached answers it with ('' for nothing): the errors are those of
  // quiet requests behind silent ones, and of a request without q behind them.
  const batch: [string, string][] = [
    ['mg miss:a q v O1\r\n', ''],
    [`ms big 3000 q O2\r\n${'b'.repeat(3000)}\r\n`, TOO_LARGE],
    ['mg miss:b q v\r\n', ''],
    ['ma txt q O4\r\n', NOT_A_NUMBER],
    ['mg miss:c q k\r\n', ''],
    ['bogus\r\n', 'ERROR\r\n'],
    ['mg miss:d q O7\r\n', ''],
    [`ms oom 100 q\r\n${'o'.repeat(100)}\r\n`, OUT_OF_MEMORY],
    ['md miss:e q zz\r\n', 'CLIENT_ERROR invalid or duplicate flag\r\n'],
    ['mg miss:f q O10\r\n', ''],
    ['mn\r\n', 'MN\r\n'],
  ];
  const requests = batch.map(([r]) => r).join('');

  const withProxy = proxiesTo(() => port, { protocol: 'memcache', seed: 3 });

  it('each error line is the reply of the request memcached refuses, the silent ones ahead of it none', async () => {
    const c = await connect(port);
    const direct = await c.send(requests, 'the batch directly');
    const incr = await c.send('mg miss:g q O1\r\nincr txt 1\r\nmn\r\n', 'incr behind a quiet mg');
    c.close();
    expect(direct.toString('latin1')).toBe(batch.map(([, r]) => r).join(''));
    expect(framed(requests, direct)).toEqual(batch.map(([, r]) => r));
    expect(framed('mg miss:g q O1\r\nincr txt 1\r\nmn\r\n', incr)).toEqual(['', NOT_A_NUMBER, 'MN\r\n']);
  });

  it('through the proxy: each request one exchange, all ended, and the next fault answered in its turn', async () => {
    await withProxy('', async (p) => {
      const c = await connect(p.port);
      try {
        expect((await c.send(requests, 'the batch through the proxy')).toString('latin1')).toBe(batch.map(([, r]) => r).join(''));
        expect(p.stats()).toMatchObject({ exchanges: batch.length, fallbacks: 0 });
        expect(p.stats().latency.count).toBe(batch.length);
        // A reply taken by the wrong request left one waiting for a reply never to come, and the error hung behind it.
        await p.setMix('100:error');
        const err = await c.send('mg x v\r\n', 'an error drawn after the batch', (b) => b.includes('\r\n'));
        expect(err.toString('latin1')).toBe('SERVER_ERROR out of memory writing get response\r\n');
      } finally {
        c.close();
      }
    });
  });

  it('a command without q behind a quiet one that may get the same error line falls back: whose it is, nothing on the wire says', async () => {
    for (const [text, replies] of [
      // Small items still fit: stored, silent, then STORED; full, either or both would be out of memory.
      [`ms new:a 1 q O1\r\nx\r\nset new:b 0 0 1\r\ny\r\nmn\r\n`, 'STORED\r\nMN\r\n'],
      ['ma txt q O1\r\nincr txt 1\r\nmn\r\n', `${NOT_A_NUMBER}${NOT_A_NUMBER}MN\r\n`],
    ]) {
      await withProxy('', async (p) => {
        const c = await connect(p.port);
        try {
          expect((await c.send(text, text)).toString('latin1')).toBe(replies);
          expect(p.stats().fallbacks).toBe(1);
        } finally {
          c.close();
        }
      });
    }
  });

  it('a refused incr or decr line behind a quiet ma is framed: its error line is never the ma\'s', async () => {
    const INVALID_DELTA = 'CLIENT_ERROR invalid numeric delta argument\r\n';
    // Each request, memcached's reply ('' for none) and the injected one at 100:error. cnt's
    // '10' is added to in place (no memory needed): a quiet ma on it is silent.
    const list: [string, string, string][] = [
      ['ma txt q O1\r\n', NOT_A_NUMBER, 'SERVER_ERROR out of memory\r\n'],
      ['incr txt abc\r\n', INVALID_DELTA, 'SERVER_ERROR out of memory\r\n'],
      ['ma cnt q O3\r\n', '', 'SERVER_ERROR out of memory\r\n'],
      ['decr txt\r\n', 'ERROR\r\n', 'SERVER_ERROR out of memory\r\n'],
      ['ma cnt q\r\n', '', 'SERVER_ERROR out of memory\r\n'],
      [`incr ${'k'.repeat(251)} 1\r\n`, 'CLIENT_ERROR bad command line format\r\n', 'SERVER_ERROR out of memory\r\n'],
      ['ma txt q MD\r\n', NOT_A_NUMBER, 'SERVER_ERROR out of memory\r\n'],
      ['decr cnt -1\r\n', INVALID_DELTA, 'SERVER_ERROR out of memory\r\n'],
      ['mg miss:r q v O9\r\n', '', 'SERVER_ERROR out of memory writing get response\r\n'],
      ['mn\r\n', 'MN\r\n', 'SERVER_ERROR out of memory\r\n'],
    ];
    const requests = list.map(([r]) => r).join('');
    const c = await connect(port);
    const direct = await c.send(requests, 'refused lines behind quiet ma directly');
    c.close();
    expect(direct.toString('latin1')).toBe(list.map(([, r]) => r).join(''));
    expect(framed(requests, direct)).toEqual(list.map(([, r]) => r));
    for (const [mix, column] of [['', 1], ['100:error', 2]] as const) {
      const replies = list.map((r) => r[column]).join('');
      await withProxy(mix, async (p) => {
        const c = await connect(p.port);
        try {
          expect((await c.send(requests, `through the proxy at '${mix}'`, (b) => b.length >= replies.length)).toString('latin1'), mix).toBe(replies);
          expect(p.stats(), mix).toMatchObject({ exchanges: list.length, fallbacks: 0 });
          expect(p.stats().latency.count, mix).toBe(list.length);
        } finally {
          c.close();
        }
      });
    }
  });

  it('reads which lines memcached refuses as memcached does', async () => {
    const long = (n: number) => 'O'.padEnd(n, '7');
    const lines = [
      'mg k q zz', 'mg k q O1 O2', 'md k q zz', 'ma k q MZ', 'ma k q M++', 'ms k 1 q MZ\r\nx', 'ms k 1 q Mxx\r\nx', 'mg k q T',
      'mg k q Tabc', 'mg k q T5', 'mg k q T+5 N-5', 'mg k q F-1', 'mg k q Fx Tz', 'mg k q Tz Fx', `mg ${'k'.repeat(251)} q`,
      `md ${'k'.repeat(251)} q`, `mg k q ${long(33)}`, `mg k q ${long(32)}`, `md k q ${long(33)}`, `ms k 1 q ${long(33)}\r\nx`,
      `ms k 1 q ${long(33)} MZ\r\nx`, 'mg k q b', 'mg a2V5 q b', 'mg a2V= q b', 'mg ==== q b', `mg k q ${'s t c f l h v k u O1 P L I'.split(' ').join(' ')}`,
      `mg k q ${Array.from({ length: 17 }, (_, i) => `O${i}`).join(' ')}`, `md k q ${Array.from({ length: 17 }, (_, i) => `O${i}`).join(' ')}`,
      'ma k q C-1', 'ma k q D5 J-0', 'mg k q C99999999999999999999', 'mg k q C18446744073709551615', 'mg k q \xfa', 'mg k q E5',
      'ms k 3000000000 q\r\nx', 'ms k 4294967297 q\r\nx', 'ms k -1 q\r\nx', 'ms k +1 q\r\nx',
    ];
    const c = await connect(port);
    try {
      for (const line of lines) {
        const got = (await c.send(`${line}\r\nmn\r\n`, line)).toString('latin1');
        const first = got.slice(0, got.indexOf('\r\n'));
        const words = line.split('\r\n')[0].split(' ').filter((w) => w !== '');
        const said = refusal(words);
        // Not refused, an ms still fails to store here: memory is full.
        if (said !== undefined) expect(first, line).toBe(said);
        else if (/^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(first)) expect(runtimeErrors(words[0]), line).toContain(first);
      }
    } finally {
      c.close();
    }
  });
});
