/**
 * Redis against the real redis-server: the framer on real replies, then the chaos proxy between
 * ioredis and the server.
 */
import net from 'node:net';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinBehaviors } from '../behaviors/index.js';
import { act, defineBehavior, z } from '../src/proxy/plugin.js';
import type { MixSpec } from '../src/proxy/mix.js';
import type { Segment } from '../src/proxy/protocol.js';
import { redis as redisProtocol } from '../src/proxy/protocols/redis.js';
import { freePort, rawExchange } from './helpers/net.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { client, cmd, collectReplies, inState, rawReplies, said, STATES } from './proxy-redis-real.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { proxiesTo } from './helpers/with-proxy.js';

const run = haveServer('redis-server');

/** Messages a framer session finds in a request stream and the server's reply chunks. */
function frame(requests: Buffer, replyChunks: Buffer[]) {
  const s = redisProtocol.createSession();
  const reqs = s.fromClient(requests);
  const reps: Segment[] = [];
  for (const c of replyChunks) reps.push(...s.fromServer(c));
  expect(s.buffered()).toBe(0);
  expect(Buffer.concat(reps.map((x) => x.data)).equals(Buffer.concat(replyChunks))).toBe(true);
  return {
    requests: reqs.filter((x) => x.start && !x.passthrough),
    replies: reps.filter((x) => x.end && !x.passthrough),
    passthrough: reps.filter((x) => x.passthrough),
  };
}

describe.skipIf(!run)('redis: framer and proxy against redis-server', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startRedis(); });
  afterAll(async () => { await server?.stop(); });

  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  // A pipeline exercising most reply shapes, deterministic so that two runs give the same bytes.
  const big = Buffer.alloc(600_000, 'b');
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const pipeline = Buffer.concat([
    cmd('FLUSHALL'), cmd('SET', 'k', 'v'), cmd('GET', 'k'), cmd('GET', 'missing'), cmd('SET', 'bin', binary), cmd('GET', 'bin'),
    cmd('SET', 'big', big), cmd('STRLEN', 'big'), cmd('GET', 'big'), Buffer.from('PING\r\n'), Buffer.from('\r\n'),
    cmd('RPUSH', 'l', 'a', 'b', ''), cmd('LRANGE', 'l', '0', '-1'), cmd('HSET', 'h', 'f1', 'x', 'f2', 'y'), cmd('HGETALL', 'h'),
    cmd('MULTI'), cmd('INCR', 'n'), cmd('LPUSH', 'n', 'x'), cmd('EXEC'), cmd('BLPOP', 'nolist', '0.01'),
    cmd('XADD', 's', '1-1', 'f', 'v'), cmd('XRANGE', 's', '-', '+'), cmd('EVAL', 'return {1,{2,3},"x",nil}', '0'),
    cmd('NOSUCHCOMMAND'), cmd('SET', 'k'), Buffer.from('get k\r\n'), cmd('ZADD', 'z', '1.5', 'm'), cmd('ZSCORE', 'z', 'm'),
    cmd('ECHO', '__end__'),
  ]);
  const pipelineRequests = 28; // every request above but the blank line

  it('the framer finds one reply per request in real RESP2 traffic', async () => {
    const chunks = await rawExchange(server.port, pipeline, '__end__\r\n');
    const f = frame(pipeline, chunks);
    expect(f.requests).toHaveLength(pipelineRequests);
    expect(f.replies).toHaveLength(pipelineRequests);
    expect(f.passthrough).toHaveLength(0);
    // Random re-chunking frames the same.
    const all = Buffer.concat(chunks);
    const pieces: Buffer[] = [];
    for (let i = 0; i < all.length;) {
      const n = 1 + Math.floor(Math.random() * 3000);
      pieces.push(all.subarray(i, i + n));
      i += n;
    }
    expect(frame(pipeline, pieces).replies.map((r) => r.data.length).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(frame(pipeline, pieces).replies).toHaveLength(pipelineRequests);
  });

  it('the framer handles RESP3: maps, sets, doubles, nulls, and invalidation pushes as passthrough', async () => {
    const reqs = Buffer.concat([
      cmd('HELLO', '3'), cmd('CLIENT', 'TRACKING', 'ON'), cmd('SET', 't', '1'), cmd('GET', 't'), cmd('SET', 't', '2'),
      cmd('HSET', 'h3', 'a', '1'), cmd('HGETALL', 'h3'), cmd('SADD', 'set3', 'x'), cmd('SMEMBERS', 'set3'),
      cmd('ZADD', 'z3', '2.5', 'm'), cmd('ZSCORE', 'z3', 'm'), cmd('GET', 'nope3'), cmd('ECHO', '__end3__'),
    ]);
    const chunks = await rawExchange(server.port, reqs, '__end3__\r\n');
    const text = Buffer.concat(chunks).toString('latin1');
    expect(text).toContain('>2\r\n$10\r\ninvalidate\r\n');
    const f = frame(reqs, chunks);
    expect(f.requests).toHaveLength(13);
    expect(f.replies).toHaveLength(13);
    expect(f.passthrough.map((p) => p.data.toString('latin1')).join('')).toContain('invalidate');
    expect(f.replies[0].data.toString('latin1').startsWith('%')).toBe(true);
  });

  it('pass-through is byte-exact, pipelined, and the proxy never gives up framing', async () => {
    const direct = Buffer.concat(await rawExchange(server.port, pipeline, '__end__\r\n'));
    await withProxy('', async (p) => {
      const proxied = Buffer.concat(await rawExchange(p.port, pipeline, '__end__\r\n'));
      expect(proxied.equals(direct)).toBe(true);
      const st = p.stats();
      expect(st.exchanges).toBe(pipelineRequests);
      // Each request timed once, also where a run of a chunk's requests shares one exchange.
      expect(st.latency.count).toBe(pipelineRequests);
      expect(st.fallbacks).toBe(0);
      expect(st.bytes.upstream).toBe(pipeline.length);
      expect(st.bytes.downstream).toBe(direct.length);
    });
  });

  it('a client that reads late still gets every byte: the upstream read buffer is reused only when nothing points into it', async () => {
    // A value whose bytes differ along its length, so that an overwritten piece cannot pass.
    const value = Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 7 + (i >> 8)) % 251));
    // Small replies, more of them than the sockets' buffers hold: writes pend a few KiB at a time.
    const n = 20_000;
    await rawExchange(server.port, cmd('SET', 'reuse', value), '+OK\r\n');
    const requests = Buffer.concat(Array.from({ length: n }, () => cmd('GET', 'reuse')));
    // Errors among the replies, and replies held back (delayed downstream) while others pass.
    await withProxy({ error: 20, delay: { percent: 20, sleep: 0.01, before: false } }, async (p) => {
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      const { replies, settled } = collectReplies(s, n, 30_000);
      s.pause();
      s.write(requests);
      // The proxy's writes to the client back up while the server keeps sending.
      await new Promise((r) => setTimeout(r, 500));
      s.resume();
      await settled;
      s.destroy();
      expect(replies).toHaveLength(n);
      let values = 0;
      for (const r of replies) {
        if (r[0] === 0x2d) continue; // an injected error
        expect(r.subarray(0, 7).toString('latin1')).toBe('$1500\r\n');
        expect(r.subarray(7, 7 + value.length).equals(value)).toBe(true);
        values++;
      }
      expect(values).toBeGreaterThan(0);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  it('requests split anywhere across reads reach the server intact: the client read buffer is reused only when nothing points into it', async () => {
    // Each value differs from the others and along its length: an overwritten piece cannot pass.
    const n = 20_000;
    const valueOf = (i: number) => Buffer.from(Array.from({ length: 200 + (i % 1300) }, (_, j) => (i * 31 + j * 7 + (j >> 8)) % 251));
    const requests = Buffer.concat(Array.from({ length: n }, (_, i) => cmd('SET', `req:${i}`, valueOf(i))));
    // A behavior that answers with an error and keeps each request it was shown, as a hook may:
    // what it kept must stay the bytes it was shown, whatever the proxy reads afterwards.
    const kept: Buffer[] = [];
    const keeper = defineBehavior({ name: 'keeper', description: '', options: z.object({}), onExchange: (ctx) => { kept.push(ctx.request); return act.error(); } });
    const registry = new Map([...builtinBehaviors, keeper].map((b) => [b.name, b]));
    // Passing through (chunks forwarded as they are), then with requests held back (delayed
    // upstream) and answered by the proxy (errors) among the forwarded ones, then answered by a
    // hook that keeps its requests with no request held back.
    const mixes: MixSpec[] = ['', { error: 20, delay: { percent: 20, sleep: 0.005 } }, { keeper: 20 }];
    for (const behaviors of mixes) {
      await rawExchange(server.port, cmd('FLUSHALL'), '+OK\r\n');
      kept.length = 0;
      await withProxy(behaviors, async (p) => {
        const s = net.connect({ port: p.port, host: '127.0.0.1' });
        const { replies, settled } = collectReplies(s, n, 60_000);
        // Writes of odd sizes, so that the proxy's reads cut requests at every kind of place.
        for (let at = 0, k = 0; at < requests.length; k++) {
          const size = [1, 7, 333, 4096, 65_536, 150_000][k % 6];
          s.write(requests.subarray(at, at + size));
          at += size;
        }
        await settled;
        s.destroy();
        expect(replies).toHaveLength(n);
        const direct = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
        await direct.connect();
        try {
          let stored = 0;
          for (let i = 0; i < n; i += 1000) {
            const keys = Array.from({ length: Math.min(1000, n - i) }, (_, j) => `req:${i + j}`);
            const values = await direct.mgetBuffer(...keys);
            for (const [j, v] of values.entries()) {
              const ok = replies[i + j].toString('latin1') === '+OK\r\n';
              // An injected error: the request never reached the server.
              expect(ok ? v?.equals(valueOf(i + j)) : v === null, `request ${i + j}: ${replies[i + j].toString('latin1').trim()}`).toBe(true);
              if (ok) stored++;
            }
          }
          expect(stored).toBeGreaterThan(behaviors === '' ? n - 1 : n / 2);
        } finally {
          direct.disconnect();
        }
        expect(p.stats().fallbacks).toBe(0);
        if (behaviors === mixes[2]) {
          const answered = replies.flatMap((r, i) => (r.toString('latin1') === '+OK\r\n' ? [] : [i]));
          expect(kept.length).toBe(answered.length);
          // A hook sees the request's first bytes: all of it unless it came in several reads.
          for (const [k, i] of answered.entries()) {
            const sent = cmd('SET', `req:${i}`, valueOf(i));
            expect(kept[k].length > 0 && kept[k].equals(sent.subarray(0, kept[k].length)), `kept request ${k} (req:${i})`).toBe(true);
          }
        }
      }, { registry });
    }
  }, 120_000);

  it('ioredis gets the same results through the proxy as directly, pipelines included', async () => {
    const scenario = async (r: Redis) => {
      await r.connect();
      const out: unknown[] = [];
      await r.del('j1', 'j2', 'jl', 'jh', 'jbig');
      out.push(await r.set('j1', 'hello'), await r.get('j1'), await r.get('j-missing'));
      out.push(await r.set('jbig', big), (await r.getBuffer('jbig'))?.equals(big));
      out.push(await r.rpush('jl', 'a', 'b', 'c'), await r.lrange('jl', 0, -1));
      out.push(await r.hset('jh', { a: '1', b: '2' }), await r.hgetall('jh'));
      out.push(await r.eval('return {1, "two", {3}}', 0));
      out.push(await r.multi().incr('j2').incr('j2').get('j2').exec());
      const pipe = r.pipeline();
      for (let i = 0; i < 300; i++) pipe.set(`jp${i}`, String(i)).get(`jp${i}`);
      pipe.lpush('j1', 'x'); // WRONGTYPE
      out.push((await pipe.exec())!.map(([e, v]) => (e ? `E:${(e as Error).message}` : v)));
      out.push(await r.get('j1').catch(() => 'no'), await r.lpush('j1', 'x').catch((e: Error) => `E:${e.message}`));
      r.disconnect();
      return out;
    };
    const direct = await scenario(client(server.port));
    await withProxy('', async (p) => {
      expect(await scenario(client(p.port))).toEqual(direct);
      expect(p.stats().fallbacks).toBe(0);
    });
  });

  // Each kind where a real redis in that state gives it (redis-refusals.ts): a read-only
  // replica refuses SET and INCR (flag write) but serves GET, a loading one refuses all three.
  it('100:error gives ioredis a ReplyError of each kind on the commands a real server refuses with it, the others pass; the connection keeps working', async () => {
    // Each of GET, SET, INCR refused (true, or the kind it is said with) or served (false).
    const refusing: Record<string, { first: [string, ...string[]]; pipelined: [get: boolean, set: boolean | string, incr: boolean | string] }> = {
      LOADING: { first: ['GET', 'ek'], pipelined: [true, true, true] },
      ERR: { first: ['GET', 'ek'], pipelined: [true, true, true] },
      READONLY: { first: ['SET', 'ek', 'no'], pipelined: [false, true, true] },
      OOM: { first: ['SET', 'ek', 'no'], pipelined: [false, true, true] },
      BUSY: { first: ['GET', 'ek'], pipelined: [true, true, true] },
      // A read-only replica, as by default: writes get READONLY.
      MASTERDOWN: { first: ['GET', 'ek'], pipelined: [true, 'READONLY', 'READONLY'] },
      MISCONF: { first: ['PING'], pipelined: [false, true, true] },
      NOAUTH: { first: ['GET', 'ek'], pipelined: [true, true, true] },
      NOSCRIPT: { first: ['EVALSHA', 'a'.repeat(40), '0'], pipelined: [false, false, false] },
      // Two keys of one slot ({ek}2's tag is ek): keys of several get CROSSSLOT from a cluster node, in any state.
      TRYAGAIN: { first: ['MGET', 'ek', '{ek}2'], pipelined: [false, false, false] },
      CLUSTERDOWN: { first: ['GET', 'ek'], pipelined: [true, true, true] },
    };
    expect(Object.keys(refusing).sort()).toEqual(Object.keys(redisProtocol.errorKinds).sort());
    await withProxy('', async (p) => {
      const r = client(p.port);
      await r.connect();
      let told = 0;
      for (const [kind, { first, pipelined }] of Object.entries(refusing)) {
        await r.set('ek', 'ok');
        await r.set('en', '1');
        await p.setMix({ error: { percent: 100, kind } });
        const err = await r.call(...first).then(() => undefined, (e: unknown) => e);
        expect(err, kind).toBeInstanceOf(ReplyError);
        expect((err as Error).message.startsWith(`${kind} `), (err as Error).message).toBe(true);
        // Pipelined: every command refused gets its own error, in order; the others their server's reply.
        const res = await r.pipeline().get('ek').set('ek', 'no').incr('en').exec();
        expect(res!.map(([e, v]) => (e as Error | null)?.message.split(' ')[0] ?? v), kind).toEqual([
          ...[pipelined[0], pipelined[1], pipelined[2]].map((refused, i) => (refused === true ? kind : refused || ['ok', 'OK', 2][i])),
        ]);
        told += 1 + pipelined.filter(Boolean).length;
        expect(p.stats().behaviors.error, kind).toBe(told);
        await p.setMix('');
        // A refused SET never reached the server.
        expect(await r.get('ek'), kind).toBe(pipelined[1] ? 'ok' : 'no');
      }
      expect(p.stats().connections.total).toBe(1);
      expect(p.stats().fallbacks).toBe(0);
      r.disconnect();
    });
  });

  // A loading redis serves AUTH, SELECT, INFO (ioredis' ready check), CLIENT SETNAME (flag loading)
  // and refuses GET, SET ...; a read-only replica serves GET and refuses SET.
  it('ioredis connects at 100:error LOADING with AUTH and SELECT, as to a loading redis, and its commands get LOADING; at READONLY, GET works and SET fails', async () => {
    const locked = await startRedis({ password: 'pw' });
    const p = await startProxy({ name: 'r', listen: '127.0.0.1:0', upstream: `127.0.0.1:${locked.port}`, protocol: 'redis', behaviors: '100:error', seed: 1 });
    const r = client(p.port, { password: 'pw', db: 1, connectionName: 'loading', disableClientInfo: true });
    try {
      await r.connect();
      const said = (q: Promise<unknown>) => q.then((v) => v, (e: Error) => e.message.split(' ')[0]);
      expect(await said(r.get('lk'))).toBe('LOADING');
      const res = await r.pipeline().set('lk', '1').incr('ln').info('server').exec();
      expect(res!.map(([e, v]) => (e as Error | null)?.message.split(' ')[0] ?? typeof v)).toEqual(['LOADING', 'LOADING', 'string']);
      expect(p.stats().behaviors.error).toBe(3);
      await p.setMix({ error: { percent: 100, kind: 'READONLY' } });
      expect(await said(r.get('lk'))).toBe(null);
      expect(await said(r.set('lk', '1'))).toBe('READONLY');
      expect(await said(r.exists('lk'))).toBe(0);
      expect(p.stats().behaviors.error).toBe(4);
      // The same through the behavior's hook (a warmup: its actions are not fixed).
      await p.setMix({ error: { percent: 100, kind: 'READONLY', warmup: 1 } });
      expect(await said(r.get('lk'))).toBe(null);
      expect(await said(r.get('lk'))).toBe(null);
      expect(await said(r.set('lk', '1'))).toBe('READONLY');
      expect(p.stats().behaviors.error).toBe(5);
      await p.setMix('');
      expect(await r.client('GETNAME')).toBe('loading');
      expect(await r.set('lk', '2')).toBe('OK');
      const direct = client(locked.port, { password: 'pw', db: 1 });
      await direct.connect();
      expect(await direct.get('lk')).toBe('2');
      direct.disconnect();
      expect(p.stats().fallbacks).toBe(0);
    } finally {
      r.disconnect();
      await p.close(100);
      await locked.stop();
    }
  });

  // Over maxmemory a real redis refuses denyoom commands (SET), and in a MULTI block any command
  // queued (queueing takes memory) but serves GET outside one, MULTI, DISCARD, PING (checked
  // here: the same requests to a redis-server at maxmemory 1).
  it('100:error OOM answers what a redis over maxmemory does: GET outside a block passes, any command queued in one gets OOM', async () => {
    const requests = [cmd('SET', 'oom:k', 'v'), cmd('GET', 'oom:k'), cmd('MULTI'), cmd('GET', 'oom:k'), cmd('DISCARD'), cmd('PING'), cmd('DEL', 'oom:k')];
    const replies = async (port: number) => (await rawReplies(port, requests)).map(String);
    const full = await startRedis();
    try {
      const c = client(full.port);
      await c.connect();
      await c.set('oom:k', 'before');
      await c.config('SET', 'maxmemory', '1');
      c.disconnect();
      const real = await replies(full.port);
      expect(real[0]).toMatch(/^-OOM /);
      await withProxy({ error: { percent: 100, kind: 'OOM' } }, async (p) => {
        const direct = client(server.port);
        await direct.set('oom:k', 'before');
        expect(await replies(p.port)).toEqual(real);
        expect(p.stats().behaviors.error).toBe(2);
        // The DEL (not denyoom) ran, as on the real one.
        expect(await direct.get('oom:k')).toBe(null);
        direct.disconnect();
      });
    } finally {
      await full.stop();
    }
  });

  // The rules against redis-server itself, in each state it can be put in here (STATES): the same
  // requests to it and through the proxy at 100:error of the kind are refused alike (replies
  // here are lines and bulk strings: the test's reader splits no arrays).
  it.each(STATES)('100:error %s refuses the commands a redis-server in that state refuses, and only those', async (kind) => {
    const requests = [
      ['GET', 'st:k'], ['SET', 'st:k', 'v'], ['INCR', 'st:n'], ['DEL', 'st:k'], ['PING'], ['ECHO', 'x'], ['INFO', 'server'], ['SELECT', '0'],
      ['EXISTS', 'st:k', 'st:n'], ['TYPE', 'st:k'], ['CONFIG', 'RESETSTAT'], ['CLIENT', 'GETNAME'], ['CLIENT', 'ID'], ['STRLEN', 'st:k'],
      ['LPUSH', 'st:l', 'a'], ['EXPIRE', 'st:k', '10'], ['DBSIZE'], ['LASTSAVE'], ['PUBLISH', 'st:ch', 'm'], ['COMMAND', 'COUNT'],
      ['AUTH', 'wrong'], ['MULTI'], ['GET', 'st:k'], ['DISCARD'], ['WATCH', 'st:k'], ['UNWATCH'],
      ['MULTI'], ['SET', 'st:k', 'v'], ['EXEC'], ['MULTI'], ['PING'], ['EXEC'], ['MULTI'], ['ECHO', 'x'], ['EXEC'],
      ['EVAL', 'return 1', '0'], ['EVAL_RO', 'return 1', '0'], ['FUNCTION', 'STATS'], ['CONFIG', 'GET', 'maxmemory'], ['UNLINK', 'st:z'],
      // Unknown to redis 7.0 (a module's, a later version's): it says so first, whatever its state.
      ['CLIENT', 'SETINFO', 'LIB-NAME', 'x'], ['CLIENT', 'MAINT_NOTIFICATIONS', 'on'], ['JSON.SET', 'st:j', '$', '1'], ['CONFIG'],
      ['MULTI'], ['ECHO', 'x'], ['JSON.GET', 'st:j'], ['EXEC'],
      // The wrong number of arguments for the command: it says so next, whatever its state (in a block too, which it aborts).
      ['SET', 'st:k'], ['GET'], ['CONFIG', 'GET'], ['EXPIRE', 'st:k'], ['PING', 'a', 'b'], ['EVAL', 'return 1'], ['FUNCTION', 'STATS', 'x'],
      ['MULTI'], ['SET', 'st:k'], ['EXEC'],
      ['HELLO', '2'], ['QUIT'],
    ];
    const refused = async (port: number) => (await rawReplies(port, requests.map((r) => cmd(...r)))).map((r, i) => `${requests[i].join(' ')}: ${said(r)}`);
    await inState(kind, async (real) => {
      const want = await refused(real.port);
      expect(want.filter((w) => w.endsWith(kind)).length).toBeGreaterThan(1);
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        expect(await refused(p.port)).toEqual(want);
      });
    });
  });


  // A real redis decides a block's EXEC by the commands queued in it: a read-only replica runs a
  // block of reads, a loading server one of commands it serves then (ECHO, SELECT), not one with GET.
  it('an error drawn for EXEC meets it as the block\'s commands say: READONLY runs a block of reads, LOADING one of ECHO and SELECT, not one with GET', async () => {
    await withProxy('', async (p) => {
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      await r.set('xq:k', 'v');
      // The EXEC alone draws the error (transient after 3 passing exchanges: MULTI and the two queued).
      const block = async (kind: string, fill: (m: ReturnType<Redis['multi']>) => ReturnType<Redis['multi']>) => {
        await p.setMix({ transient: { percent: 100, warmup: 3, agitate: 1, kind } });
        try {
          return await fill(r.multi()).exec().then((res) => res!.map(([e, v]) => (e ? (e as Error).message : v)), (e: Error) => e.message.split(':')[0]);
        } finally {
          await p.setMix('');
        }
      };
      expect(await block('READONLY', (m) => m.get('xq:k').exists('xq:k'))).toEqual(['v', 1]);
      expect(await block('READONLY', (m) => m.get('xq:k').set('xq:k', 'w'))).toBe('EXECABORT Transaction discarded because of');
      expect(await block('LOADING', (m) => m.echo('e').select(0))).toEqual(['e', 'OK']);
      expect(await block('LOADING', (m) => m.echo('e').get('xq:k'))).toBe('EXECABORT Transaction discarded because of');
      expect(await block('BUSY', (m) => m.echo('e').select(0))).toBe('EXECABORT Transaction discarded because of');
      expect(await r.get('xq:k')).toBe('v');
      expect(p.stats().behaviors.transient).toBe(3);
      r.disconnect();
    });
  });

  it('withholds exactly the errored commands of a pipelined batch from the server, the others reach it intact', async () => {
    await withProxy('30:error', async (p) => {
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      // One write of 300 SETs of different lengths: errors amid a chunk, the rest moved up to close each gap.
      const keys = Array.from({ length: 300 }, (_, i) => `gap:${i}`);
      const values = keys.map((_, i) => 'v'.repeat(1 + (i % 17)) + i);
      const pipe = r.pipeline();
      keys.forEach((k, i) => pipe.set(k, values[i]));
      const res = (await pipe.exec())!;
      const failed = res.map(([e]) => e !== null);
      expect(failed.filter(Boolean).length).toBeGreaterThan(40);
      // Every error the injected one (not the server's: it would mean it got garbage), every other reply OK.
      expect(res.every(([e, v]) => (e ? (e as Error).message.startsWith('LOADING ') : v === 'OK'))).toBe(true);
      expect(p.stats().behaviors.error).toBe(failed.filter(Boolean).length);
      expect(p.stats().latency.count).toBe(p.stats().exchanges);
      await p.setMix('');
      expect(await r.mget(...keys)).toEqual(values.map((v, i) => (failed[i] ? null : v)));
      expect(p.stats().fallbacks).toBe(0);
      r.disconnect();
    });
  });

  it('a behavior whose options fix its actions is not called per exchange; one that does not fix them is', async () => {
    // `fixed` answers for onExchange when the options alone decide: with `fixed: true` every
    // command gets fixed()'s error and onExchange never runs; with `fixed: false` it runs for each.
    let calls = 0;
    const answers = defineBehavior({
      name: 'answers',
      description: '',
      options: z.object({ fixed: z.boolean().default(true) }),
      onExchange: () => { calls++; return act.error('ERR', 'from the hook'); },
      fixed: (o) => (o.fixed ? act.error('ERR', 'fixed answer') : undefined),
    });
    const registry = new Map([...builtinBehaviors, answers].map((b) => [b.name, b]));
    await withProxy({ answers: { percent: 50 } }, async (p) => {
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      for (const fixed of [true, false]) {
        await p.setMix({ answers: { percent: 50, fixed } });
        calls = 0;
        const before = p.stats().behaviors.answers ?? 0;
        const pipe = r.pipeline();
        for (let i = 0; i < 200; i++) pipe.echo(`e${i}`);
        const res = (await pipe.exec())!;
        const errors = res.filter(([e]) => e !== null).map(([e]) => (e as Error).message);
        expect(errors.length).toBeGreaterThan(60);
        expect(new Set(errors)).toEqual(new Set([fixed ? 'ERR fixed answer' : 'ERR from the hook']));
        expect(res.every(([e, v], i) => e !== null || v === `e${i}`)).toBe(true);
        expect(calls).toBe(fixed ? 0 : errors.length);
        expect(p.stats().behaviors.answers - before).toBe(errors.length);
      }
      expect(p.stats().latency.count).toBe(p.stats().exchanges);
      r.disconnect();
    }, { registry });
  });

  it.each([
    ['delayed ones', { latency: { percent: 20, latency: 10 } }],
    // Injected errors among them: their exchanges are renewed for later runs once delivered.
    ['delayed ones and injected errors', { latency: { percent: 20, latency: 10 }, error: { percent: 20, kind: 'BUSY' } }],
  ])('replies held behind %s go out in order, each request counted and timed once', async (_, mix) => {
    // 20 % of the replies wait 10 ms: the untouched requests after them in a pipeline (runs of a
    // chunk's requests sharing one exchange) hold their replies until it goes.
    await withProxy(mix, async (p) => {
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      const before = p.stats().exchanges;
      let errors = 0;
      for (let round = 0; round < 3; round++) {
        const pipe = r.pipeline();
        for (let i = 0; i < 200; i++) pipe.echo(`r${round}:${i}`);
        const res = (await pipe.exec())!;
        errors += res.filter(([e]) => e).length;
        expect(res.map(([e, v], i) => (e ? String(e) : String(v)).replace(/^ReplyError: BUSY .*/, `r${round}:${i}`))).toEqual(Array.from({ length: 200 }, (_, i) => `r${round}:${i}`));
      }
      const st = p.stats();
      expect(st.exchanges - before).toBe(600);
      expect(st.behaviors.latency).toBeGreaterThan(60);
      expect(st.behaviors.error ?? 0).toBe(errors);
      if ('error' in mix) expect(errors).toBeGreaterThan(60);
      expect(st.latency.count).toBe(st.exchanges);
      r.disconnect();
    });
  });

  it('50:error with a seed gives about half errors, replayably', async () => {
    const runOnce = async () => {
      let seen = '';
      await withProxy('50:error', async (p) => {
        const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
        await r.connect();
        for (let i = 0; i < 400; i++) {
          seen += await r.ping().then(() => '.', (e: unknown) => (e instanceof ReplyError ? 'E' : '?'));
        }
        expect(p.stats().behaviors.error).toBe([...seen].filter((c) => c === 'E').length);
        r.disconnect();
      });
      return seen;
    };
    const a = await runOnce();
    expect(a).not.toContain('?');
    const errors = [...a].filter((c) => c === 'E').length;
    // Binomial(400, 0.5): sd = 10; +-40 is four sd.
    expect(errors).toBeGreaterThanOrEqual(160);
    expect(errors).toBeLessThanOrEqual(240);
    expect(await runOnce()).toBe(a);
  });

  it('100:delay (sleep 0.2) adds about 200 ms per command', async () => {
    await withProxy('', async (p) => {
      const r = client(p.port);
      await r.connect();
      let t = performance.now();
      await r.get('dk');
      const base = performance.now() - t;
      await p.setMix({ delay: { percent: 100, sleep: 0.2 } });
      t = performance.now();
      expect(await r.set('dk', '1')).toBe('OK');
      const ms = performance.now() - t;
      expect(ms).toBeGreaterThanOrEqual(195);
      expect(ms).toBeLessThan(base + 1000);
      r.disconnect();
    });
  });

  it('100:blackout closes the connection under ioredis', async () => {
    await withProxy('', async (p) => {
      const r = client(p.port);
      await r.connect();
      await p.setMix('100:blackout');
      const err = await r.get('bk').then(() => undefined, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(ReplyError);
      expect(err!.message).toMatch(/Connection is closed|ECONNRESET|closed/i);
      await new Promise((res) => setTimeout(res, 50));
      expect(['end', 'close']).toContain(r.status);
      r.disconnect();
    });
  });

  // A pipelined batch in one write: a fault that ends the connection (blackout, abort) ends the
  // batch there; the commands behind it reach no one and are not drawn, so not counted either.
  it.each([
    ['blackout', 0],
    ['abort', 1],
  ])('a %s amid a pipelined batch: the commands behind it neither reach the server nor count', async (behavior, sent) => {
    await withProxy(`50:${behavior}`, async (p) => {
      const key = `cut:${behavior}`;
      const direct = client(server.port);
      await direct.del(key);
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
      s.on('error', () => {});
      s.on('data', () => {});
      s.write(Buffer.concat(Array.from({ length: 30 }, (_, i) => cmd('RPUSH', key, String(i)))));
      await closed;
      await new Promise((res) => setTimeout(res, 100));
      const got = (await direct.lrange(key, 0, -1)).map(Number);
      // Those before the fault (and the aborted one, which is forwarded) reached it, in order; none after.
      expect(got).toEqual(got.map((_, i) => i));
      expect(got.length).toBeLessThan(30 - 1 + sent);
      const stats = p.stats();
      expect(stats.behaviors[behavior]).toBe(1);
      expect(stats.exchanges).toBe(got.length + 1 - sent);
      direct.disconnect();
    });
  });

  // Withheld, they would leave the server inside MULTI: every later command on the connection
  // queued instead of run, and answered +QUEUED. EXEC goes as DISCARD: a real redis refusing EXEC
  // discards the block (proxy-node-redis 'an error on EXEC discards the transaction'). A real
  // redis serves DISCARD whatever its state but when it asks for AUTH (no flag no_auth).
  it.each([
    ['EXEC', 'LOADING', '-EXECABORT Transaction discarded because of: LOADING '],
    ['DISCARD', 'NOAUTH', '-NOAUTH '],
  ])('an error on %s still ends the transaction on the server, none of it run; the connection goes on', async (verb, kind, said) => {
    await withProxy({ transient: { percent: 100, warmup: 2, agitate: 1, kind } }, async (p) => {
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      s.on('error', () => {});
      const { replies, settled } = collectReplies(s, 5, 5000);
      s.write(Buffer.concat([cmd('MULTI'), cmd('SET', `tx:${verb}`, '1'), cmd(verb), cmd('SET', `after:${verb}`, '2'), cmd('GET', `after:${verb}`)]));
      await settled;
      s.destroy();
      expect(replies.map(String)).toEqual(['+OK\r\n', '+QUEUED\r\n', expect.stringMatching(new RegExp(`^${said}`)), '+OK\r\n', '$1\r\n2\r\n']);
      expect(await rawExchange(server.port, cmd('EXISTS', `tx:${verb}`), '\r\n').then((c) => Buffer.concat(c).toString())).toBe(':0\r\n');
      expect(p.stats().behaviors.transient).toBe(1);
    });
  });

  // Commands a loading redis serves (SELECT, ECHO: flag loading) pass untouched under LOADING, so
  // they are not among the N that fail_first fails, nor among transient's agitated ones.
  it.each([
    ['fail_first', { fail_first: { percent: 100, exchanges: 2, kind: 'LOADING' } }],
    ['transient', { transient: { percent: 100, warmup: 1, agitate: 2, kind: 'LOADING' } }],
  ])('%s counts only the requests the error meets, not those a server in that state serves', async (name, mix) => {
    await withProxy(mix, async (p) => {
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      s.on('error', () => {});
      const { replies, settled } = collectReplies(s, 6, 5000);
      s.write(Buffer.concat([cmd('ECHO', 'a'), cmd('SELECT', '0'), cmd('GET', 'ff:k'), cmd('ECHO', 'b'), cmd('GET', 'ff:k'), cmd('GET', 'ff:k')]));
      await settled;
      s.destroy();
      expect(replies.map(String)).toEqual(['$1\r\na\r\n', '+OK\r\n', expect.stringMatching(/^-LOADING /), '$1\r\nb\r\n', expect.stringMatching(/^-LOADING /), '$-1\r\n']);
      expect(p.stats().behaviors[name]).toBe(2);
    });
  });

  // A real RESET never fails, so a client may take it as done whatever it is told: withheld, the
  // server kept the block, the watch and the database the client thinks reset (its SET queued, in db 1).
  // Only ERR meets it: a real redis serves RESET in any state (flags loading, stale, allow_busy, no_auth).
  it('an error on RESET still resets the connection on the server: the commands after it run, in db 0', async () => {
    await withProxy({ transient: { percent: 100, warmup: 4, agitate: 1, kind: 'ERR' } }, async (p) => {
      const k = 'reset:k';
      const direct = client(server.port);
      await direct.del(k);
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      s.on('error', () => {});
      const { replies, settled } = collectReplies(s, 7, 5000);
      s.write(Buffer.concat([cmd('SELECT', '1'), cmd('WATCH', k), cmd('MULTI'), cmd('SET', k, 'queued'), cmd('RESET'), cmd('SET', k, 'after'), cmd('GET', k)]));
      await settled;
      s.destroy();
      expect(replies.map(String)).toEqual(['+OK\r\n', '+OK\r\n', '+OK\r\n', '+QUEUED\r\n', expect.stringMatching(/^-ERR injected error on 'RESET'/), '+OK\r\n', '$5\r\nafter\r\n']);
      expect(await direct.get(k)).toBe('after');
      await direct.select(1);
      expect(await direct.exists(k)).toBe(0);
      expect(p.stats().behaviors.transient).toBe(1);
      direct.disconnect();
    });
  });

  // A real UNWATCH never fails either: withheld, the key stayed watched, and the next transaction
  // of a client that took it as done came back null when another client changed the key.
  it('an error on UNWATCH still unwatches on the server: the next transaction runs', async () => {
    await withProxy('', async (p) => {
      const [k, k2] = ['unwatch:k', 'unwatch:k2'];
      const direct = client(server.port);
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      await r.watch(k);
      await p.setMix({ error: { percent: 100, kind: 'NOAUTH' } });
      await expect(r.unwatch()).rejects.toThrow(/^NOAUTH /);
      await p.setMix('');
      await direct.set(k, 'changed');
      expect(await r.multi().set(k2, '1').exec()).toEqual([[null, 'OK']]);
      r.disconnect();
      direct.disconnect();
    });
  });

  // A real redis refuses a command while queueing it and then answers EXEC with EXECABORT,
  // running none of the block: the proxy withholds the command it answers with an error, so the
  // server must not run the others either (ioredis would map their results onto the wrong commands).
  // An error on MULTI itself (NOAUTH: a real redis serves MULTI in any other state): the client
  // was told the transaction did not start, so none of it runs either.
  it.each([
    ['INCR', 2, 'LOADING', ['+OK\r\n', '+QUEUED\r\n', expect.stringMatching(/^-LOADING /)]],
    ['MULTI', 0, 'NOAUTH', [expect.stringMatching(/^-NOAUTH /), '+QUEUED\r\n', '+QUEUED\r\n']],
  ])('an error on %s of a transaction aborts it: EXECABORT, nothing applied, the connection goes on', async (verb, warmup, kind, queued) => {
    await withProxy({ transient: { percent: 100, warmup, agitate: 1, kind } }, async (p) => {
      const [k, n] = [`abort:${verb}:k`, `abort:${verb}:n`];
      const direct = client(server.port);
      await direct.del(k, n);
      const s = net.connect({ port: p.port, host: '127.0.0.1' });
      s.on('error', () => {});
      const { replies, settled } = collectReplies(s, 7, 5000);
      s.write(Buffer.concat([
        cmd('MULTI'), cmd('SET', k, '1'), cmd('INCR', n), cmd('EXEC'), cmd('GET', k), cmd('GET', n), cmd('PING'),
      ]));
      await settled;
      s.destroy();
      expect(replies.map(String)).toEqual([
        ...queued, '-EXECABORT Transaction discarded because of previous errors.\r\n',
        '$-1\r\n', '$-1\r\n', '+PONG\r\n',
      ]);
      expect(await direct.exists(k, n)).toBe(0);
      const st = p.stats();
      expect(st.behaviors.transient).toBe(1);
      expect(st.exchanges).toBe(7);
      expect(st.latency.count).toBe(7);
      direct.disconnect();
    });
  });

  // ioredis sends MULTI, SET, INCR, GET, EXEC; the error is on the first or the third.
  it.each([['MULTI', 0, 'NOAUTH'], ['INCR', 2, 'LOADING']])('ioredis multi() with an error on %s fails whole; the next transaction on the connection runs', async (verb, warmup, kind) => {
    await withProxy({ transient: { percent: 100, warmup, agitate: 1, kind } }, async (p) => {
      const [k, n] = [`iomulti:${verb}:k`, `iomulti:${verb}:n`];
      const direct = client(server.port);
      await direct.del(k, n);
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      const err = await r.multi().set(k, 'a').incr(n).get(k).exec().then(() => undefined, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(ReplyError);
      expect(err!.message).toMatch(/^EXECABORT /);
      expect(await direct.exists(k, n)).toBe(0);
      expect(await r.multi().set(k, 'b').incr(n).get(k).exec()).toEqual([[null, 'OK'], [null, 1], [null, 'b']]);
      expect(await r.get(k)).toBe('b');
      expect(p.stats().behaviors.transient).toBe(1);
      r.disconnect();
      direct.disconnect();
    });
  });

  // Errors drawn at random (the fixed-error path) on MULTI, INCR, INCR, EXEC of 150 transactions:
  // a transaction runs whole or not at all, and the client is told which.
  it('30:error on ioredis multi(): each transaction runs whole or not at all, as the client is told', async () => {
    await withProxy('30:error', async (p) => {
      const direct = client(server.port);
      const keys = Array.from({ length: 150 }, (_, i) => `whole:${i}`);
      await direct.del(...keys);
      const r = client(p.port, { enableReadyCheck: false, disableClientInfo: true });
      await r.connect();
      const told: string[] = [];
      for (const k of keys) {
        told.push(await r.multi().incr(k).incr(k).exec().then(
          (res) => JSON.stringify(res),
          (e: Error) => e.message.split(' ')[0],
        ));
      }
      const values = await direct.mget(...keys);
      keys.forEach((k, i) => {
        // An error on any of its requests, EXEC's own too, aborts the block: EXECABORT, nothing run.
        expect([told[i], values[i]], k).toEqual(told[i] === 'EXECABORT' ? ['EXECABORT', null] : ['[[null,1],[null,2]]', '2']);
      });
      expect(told.filter((t) => t === 'EXECABORT').length).toBeGreaterThan(30);
      expect(told.filter((t) => t.startsWith('[')).length).toBeGreaterThan(10);
      r.disconnect();
      direct.disconnect();
    });
  });

  it('an upstream down is said once per outage, however many clients it fails; each is counted', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    await withProxy('', async (p) => {
      const logs: string[] = [];
      p.on('event', (e: { type: string; message?: string }) => { if (e.type === 'proxy.log') logs.push(e.message!); });
      const ping = () => rawExchange(p.port, cmd('PING'), '\r\n', 5000).then((c) => Buffer.concat(c).toString(), () => 'closed');
      p.setUpstream(dead);
      for (let i = 0; i < 20; i++) expect(await ping()).toBe('closed');
      expect(logs).toEqual([expect.stringMatching(new RegExp(`^upstream ${dead} unreachable: .*ECONNREFUSED.*said once until it answers again`))]);
      expect(p.stats().connections.upstreamErrors).toBe(20);
      p.setUpstream(`127.0.0.1:${server.port}`);
      expect(await ping()).toBe('+PONG\r\n');
      // Down again after it answered: a new outage, said again.
      p.setUpstream(dead);
      expect(await ping()).toBe('closed');
      expect(logs.length).toBe(2);
    });
  });

  it('100:hang makes the command time out', async () => {
    await withProxy('', async (p) => {
      const r = client(p.port, { commandTimeout: 300 });
      await r.connect();
      await p.setMix('100:hang');
      const t = performance.now();
      const err = await r.get('hk').then(() => undefined, (e: unknown) => e as Error);
      expect(err?.message).toMatch(/timed out/i);
      expect(performance.now() - t).toBeGreaterThanOrEqual(290);
      r.disconnect();
    });
  });

  // A real redis refusing SUBSCRIBE leaves the connection in normal mode: so does the proxy, which
  // goes on framing and drawing after an injected error on it, until one goes through.
  it('50:error BUSY on ioredis: a refused SUBSCRIBE leaves the connection framed, its commands still drawn; one that goes through subscribes it', async () => {
    await withProxy('', async (p) => {
      const pub = client(server.port);
      await pub.connect();
      const sub = client(p.port, { enableReadyCheck: false });
      await sub.connect();
      await sub.set('sb:k', 'v');
      await p.setMix({ error: { percent: 50, kind: 'BUSY' } });
      let refused = 0;
      let told = 0;
      const gets: string[] = [];
      for (let round = 0; round < 40; round++) {
        const subscribed = await sub.subscribe('sb:ch', 'sb:ch2').then(() => true, (e: Error) => e.message.split(' ')[0]);
        if (subscribed === true) break;
        expect(subscribed).toBe('BUSY');
        refused++;
        for (let i = 0; i < 10; i++) gets.push(await sub.get('sb:k').then(String, (e: Error) => e.message.split(' ')[0]));
      }
      told = refused + gets.filter((g) => g === 'BUSY').length;
      expect(refused).toBeGreaterThan(0);
      expect(new Set(gets)).toEqual(new Set(['v', 'BUSY']));
      expect(p.stats().behaviors.error).toBe(told);
      // Subscribed: the confirmation of the second channel and the messages pass, whatever is drawn.
      const got: string[] = [];
      sub.on('message', (ch: string, m: string) => got.push(`${ch} ${m}`));
      for (let i = 0; i < 5; i++) await pub.publish(i % 2 ? 'sb:ch2' : 'sb:ch', `m${i}`);
      for (let i = 0; i < 100 && got.length < 5; i++) await new Promise((res) => setTimeout(res, 20));
      expect(got).toEqual(['sb:ch m0', 'sb:ch2 m1', 'sb:ch m2', 'sb:ch2 m3', 'sb:ch m4']);
      expect(await sub.unsubscribe('sb:ch', 'sb:ch2')).toBe(0);
      expect(p.stats().behaviors.error).toBe(told);
      expect(p.stats().fallbacks).toBe(0);
      sub.disconnect();
      pub.disconnect();
    });
  });

  it('pub/sub: SUBSCRIBE can be faulted; once subscribed, messages flow whatever the mix', async () => {
    await withProxy('', async (p) => {
      const pub = client(server.port);
      await pub.connect();
      // An error on SUBSCRIBE reaches the subscriber as a ReplyError.
      const failing = client(p.port);
      await failing.connect();
      await p.setMix({ error: { percent: 100, kind: 'NOAUTH' } });
      await expect(failing.subscribe('ch')).rejects.toBeInstanceOf(ReplyError);
      failing.disconnect();
      await p.setMix('');
      const sub = client(p.port);
      await sub.connect();
      const got: string[] = [];
      sub.on('message', (_ch: string, m: string) => got.push(m));
      await sub.subscribe('ch', 'ch2');
      await p.setMix('100:error');
      for (let i = 0; i < 5; i++) await pub.publish('ch', `m${i}`);
      for (let i = 0; i < 50 && got.length < 5; i++) await new Promise((res) => setTimeout(res, 20));
      expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      await sub.unsubscribe('ch', 'ch2');
      expect(p.stats().fallbacks).toBe(0);
      sub.disconnect();
      pub.disconnect();
    });
  });
});
