import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FramingError, MAX_HEAD_BYTES, type FramerSession, type Segment } from '../../src/proxy/protocol.js';
import { redis } from '../../src/proxy/protocols/redis.js';
import { readLibrary } from '../../src/proxy/protocols/redis-functions.js';
import { scriptRefused, staleScriptRefused } from '../../src/proxy/protocols/redis-scripts.js';
import { B, checkEverySplit, group, splitAt, type Dir, type Msg } from '../helpers/text-framing.js';

/** Feed `input` to one direction in the given pieces; returns the messages and checks bytes. */
function feed(session: FramerSession, dir: Dir, pieces: Buffer[]): { msgs: Msg[]; open: boolean } {
  const acc: Msg[] = [];
  const open: { cur?: Msg } = {};
  let emitted = '';
  for (const p of pieces) {
    const segs = dir === 'c' ? session.fromClient(p) : session.fromServer(p);
    for (const s of segs) emitted += s.data.toString('latin1');
    group(dir, segs, acc, open);
  }
  const held = session.drain();
  emitted += (dir === 'c' ? held.client : held.server).toString('latin1');
  expect(emitted).toBe(Buffer.concat(pieces).toString('latin1'));
  if (open.cur) acc.push({ ...open.cur, data: open.cur.data + '<open>' });
  return { msgs: acc, open: open.cur !== undefined };
}


function cmd(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('');
}

describe('redis framer: requests', () => {
  it('frames pipelined multi-bulk commands with upper-case labels', () => {
    const input = cmd('set', 'k', 'v') + cmd('GET', 'k') + cmd('incr', 'n') + cmd('ping');
    const { msgs } = feed(redis.createSession(), 'c', [B(input)]);
    expect(msgs).toEqual([
      { dir: 'c', data: cmd('set', 'k', 'v'), label: 'SET' },
      { dir: 'c', data: cmd('GET', 'k'), label: 'GET' },
      { dir: 'c', data: cmd('incr', 'n'), label: 'INCR' },
      { dir: 'c', data: cmd('ping'), label: 'PING' },
    ]);
  });

  it('frames inline commands; blank lines and empty multi-bulks are passthrough (redis does not answer them)', () => {
    const input = 'PING\r\n\r\n  \n"get" k\nset a b\r\n*0\r\n*-1\r\n';
    const { msgs } = feed(redis.createSession(), 'c', [B(input)]);
    expect(msgs).toEqual([
      { dir: 'c', data: 'PING\r\n', label: 'PING' },
      { dir: 'c', data: '\r\n  \n', pass: true },
      { dir: 'c', data: '"get" k\n', label: 'GET' },
      { dir: 'c', data: 'set a b\r\n', label: 'SET' },
      { dir: 'c', data: '*0\r\n*-1\r\n', pass: true },
    ]);
  });

  it('streams a big value: the start segment holds the head, the rest flows without being held', () => {
    const value = 'x'.repeat(200_000);
    const input = B(cmd('SET', 'key', value) + cmd('GET', 'key'));
    const s = redis.createSession();
    const segs: Segment[] = [];
    for (let i = 0; i < input.length; i += 1000) {
      segs.push(...s.fromClient(input.subarray(i, i + 1000)));
      expect(s.buffered()).toBeLessThan(100);
    }
    expect(segs[0].start).toBe(true);
    expect(segs[0].label).toBe('SET');
    expect(segs[0].data.toString('latin1').startsWith('*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$200000\r\n')).toBe(true);
    expect(segs.filter((x) => x.start).map((x) => x.label)).toEqual(['SET', 'GET']);
    expect(Buffer.concat(segs.map((x) => x.data)).equals(input)).toBe(true);
  });

  it('holds a split head until the command name is complete', () => {
    const s = redis.createSession();
    expect(s.fromClient(B('*2\r\n$3\r\nGE'))).toEqual([]);
    expect(s.buffered()).toBe(10);
    const segs = s.fromClient(B('T\r\n$1\r\nk\r\n'));
    expect(segs).toHaveLength(1);
    expect(segs[0]).toMatchObject({ start: true, end: true, label: 'GET' });
  });

  it('skips two bytes after a bulk without checking them, as redis-server does', () => {
    const { msgs } = feed(redis.createSession(), 'c', [B('*1\r\n$4\r\nPINGxx\r\nPING\r\n')]);
    expect(msgs.map((m) => m.label ?? 'pass')).toEqual(['PING', 'pass', 'PING']);
  });

  it('throws FramingError on garbage and gives every byte back', () => {
    for (const bad of ['*1\r\n:4\r\n', '*x\r\n', '*1\r\n$-3\r\n', '*1\r\n$' + '9'.repeat(40) + '\r\n', '*99999999999\r\n']) {
      const s = redis.createSession();
      const good = B(cmd('PING'));
      expect(s.fromClient(good)).toHaveLength(1);
      expect(() => s.fromClient(B(bad + 'PING\r\n'))).toThrow(FramingError);
      expect(s.drain().client.toString('latin1')).toBe(bad + 'PING\r\n');
    }
  });

  it('gives up on an endless inline line and on a huge command name', () => {
    const s = redis.createSession();
    s.fromClient(Buffer.alloc(MAX_HEAD_BYTES, 0x61));
    expect(() => s.fromClient(B('aaaa'))).toThrow(FramingError);
    expect(s.drain().client.length).toBe(MAX_HEAD_BYTES + 4);
    const t = redis.createSession();
    expect(() => t.fromClient(B('*1\r\n$5000\r\n'))).toThrow(FramingError);
  });

  it('CLIENT REPLY OFF|SKIP stops framing (replies would no longer match)', () => {
    const s = redis.createSession();
    expect(() => s.fromClient(B(cmd('CLIENT', 'REPLY', 'SKIP') + cmd('PING')))).toThrow(FramingError);
    const t = redis.createSession();
    expect(() => t.fromClient(B('client reply off\r\n'))).toThrow(FramingError);
    const u = redis.createSession();
    expect(u.fromClient(B(cmd('CLIENT', 'REPLY', 'ON')))[0].label).toBe('CLIENT');
  });
});

describe('redis framer: replies', () => {
  it('frames RESP2 replies, nested and null, one per request', () => {
    const reqs = cmd('SET', 'a', '1') + cmd('GET', 'a') + cmd('GET', 'none') + cmd('LRANGE', 'l', '0', '-1') +
      cmd('EXEC') + cmd('BLPOP', 'q', '1') + cmd('INCR', 'a') + cmd('XREAD', 'x') + cmd('FOO');
    const reps = '+OK\r\n' + '$1\r\n1\r\n' + '$-1\r\n' + '*3\r\n$1\r\na\r\n$0\r\n\r\n:7\r\n' +
      '*2\r\n*2\r\n+OK\r\n:1\r\n*0\r\n' + '*-1\r\n' + ':2\r\n' +
      '*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n' +
      "-ERR unknown command 'FOO', with args beginning with: \r\n";
    const msgs = checkEverySplit(redis, reqs, reps);
    const replies = msgs.filter((m) => m.dir === 's');
    expect(replies.map((m) => m.data)).toEqual([
      '+OK\r\n', '$1\r\n1\r\n', '$-1\r\n', '*3\r\n$1\r\na\r\n$0\r\n\r\n:7\r\n', '*2\r\n*2\r\n+OK\r\n:1\r\n*0\r\n', '*-1\r\n', ':2\r\n',
      '*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n',
      "-ERR unknown command 'FOO', with args beginning with: \r\n",
    ]);
    expect(replies.every((m) => !m.pass)).toBe(true);
  });

  it('frames RESP3 types as redis 7 sends them; push messages pass through, attributes stay with their value', () => {
    // Captured from redis-server 7.0 (HELLO 3, DEBUG PROTOCOL ...).
    const hello = '%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:3\r\n' +
      '$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n';
    const attrib = '|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n';
    const push = '>2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n';
    const afterPush = '$40\r\nSome real reply following the push reply\r\n';
    const others = [',3.141\r\n', '(1234567999999999999999999999999999999\r\n', '=29\r\ntxt:This is a verbatim\nstring\r\n', '_\r\n',
      '#t\r\n', '~3\r\n:0\r\n:1\r\n:2\r\n'];
    const map = '%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n';
    const reqs = cmd('HELLO', '3') + cmd('DEBUG', 'PROTOCOL', 'attrib') +
      ['double', 'bignum', 'verbatim', 'null', 'true', 'set'].map((t) => cmd('DEBUG', 'PROTOCOL', t)).join('') +
      cmd('DEBUG', 'PROTOCOL', 'push') + cmd('DEBUG', 'PROTOCOL', 'map');
    const reps = hello + attrib + others.join('') + push + afterPush + map;
    const msgs = checkEverySplit(redis, reqs, reps).filter((m) => m.dir === 's');
    expect(msgs.map((m) => [m.data, !!m.pass])).toEqual([
      [hello, false], [attrib, false], ...others.map((o) => [o, false]), [push, true], [afterPush, false], [map, false],
    ]);
  });

  it('passes through a reply nobody asked for', () => {
    const s = redis.createSession();
    const segs = s.fromServer(B('-ERR max number of clients reached\r\n'));
    expect(segs).toEqual([{ data: B('-ERR max number of clients reached\r\n'), start: true, end: true, passthrough: true }]);
  });

  it('streams a big bulk reply without holding it', () => {
    const s = redis.createSession();
    s.fromClient(B(cmd('GET', 'big')));
    const value = 'v'.repeat(100_000);
    const reply = B(`$${value.length}\r\n${value}\r\n+PONG\r\n`);
    const segs: Segment[] = [];
    for (let i = 0; i < reply.length; i += 4096) {
      segs.push(...s.fromServer(reply.subarray(i, i + 4096)));
      expect(s.buffered()).toBe(0);
    }
    expect(segs.filter((x) => x.end && !x.passthrough)).toHaveLength(1);
    expect(segs[segs.length - 1]).toMatchObject({ passthrough: true, data: B('+PONG\r\n') });
  });

  it('forgets a skipped request: the next reply goes to the next one', () => {
    const s = redis.createSession();
    const segs = s.fromClient(B(cmd('GET', 'a') + cmd('GET', 'b') + cmd('GET', 'c')));
    expect(segs).toHaveLength(3);
    s.skipped!(1);
    const replies = s.fromServer(B('$1\r\nA\r\n$1\r\nC\r\n+late\r\n'));
    expect(replies.map((r) => [r.data.toString(), !!r.passthrough])).toEqual([
      ['$1\r\nA\r\n', false], ['$1\r\nC\r\n', false], ['+late\r\n', true],
    ]);
  });

  it('SUBSCRIBE: its first confirmation is its reply, then the connection passes through both ways', () => {
    const reqs = cmd('GET', 'a') + cmd('SUBSCRIBE', 'a', 'b') + cmd('PING') + cmd('UNSUBSCRIBE');
    const reps = '$1\r\n1\r\n' + '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n' + '*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n' +
      '*2\r\n$4\r\npong\r\n$0\r\n\r\n' + '*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n';
    const msgs = checkEverySplit(redis, reqs, reps);
    expect(msgs.map((m) => [m.dir, m.label ?? '', !!m.pass])).toEqual([
      ['c', 'GET', false], ['c', 'SUBSCRIBE', false], ['c', '', true],
      ['s', '', false], ['s', '', false], ['s', '', true],
    ]);
    expect(msgs[4].data).toBe('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n');
  });

  it('SUBSCRIBE in RESP3: the first push is its reply', () => {
    const reqs = cmd('SUBSCRIBE', 'a');
    const reps = '>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n' + '>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n';
    const msgs = checkEverySplit(redis, reqs, reps).filter((m) => m.dir === 's');
    expect(msgs.map((m) => !!m.pass)).toEqual([false, true]);
  });

  it('a skipped SUBSCRIBE switches the server side to passthrough after earlier replies', () => {
    const reqs = cmd('GET', 'a') + cmd('SUBSCRIBE', 'x') + cmd('GET', 'b');
    const msgs = checkEverySplit(redis, reqs, '$1\r\n1\r\n$1\r\n2\r\n', [1]);
    expect(msgs.filter((m) => m.dir === 's').map((m) => [m.data, !!m.pass])).toEqual([['$1\r\n1\r\n', false], ['$1\r\n2\r\n', true]]);
  });

  it('a SUBSCRIBE answered by an injected error leaves the requests after it framed; one that went, passthrough from the next chunk', () => {
    const s = redis.createSession();
    expect(s.fromClient(B(cmd('SUBSCRIBE', 'x'))).map((x) => x.label)).toEqual(['SUBSCRIBE']);
    s.errored!(0);
    s.skipped!(0);
    expect(s.fromClient(B(cmd('GET', 'a'))).map((x) => [x.label, !!x.passthrough])).toEqual([['GET', false]]);
    expect(s.fromServer(B('$1\r\n1\r\n')).map((x) => !!x.passthrough)).toEqual([false]);
    expect(s.fromClient(B(cmd('SUBSCRIBE', 'x'))).map((x) => x.label)).toEqual(['SUBSCRIBE']);
    expect(s.fromClient(B(cmd('PING'))).map((x) => !!x.passthrough)).toEqual([true]);
    const confirmed = '*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n';
    expect(s.fromServer(B(confirmed + '*2\r\n$4\r\npong\r\n$0\r\n\r\n')).map((x) => !!x.passthrough)).toEqual([false, true]);
  });

  it('MONITOR: +OK is its reply, the feed passes through', () => {
    const msgs = checkEverySplit(redis, cmd('MONITOR') + 'PING\r\n', '+OK\r\n+PONG\r\n+1795638180.568213 [0 127.0.0.1:37212] "PING"\r\n');
    expect(msgs.map((m) => [m.dir, !!m.pass])).toEqual([['c', false], ['c', true], ['s', false], ['s', true]]);
  });

  it('PSYNC is noReply and everything after passes through', () => {
    const s = redis.createSession();
    const segs = s.fromClient(B(cmd('PING') + cmd('PSYNC', '?', '-1') + cmd('REPLCONF', 'ACK', '0')));
    expect(segs.map((x) => [x.label, !!x.noReply, !!x.passthrough])).toEqual([
      ['PING', false, false], ['PSYNC', true, false], [undefined, false, true],
    ]);
    const r = s.fromServer(B('+PONG\r\n+FULLRESYNC abc 0\r\n\n\n$3\r\nRDB'));
    expect(r.map((x) => !!x.passthrough)).toEqual([false, true]);
  });

  it('throws FramingError on an unknown reply type and keeps the bytes', () => {
    const s = redis.createSession();
    s.fromClient(B(cmd('GET', 'a')));
    expect(s.fromServer(B('$3\r\nab'))).toHaveLength(1);
    expect(() => s.fromServer(B('c\r\n?what\r\n'))).toThrow(FramingError);
    expect(s.drain().server.toString()).toBe('c\r\n?what\r\n');
  });
});

describe('redis framer: fuzz', () => {
  const piece = fc.oneof(
    fc.constantFrom(
      cmd('SET', 'k', 'v'), cmd('GET', 'k'), 'PING\r\n', '\r\n', '*0\r\n', cmd('MGET', 'a', 'b', 'c'),
      cmd('SET', 'big', 'x'.repeat(3000)), cmd('SUBSCRIBE', 'c'), cmd('CLIENT', 'REPLY', 'OFF'),
      '+OK\r\n', '$3\r\nabc\r\n', '*2\r\n:1\r\n$-1\r\n', '%1\r\n+a\r\n#t\r\n', '>1\r\n+p\r\n', '|1\r\n+a\r\n+b\r\n:1\r\n',
    ),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
    fc.string({ maxLength: 20 }),
  );
  const stream = fc.array(piece, { maxLength: 25 }).map((a) => B(a.join('')));
  const cuts = fc.array(fc.nat(), { maxLength: 8 });

  function drive(dir: Dir, data: Buffer, points: number[], prime?: Buffer) {
    const s = redis.createSession();
    if (prime) {
      try { s.fromClient(prime); } catch { return; }
    }
    const pieces = splitAt(data, points.map((p) => (data.length ? p % (data.length + 1) : 0)));
    let emitted = 0;
    const out: Buffer[] = [];
    const msgs: Msg[] = [];
    const open: { cur?: Msg } = {};
    let threw = false;
    for (const p of pieces) {
      try {
        const segs = dir === 'c' ? s.fromClient(p) : s.fromServer(p);
        for (const x of segs) { out.push(x.data); emitted += x.data.length; }
        group(dir, segs, msgs, open);
        expect(s.buffered()).toBeLessThanOrEqual(MAX_HEAD_BYTES + 64);
      } catch (err) {
        expect(err).toBeInstanceOf(FramingError);
        threw = true;
        break;
      }
    }
    const held = s.drain();
    out.push(dir === 'c' ? held.client : held.server);
    const seen = threw ? data.subarray(0, emitted + (dir === 'c' ? held.client : held.server).length) : data;
    expect(Buffer.concat(out).equals(seen)).toBe(true);
    if (threw) expect(data.subarray(0, seen.length).equals(seen)).toBe(true);
  }

  it('requests: no crash but FramingError, bounded buffer, emitted + drained == input', () => {
    fc.assert(fc.property(stream, cuts, (data, points) => drive('c', data, points)), { numRuns: 400 });
  });

  it('replies: same, after a pipeline of requests', () => {
    const prime = B(Array.from({ length: 30 }, (_, i) => cmd('GET', `k${i}`)).join(''));
    fc.assert(fc.property(stream, cuts, (data, points) => drive('s', data, points, prime)), { numRuns: 400 });
  });
});

describe('redis errors', () => {
  // A real redis refuses it as it is queued (the block then aborted): its flags are not the block's.
  it('a command of the wrong number of arguments queued in a block does not decide its EXEC', () => {
    const execRefused = (queued: string[][], inline = false) => {
      const s = redis.createSession();
      const requests = [['MULTI'], ...queued, ['EXEC']].map((r) => (inline ? `${r.join(' ')}\r\n` : cmd(...r)));
      s.fromClient(B(requests.join('')));
      const exec = queued.length + 1;
      s.insteadOf!(exec);
      return redis.refuses!('READONLY', 'EXEC', B(requests[exec]), s, exec);
    };
    expect(execRefused([['GET', 'k'], ['SET', 'k', 'v']])).toBe(true);
    expect(execRefused([['GET', 'k'], ['SET', 'k']])).toBe(false);
    expect(execRefused([['GET', 'k'], ['SET', 'k']], true)).toBe(false);
    expect(execRefused([['SETEX', 'k', '10', 'v']], true)).toBe(true);
  });

  it('a function flagged no-writes and allow-stale stops on a stale replica at its first call of a command it refuses, read from the callback its registration holds', () => {
    const stale = "flags={'no-writes', 'allow-stale'}}";
    const lib = readLibrary([
      '#!lua name=l',
      `redis.register_function{function_name='a', callback=function(k) if redis.call('ECHO', 'x') then end\nreturn redis.call('GET', k[1]) end, ${stale}`,
      `redis.register_function{function_name='b', callback=function() return 1 end, ${stale}`,
      "local function h() return redis.call('GET', 'k') end",
      `redis.register_function{function_name='c', callback=h, ${stale}`,
      `redis.register_function{function_name='d', callback=function() return redis.pcall('DBSIZE') end, ${stale}`,
      "redis.register_function{function_name='e', callback=function() return redis.call('GET', 'k') end, flags={'no-writes'}}",
      `redis.register_function{function_name='f', callback=function() local s = "end" -- end\nreturn redis.call('CONFIG', 'GET', 'x') end, ${stale}`,
      `redis.register_function{function_name='g', callback=function() local t = redis.call('TIME') -- redis.call('GET', 'k')\nreturn redis.call('DBSIZE') end, ${stale}`,
    ].join('\n'))!;
    // b's body ends before h's call; c's callback is h, read where it is defined; e runs nowhere stale; f's CONFIG GET: not known.
    expect(Object.fromEntries(lib.staleCalls)).toEqual({ A: ' script: a, on @user_function:3.', C: ' script: c, on @user_function:5.', D: '', G: ' script: g, on @user_function:12.' });
  });

  it('a callback named from elsewhere is read from the last local function of that name defined before its registration', () => {
    const stale = "flags={'no-writes', 'allow-stale'}}";
    const lib = readLibrary([
      '#!lua name=l',
      "local function h(keys, args) return redis.call('ECHO', 'function') end",
      "local function h(keys, args)\n  local x = redis.call('TIME') -- end\n  return redis.call('GET', keys[1])\nend",
      `redis.register_function{function_name='a', callback=h, ${stale}`,
      "-- local function h() return redis.call('ECHO', 'x') end",
      `redis.register_function{function_name='b', callback = h , ${stale}`,
      "local myfunction = function(keys) return redis.call('DBSIZE') end",
      `redis.register_function{function_name='c', callback=myfunction, ${stale}`,
      "local v = function() return redis.call('ECHO', 'v') end",
      `redis.register_function{function_name='d', callback=v, ${stale}`,
      `redis.register_function{function_name='e', callback=later, ${stale}`,
      "local function later() return redis.call('GET', 'k') end",
      `redis.register_function{function_name='f', callback=h.x, ${stale}`,
      "redis.register_function('g', h)",
    ].join('\n'))!;
    // d runs (ECHO); e's callback is defined after it (nil as it registers); h.x is not read; g has no flags, refused whole.
    expect(Object.fromEntries(lib.staleCalls)).toEqual({ A: ' script: a, on @user_function:5.', B: ' script: b, on @user_function:5.', C: ' script: c, on @user_function:10.' });
    expect(lib.functions.get('G')).toBe('');
  });

  it('a callback named from elsewhere is read from the last function its name or field was given in the library\'s top-level code, when that says it', () => {
    const stale = "flags={'no-writes', 'allow-stale'}}";
    const lib = readLibrary([
      '#!lua name=l',
      'local a',
      "a = function(keys) return redis.call('GET', keys[1]) end",
      `redis.register_function{function_name='a', callback=a, ${stale}`,
      'local M = {}',
      "function M.get(keys) return redis.call('GET', keys[1]) end",
      "M.echo = function(keys) return redis.call('ECHO', keys[1]) end",
      `redis.register_function{function_name='b', callback=M.get, ${stale}`,
      `redis.register_function{function_name='c', callback=M.echo, ${stale}`,
      'local g = a',
      `redis.register_function{function_name='d', callback=g, ${stale}`,
      "local x, y = 1, function() return redis.call('GET', 'k') end",
      `redis.register_function{function_name='e', callback=y, ${stale}`,
      "local r = function(keys) return redis.call('GET', keys[1]) end",
      'local function reset() r = function() return 1 end end',
      `redis.register_function{function_name='f', callback=r, ${stale}`,
      'if M then',
      `  redis.register_function{function_name='g', callback=M.get, ${stale}`,
      'end',
      "local s = function() return redis.call('GET', 'k') end -- s = 1",
      "local t = 's = 2'",
      `redis.register_function{function_name='h', callback=s, ${stale}`,
      "local XM = {} function XM.get() return redis.call('ECHO', 'x') end",
      `redis.register_function{function_name='i', callback=M.get, ${stale}`,
    ].join('\n'))!;
    // c runs (ECHO); d (an alias), e (one of two assigned at once), f (assigned in a function), g (registered in a block): not read.
    expect(Object.fromEntries(lib.staleCalls)).toEqual({
      A: ' script: a, on @user_function:3.', B: ' script: b, on @user_function:6.', H: ' script: h, on @user_function:20.', I: ' script: i, on @user_function:6.',
    });
  });

  it('a call in a function the callback or script writes is taken for one run only where that function is called first', () => {
    const stale = "flags={'no-writes', 'allow-stale'}}";
    const lib = readLibrary([
      '#!lua name=l',
      `redis.register_function{function_name='a', callback=function(keys)\n  local function get() return redis.call('GET', keys[1]) end\n  return redis.call('ECHO', 'x')\nend, ${stale}`,
      `redis.register_function{function_name='b', callback=function(keys)\n  local get = function() return redis.call('GET', keys[1]) end\n  return get()\nend, ${stale}`,
      "local function h(keys)\n  local f = function() return redis.call('ECHO', 'f') end\n  if f() then return redis.call('DBSIZE') end\nend",
      `redis.register_function{function_name='c', callback=h, ${stale}`,
    ].join('\n'))!;
    // a never calls get (ECHO's value); b calls it first thing, its GET stops it; c's helper only echoes, its DBSIZE stops it.
    expect(Object.fromEntries(lib.staleCalls)).toEqual({ B: ' script: b, on @user_function:7.', C: ' script: c, on @user_function:12.' });
    const evalOf = (script: string) => B(cmd('EVAL', script, '0'));
    const helper = "local function w() return redis.call('SET', 'k', 'v') end\n";
    expect(scriptRefused('READONLY', 'EVAL', evalOf(`${helper}return redis.call('GET', 'k')`))).toBeUndefined();
    expect(scriptRefused('READONLY', 'EVAL', evalOf(`${helper}redis.call('GET', 'k')\nreturn w()`))).toMatch(/@user_script:1\.$/);
    // Not followed: used otherwise than called (pcall(w)), called after a call that may fail, or from another function; a pcall in it.
    expect(scriptRefused('READONLY', 'EVAL', evalOf(`${helper}return pcall(w)`))).toBeUndefined();
    expect(scriptRefused('READONLY', 'EVAL', evalOf(`${helper}redis.call('DEL', 'k')\nreturn w()`))).toBeUndefined();
    expect(scriptRefused('READONLY', 'EVAL', evalOf(`${helper}local function v() return w() end\nreturn v()`))).toBeUndefined();
    expect(scriptRefused('READONLY', 'EVAL', evalOf("local function w() return redis.pcall('SET', 'k', 'v') end\nreturn w()"))).toBeUndefined();
    expect(scriptRefused('READONLY', 'EVAL', evalOf(`${helper}-- w()\nlocal s = 'w()'\nreturn w()`))).toMatch(/@user_script:1\.$/);
    expect(scriptRefused('READONLY', 'EVAL', evalOf("local function e() return redis.call('ECHO', 'x') end\nfor i = 1, 2 do e() end\nreturn redis.call('SET', 'k', 'v')"))).toMatch(/@user_script:3\.$/);
    const stale2 = (body: string) => evalOf(`#!lua flags=no-writes,allow-stale\n${body}`);
    expect(staleScriptRefused('EVAL', stale2("local function g() return redis.call('GET', KEYS[1]) end\nreturn redis.call('ECHO', 'e')"))).toBeUndefined();
    expect(staleScriptRefused('EVAL', stale2("local function g() return redis.call('ECHO', 'g') end\nreturn redis.call('GET', 'k')"))).toMatch(/@user_script:3\.$/);
  });

  it('where a function stops on a cluster node down is read from its callback, a positional registration\'s too', () => {
    const lib = readLibrary([
      '#!lua name=l',
      "redis.register_function('a', function(keys) return redis.call('GET', keys[1]) end)",
      "local function h() redis.call('ECHO', 'x') return redis.call('SET', 'k', 'v') end",
      "redis.register_function('b', h)",
      "redis.register_function{function_name='c', callback=function() return redis.call('DEL', 'k') end, flags={'no-writes'}}",
      "redis.register_function('d', function() return redis.call('ECHO', 'e') end)",
      "redis.register_function('e', function() return redis.pcall('SET', 'k', 'v') end)",
    ].join('\n'))!;
    // Any call naming a key stops it (d's ECHO names none); serving reads, a write naming one, of a function not flagged no-writes.
    expect(Object.fromEntries(lib.downCalls)).toEqual({ A: ' script: a, on @user_function:2.', B: ' script: b, on @user_function:3.', C: ' script: c, on @user_function:5.', E: '' });
    expect(Object.fromEntries(lib.downWrites)).toEqual({ B: ' script: b, on @user_function:3.', E: '' });
  });

  it('an FCALL is judged by the flags of the function a connection of the proxy saw loaded, once the server took it', () => {
    const shared = redis.sessionsShare!();
    const loader = redis.createSession(shared);
    const caller = redis.createSession(shared);
    let ordinal = 0;
    // Whether a read-only replica refuses FCALL of `fn` (or MASTERDOWN says READONLY to it), asked on the caller's connection.
    const refused = (fn: string, kind = 'READONLY', label = 'FCALL') => {
      const request = B(cmd(label, fn, '0'));
      caller.fromClient(request);
      return redis.refuses!(kind, label, request, caller, ordinal++);
    };
    const said = (fn: string, label = 'FCALL') => redis.encodeError('MASTERDOWN', { label, request: B(cmd(label, fn, '0')), random: Math.random, session: caller, ordinal: 0 }).bytes.toString().split(' ')[0];
    const lib = (name: string, ...fns: string[]) => [`#!lua name=${name}`, ...fns].join('\n');
    const source = lib('one', "redis.register_function('fw', function() return 1 end)",
      "redis.register_function{function_name='fr', callback=function() return 1 end, flags={'no-writes'}}",
      "redis.register_function({callback=function() return 1 end, function_name=\"fo\", flags={\"allow-oom\"}})",
      "local ro = {'no-writes'}\nredis.register_function{function_name='fv', callback=function() return 1 end, flags=ro}");
    loader.fromClient(B(cmd('FUNCTION', 'LOAD', 'REPLACE', source)));
    // Not seen yet (the server has not answered): served, as a function loaded before the proxy started.
    expect(refused('fw')).toBe(false);
    expect(said('fw')).toBe('-READONLY');
    expect(said('fw', 'FCALL_RO')).toBe('-MASTERDOWN');
    loader.fromServer(B('$3\r\none\r\n'));
    expect([refused('fw'), refused('FR'), refused('fo'), refused('fo', 'OOM'), refused('fw', 'OOM'), refused('fr', 'MISCONF')]).toEqual([true, false, true, false, true, false]);
    expect([refused('fw', 'READONLY', 'FCALL_RO'), refused('fr', 'READONLY', 'FCALL_RO'), refused('fr', 'MASTERDOWN')]).toEqual([true, false, true]);
    expect([said('fw', 'FCALL_RO'), said('fr')]).toEqual(['-READONLY', '-MASTERDOWN']);
    // Inline too.
    expect(redis.refuses!('READONLY', 'FCALL', B('fcall fw 0\r\n'), caller, ordinal++)).toBe(true);
    // Flags the source does not list literally: not seen, served.
    expect([refused('fv'), said('fv')]).toEqual([false, '-READONLY']);
    // A load the server refuses, or one withheld (an injected error), changes nothing; nor does one in a MULTI block.
    loader.fromClient(B(cmd('FUNCTION', 'LOAD', 'REPLACE', lib('one', "redis.register_function{function_name='fw', callback=function() return 1 end, flags={'no-writes'}}"))));
    loader.fromServer(B('-ERR Error compiling function\r\n'));
    loader.fromClient(B(cmd('FUNCTION', 'LOAD', lib('two', "redis.register_function{function_name='fw2', callback=function() return 1 end, flags={'no-writes'}}")) + cmd('GET', 'k')));
    loader.skipped!(2);
    loader.fromServer(B('$-1\r\n'));
    loader.fromClient(B(cmd('MULTI') + cmd('FUNCTION', 'LOAD', lib('three', "redis.register_function('fw3', function() return 1 end)")) + cmd('EXEC')));
    loader.fromServer(B('+OK\r\n+QUEUED\r\n*1\r\n$5\r\nthree\r\n'));
    expect([refused('fw'), said('fw2'), refused('fw3')]).toEqual([true, '-READONLY', false]);
    // DELETE forgets a library's functions, FLUSH all.
    loader.fromClient(B(cmd('FUNCTION', 'LOAD', lib('two', "redis.register_function('fw2', function() return 1 end)")) + cmd('FUNCTION', 'DELETE', 'one')));
    loader.fromServer(B('$3\r\ntwo\r\n+OK\r\n'));
    expect([refused('fw'), refused('fw2')]).toEqual([false, true]);
    loader.fromClient(B(cmd('FUNCTION', 'FLUSH', 'ASYNC')));
    loader.fromServer(B('+OK\r\n'));
    expect(refused('fw2')).toBe(false);
  });

  it('a script queued in a block that fails as EXEC runs it goes as one failing so, QUEUED, and the block goes on', () => {
    const s = redis.createSession();
    const script = "redis.call('GET', 'k')\nreturn redis.call('SET', 'k', 'v')";
    const requests = [cmd('MULTI'), cmd('EVAL', script, '0'), cmd('EVALSHA', 'abc', '0'), cmd('EXEC')];
    s.fromClient(B(requests.join('')));
    const standIn = (ordinal: number, kind: string, message?: string) => redis.standIn!(B(requests[ordinal]), true, s, ordinal, kind, message)?.toString('latin1');
    const sha = createHash('sha1').update(script).digest('hex');
    const failing = (line: string) => cmd('EVAL', 'return redis.error_reply(ARGV[1])', '0', line);
    expect(standIn(1, 'READONLY', 'a replica now')).toBe(failing(`READONLY a replica now script: ${sha}, on @user_script:2.`));
    expect(standIn(1, 'OOM')).toBeUndefined();
    expect(standIn(2, 'READONLY')).toBeUndefined();
    expect(standIn(2, 'MASTERDOWN')).toBe(failing("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."));
    const reply = redis.encodeError('MASTERDOWN', { label: 'EVALSHA', request: B(requests[2]), random: Math.random, session: s, ordinal: 2, standIn: B(standIn(2, 'MASTERDOWN')!) });
    expect(reply.bytes.toString()).toBe('+QUEUED\r\n');
    s.errored!(2, B(standIn(2, 'MASTERDOWN')!));
    // Not an error as the block is queued: its EXEC goes as it is.
    expect(s.insteadOf!(3)).toBeUndefined();
  });

  it('encodes every kind as a RESP error line, none fatal, LOADING by default', () => {
    expect(redis.defaultError).toBe('LOADING');
    expect(redis.framesReplies).toBe(true);
    for (const kind of Object.keys(redis.errorKinds)) {
      const r = redis.encodeError(kind, { label: 'GET', request: B(cmd('GET', 'a')), random: Math.random });
      const text = r.bytes.toString('latin1');
      expect(text).toMatch(/^-[A-Z]+ [^\r\n]+\r\n$/);
      expect(text.startsWith(`-${kind} `)).toBe(true);
      expect(r.close).toBe(false);
      expect(redis.errorKinds[kind].fatal).toBe(false);
    }
    expect(redis.encodeError('LOADING', { label: 'GET', request: B(''), random: Math.random }).bytes.toString())
      .toBe('-LOADING Redis is loading the dataset in memory\r\n');
    expect(redis.encodeError('ERR', { label: 'HGET', request: B(''), random: Math.random }).bytes.toString()).toContain("'HGET'");
  });
});
