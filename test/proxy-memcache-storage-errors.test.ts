/**
 * The classic storage commands (set add replace append prepend cas) whose line memcached refuses
 * before it reads their data block, against a real memcached: such a line has no data block (the
 * bytes after it are the next command), and any other has one, whatever its numbers look like.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memcache } from '../src/proxy/protocols/memcache.js';
import { freePort, rawExchange } from './helpers/net.js';
import { findBinary, haveServer, startProcess, tempDir } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';

const run = haveServer('memcached');

const BAD_LINE = 'CLIENT_ERROR bad command line format\r\n';
const STORED = 'STORED\r\n';
/** -I 2k: a 3000-byte item is too large, and memcached swallows its data block. */
const TOO_LARGE = 'SERVER_ERROR object too large for cache\r\n';

/**
 * A storage line and the data block the client sends after it: `{n}` in the line is the block's
 * length, `{n+2^32}` and `{n-2^32}` that length as memcached reads an int32 out of a bigger
 * number. `reply` is memcached's reply to the line ('' for none); `refused`, that the block is
 * no data to memcached but the next command, `mg <key> O<i> k`, whose miss says which it was.
 */
interface Case {
  line: string;
  reply: string;
  refused?: boolean;
  data?: string;
}

const cases: Case[] = [
  // Numbers glibc's strtol and strtoul read (a sign, -0, a u64 flags, an int64 exptime, an
  // int32 size out of a larger number): the line is taken, its data block read.
  { line: 'set s:a +0 0 {n}', reply: STORED },
  { line: 'set s:b 0 +0 {n}', reply: STORED },
  { line: 'add s:c 0 0 +{n}', reply: STORED },
  { line: 'set s:d -0 -0 {n}', reply: STORED },
  { line: 'replace s:a 18446744073709551615 0 {n}', reply: STORED },
  { line: 'set s:e 0 4294967296 {n}', reply: STORED },
  { line: 'prepend s:a 0 0 {n+2^32}', reply: STORED },
  { line: 'append s:a 0 0 {n-2^32}', reply: STORED },
  { line: 'cas s:a 0 0 {n} +1', reply: 'EXISTS\r\n' },
  { line: 'set s:f 0 0 {n} noreply', reply: '' },
  { line: 'set s:g 0 0 {n}\t', reply: STORED },
  { line: 'set s:big 0 0 {n}', reply: TOO_LARGE, data: 'x'.repeat(3000) },
  { line: 'set s:big 0 0 {n} noreply', reply: '', data: 'x'.repeat(3000) },
  // Refused before the size is read, or with a size memcached will not read: no data block.
  { line: 'set r:a 18446744073709551616 0 {n}', reply: BAD_LINE, refused: true },
  { line: 'set r:b -1 0 {n}', reply: BAD_LINE, refused: true },
  { line: 'set r:c 0 9223372036854775808 {n}', reply: BAD_LINE, refused: true },
  { line: 'set r:d 0 0 2147483646', reply: BAD_LINE, refused: true },
  { line: 'add r:e 0 0 -1', reply: BAD_LINE, refused: true },
  { line: 'set r:f 0x 0 {n}', reply: BAD_LINE, refused: true },
  { line: 'cas r:g 0 0 {n} 18446744073709551616', reply: BAD_LINE, refused: true },
  { line: 'cas r:h 0 0 {n} -1', reply: BAD_LINE, refused: true },
  { line: `set ${'k'.repeat(251)} 0 0 {n}`, reply: BAD_LINE, refused: true },
  { line: 'set r:i 0 0 -1 noreply', reply: '', refused: true },
  { line: 'cas r:j 0 0 {n} noreply', reply: '', refused: true },
  { line: 'set r:k 0 0 {n} noreply junk', reply: 'ERROR\r\n', refused: true },
  { line: 'cas r:l 0 0 {n}', reply: 'ERROR\r\n', refused: true },
];

/** A request as memcached reads it, what it answers, and what the proxy answers at 100:error. */
interface Request {
  text: string;
  reply: string;
  injected: string;
}

/** The requests, their keys starting with `tag`: each test stores its own. */
function requests(tag: string): Request[] {
  const out: Request[] = [];
  cases.forEach((c, i) => {
    const data = c.data ?? `mg ${tag}miss:${i} O${i} k`;
    const n = data.length;
    const line = c.line
      .replace(' ', ` ${tag}`)
      .replace('{n}', String(n))
      .replace('{n+2^32}', String(n + 2 ** 32))
      .replace('{n-2^32}', String(n - 2 ** 32));
    const injected = c.reply === '' ? '' : 'SERVER_ERROR out of memory storing object\r\n';
    if (!c.refused) {
      out.push({ text: `${line}\r\n${data}\r\n`, reply: c.reply, injected });
      return;
    }
    out.push({ text: `${line}\r\n`, reply: c.reply, injected });
    out.push({ text: `${data}\r\n`, reply: `EN O${i} k${tag}miss:${i}\r\n`, injected: 'SERVER_ERROR out of memory writing get response\r\n' });
  });
  out.push({ text: 'mn\r\n', reply: 'MN\r\n', injected: 'SERVER_ERROR out of memory\r\n' });
  return out;
}

/** The requests the memcache session reads in `text`, then each one's reply as it frames `replies`. */
function framed(text: string, replies: Buffer): string[] {
  const s = memcache.createSession();
  const requests = s.fromClient(Buffer.from(text, 'latin1')).filter((x) => x.start && !x.passthrough);
  const out: string[] = [`${requests.length} requests`];
  let cur = '';
  for (const x of s.fromServer(replies)) {
    if (x.passthrough) {
      out.push(`nobody's: ${x.data.toString('latin1')}`);
      continue;
    }
    cur = (x.start ? '' : cur) + x.data.toString('latin1');
    if (x.end) out.push(cur);
  }
  return out;
}

const text = (list: Request[]) => list.map((r) => r.text).join('');
const exchange = async (port: number, bytes: string, marker: string) =>
  Buffer.concat(await rawExchange(port, Buffer.from(bytes, 'latin1'), marker)).toString('latin1');

describe.skipIf(!run)('memcache: storage lines memcached refuses before their data block', () => {
  let port: number;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    port = await freePort();
    const dir = await tempDir('memcached-storage');
    ({ stop } = await startProcess(
      findBinary('memcached') ?? 'memcached',
      ['-u', 'root', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-I', '2k', '-o', 'slab_chunk_max=1024'],
      port,
      dir,
    ));
  });
  afterAll(async () => {
    await stop?.();
  });

  const withProxy = proxiesTo(() => port, { protocol: 'memcache', seed: 5 });

  it('each line is framed as memcached reads it: its data block or the next command', async () => {
    const list = requests('direct:');
    const direct = await exchange(port, text(list), 'MN\r\n');
    expect(direct).toBe(list.map((r) => r.reply).join(''));
    // One case at a time, so that a wrong one is named, not the whole batch shifted after it.
    for (let i = 0, at = 0; i < cases.length; i++) {
      const mine = list.slice(at, (at += cases[i].refused ? 2 : 1));
      const replies = mine.map((r) => r.reply).join('');
      const expected = [`${mine.length} requests`, ...mine.filter((r) => r.reply !== '').map((r) => r.reply)];
      expect.soft(framed(text(mine), Buffer.from(replies, 'latin1')), cases[i].line).toEqual(expected);
    }
  });

  it('through the proxy: the same replies, one exchange per request as memcached reads them', async () => {
    const list = requests('proxy:');
    await withProxy('', async (p) => {
      expect(await exchange(p.port, text(list), 'MN\r\n')).toBe(list.map((r) => r.reply).join(''));
      expect(p.stats()).toMatchObject({ exchanges: list.length, fallbacks: 0 });
      // Each answered one ended (a noreply one has no reply to time): none took another's reply.
      expect(p.stats().latency.count).toBe(list.filter((r) => r.reply !== '').length);
    });
  });

  it('at 100:error each request gets its error in its turn, a noreply one goes to memcached', async () => {
    const list = requests('error:');
    await withProxy('100:error', async (p) => {
      expect(await exchange(p.port, text(list), 'SERVER_ERROR out of memory\r\n')).toBe(list.map((r) => r.injected).join(''));
      expect(p.stats()).toMatchObject({ exchanges: list.length, fallbacks: 0 });
      expect(p.stats().behaviors.error).toBe(list.filter((r) => r.injected !== '').length);
    });
    // The noreply set went whole, its data block with it. Nothing memcached sends says when it
    // has stored it (the client's replies were all the proxy's), so another connection may ask first.
    const i = cases.findIndex((c) => c.line === 'set s:f 0 0 {n} noreply');
    const value = `mg error:miss:${i} O${i} k`;
    await expect.poll(() => exchange(port, 'get error:s:f\r\n', 'END\r\n')).toBe(`VALUE error:s:f 0 ${value.length}\r\n${value}\r\nEND\r\n`);
  });

  it('a refused storage line behind a quiet ms is framed: its error line is never the ms\'s', async () => {
    const batch = (tag: string): Request[] => [
      { text: `ms ${tag}:q 1 q O1\r\nx\r\n`, reply: '', injected: 'SERVER_ERROR out of memory storing object\r\n' },
      { text: `set ${tag}:r 0 0 -1\r\n`, reply: BAD_LINE, injected: 'SERVER_ERROR out of memory storing object\r\n' },
      { text: `mg ${tag}:miss O2 k\r\n`, reply: `EN O2 k${tag}:miss\r\n`, injected: 'SERVER_ERROR out of memory writing get response\r\n' },
      { text: 'cas q:r 0 0 1\r\n', reply: 'ERROR\r\n', injected: 'SERVER_ERROR out of memory storing object\r\n' },
      { text: 'mn\r\n', reply: 'MN\r\n', injected: 'SERVER_ERROR out of memory\r\n' },
    ];
    const direct = await exchange(port, text(batch('direct')), 'MN\r\n');
    expect(framed(text(batch('direct')), Buffer.from(direct, 'latin1'))).toEqual(['5 requests', ...batch('direct').map((r) => r.reply)]);
    for (const [mix, reply] of [['', 'reply'], ['100:error', 'injected']] as const) {
      const list = batch(mix === '' ? 'proxy' : 'error');
      await withProxy(mix, async (p) => {
        expect(await exchange(p.port, text(list), list[list.length - 1][reply]), mix).toBe(list.map((r) => r[reply]).join(''));
        expect(p.stats(), mix).toMatchObject({ exchanges: list.length, fallbacks: 0 });
        expect(p.stats().latency.count, mix).toBe(list.length);
      });
    }
  });
});
