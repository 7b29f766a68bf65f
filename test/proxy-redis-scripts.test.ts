/**
 * EVAL, EVALSHA and FCALL through the proxy at 100:error READONLY, OOM and MISCONF, byte for byte
 * as a redis-server in that state answers them: a script that writes is refused, up front by its
 * shebang's flags or at its first write, said with the script's SHA1 and the line.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { client, cmd, inState, rawReplies, said } from './proxy-redis-real.js';

const run = haveServer('redis-server');

/** The data and functions both servers hold: a function that writes (no flags) and one flagged no-writes. */
async function prepare(c: Redis): Promise<void> {
  await c.set('sc:k', 'v');
  await c.call('FUNCTION', 'LOAD', 'REPLACE', [
    '#!lua name=sclib',
    "redis.register_function('scw', function(keys) return redis.call('SET', keys[1], 'v') end)",
    "redis.register_function{function_name='scr', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}",
  ].join('\n'));
}

describe.skipIf(!run)('redis: scripts at 100:error as a redis-server in that state', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startRedis();
    const c = client(server.port);
    await c.connect();
    await prepare(c);
    c.disconnect();
  });
  afterAll(async () => { await server?.stop(); });
  const withProxy = proxiesTo(() => server.port, { protocol: 'redis', seed: 1 });

  const requests = [
    ['EVAL', "return redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "return redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "local x = 1\nredis.call('GET', 'sc:k')\nreturn redis.call(\"set\", 'sc:k', 'v')", '0'],
    ['EVAL', "redis.call('DEL', 'sc:none')\nreturn redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "redis.call('INCR', 'sc:n') return 1", '0'],
    ['EVAL', "return redis.pcall('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "local ok = redis.pcall('SET', 'sc:k', 'v') return 1", '0'],
    ['EVAL', "#!lua\nreturn redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "#!lua flags=no-writes\nreturn redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "#!lua flags=allow-oom\nreturn redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL_RO', "return redis.call('GET', 'sc:k')", '0'],
    // A helper that writes, never called: the script only reads.
    ['EVAL', "local function w() return redis.call('SET', 'sc:k', 'w') end\nreturn redis.call('GET', 'sc:k')", '0'],
    // One called first thing: its write runs there.
    ['EVAL', "local function w() return redis.call('SET', 'sc:k', 'v') end\nredis.call('GET', 'sc:k')\nreturn w()", '0'],
    // One never called (named in a comment, a string), then a write of the script's own: that one stops it.
    ['EVAL', "local function w() return redis.call('SET', 'sc:k', 'w') end\nreturn redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "local w = function() return redis.call('SET', 'sc:k', 'w') end -- w()\nlocal s = 'w()'\nredis.call('SET', 'sc:k', 'v') return s", '0'],
    ['FCALL', 'scw', '1', 'sc:k'],
    ['FCALL_RO', 'scr', '1', 'sc:k'],
    ['MULTI'], ['EVAL', "#!lua\nreturn redis.call('GET', 'sc:k')", '0'], ['EXEC'],
    ['GET', 'sc:k'],
  ];

  // A library the proxy sees loaded (through it, on a connection of its own), and one it does not (loaded on the server directly).
  const seenLibrary = [
    '#!lua name=sclib',
    "redis.register_function('scw', function(keys) return redis.call('SET', keys[1], 'v') end)",
    "redis.register_function{function_name='scr', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}",
    "redis.register_function{function_name='sco', callback=function(keys) return redis.call('SET', keys[1], 'v') end, flags={'allow-oom'}}",
    "redis.register_function{\n  callback = function() return 1 end,\n  flags = { 'no-writes', \"allow-stale\" },\n  function_name = 'scs',\n}",
    "redis.register_function{function_name='sce', callback=function(keys) return redis.call('GET', keys[1]) end, flags={}}",
  ].join('\n');
  const unseenLibrary = ['#!lua name=unseen', "redis.register_function('scu', function(keys) return redis.call('GET', keys[1]) end)"].join('\n');
  const calls = ['scw', 'scr', 'sco', 'scs', 'sce', 'SCR', 'scu'].flatMap((f) => [['FCALL', f, '1', 'sc:k'], ['FCALL_RO', f, '1', 'sc:k']]);
  const unseen = (i: number) => calls[i][1] === 'scu';
  const callReplies = async (port: number) => rawReplies(port, calls.map((r) => cmd(...r)));
  const shown = (replies: Buffer[]) => replies.map((r, i) => `${calls[i].join(' ')}: ${String(r)}`);
  const refusal = (r: Buffer) => Buffer.from(said(r) === 'served' ? 'served' : 'refused');

  it.each([['READONLY'], ['OOM'], ['MISCONF'], ['MASTERDOWN']])('100:error %s: FCALL and FCALL_RO of a function seen loaded answered as by its flags', async (kind) => {
    const both = async (c: Redis) => {
      await prepare(c);
      await c.call('FUNCTION', 'LOAD', 'REPLACE', unseenLibrary);
    };
    const c = client(server.port);
    await c.connect();
    await both(c);
    const served = await callReplies(server.port);
    c.disconnect();
    await inState(kind, async (real) => {
      const direct = await callReplies(real.port);
      // The server in that state reads the flags: READONLY, OOM, MISCONF refuse a function that may write, MASTERDOWN one not allow-stale.
      expect(String(direct[2])).toMatch(kind === 'MASTERDOWN' ? /^-MASTERDOWN / : /^\$1\r\nv\r\n$/);
      expect(String(direct[0])).toMatch(kind === 'MASTERDOWN' ? /^-READONLY / : new RegExp(`^-${kind} `));
      // A function not seen is served at READONLY, OOM and MISCONF (it may be flagged no-writes), as by the server
      // behind; refused at MASTERDOWN, READONLY or MASTERDOWN as FCALL or FCALL_RO names it (only its flags would say).
      const want = shown(direct.map((r, i) => (!unseen(i) ? r : kind === 'MASTERDOWN' ? refusal(r) : served[i])));
      const through = async (port: number) => shown((await callReplies(port)).map((r, i) => (unseen(i) && kind === 'MASTERDOWN' ? refusal(r) : r)));
      await withProxy('', async (p) => {
        const loader = client(p.port);
        await loader.connect();
        await loader.call('FUNCTION', 'LOAD', 'REPLACE', seenLibrary);
        loader.disconnect();
        await p.setMix({ error: { percent: 100, kind } });
        expect(await through(p.port)).toEqual(want);
        // ioredis, as an application calls them.
        const app = client(p.port);
        await app.connect();
        if (kind === 'MASTERDOWN') expect(await app.fcall('scs', 0)).toBe(1);
        else expect(await app.fcall('scr', 1, 'sc:k')).toBe('v');
        await expect(app.fcall('scw', 1, 'sc:k')).rejects.toThrow(kind === 'OOM' ? /^OOM / : /^READONLY |^MISCONF /);
        app.disconnect();
      });
    }, async (c) => {
      await both(c);
      await c.call('FUNCTION', 'LOAD', 'REPLACE', seenLibrary);
    });
  });

  it.each([['READONLY'], ['OOM'], ['MISCONF']])('100:error %s: EVAL and FCALL answered as by the server in that state', async (kind) => {
    const replies = async (port: number) => (await rawReplies(port, requests.map((r) => cmd(...r)))).map((r, i) => `${requests[i].join(' ')}: ${String(r)}`);
    await inState(kind, async (real) => {
      const want = await replies(real.port);
      expect(want).toHaveLength(requests.length);
      expect(want[0]).toMatch(new RegExp(`: -${kind} .* script: [0-9a-f]{40}, on @user_script:1\\.\\r\\n$`));
      // The helper called after a read: its write, line 1, stops the script.
      expect(want.find((w) => w.includes("'sc:k', 'v') end\nredis.call('GET'"))).toMatch(new RegExp(`: -${kind} .* script: [0-9a-f]{40}, on @user_script:1\\.\\r\\n$`));
      await withProxy('', async (p) => {
        // The library through the proxy, which reads its functions' flags.
        const loader = client(p.port);
        await loader.connect();
        await prepare(loader);
        loader.disconnect();
        await p.setMix({ error: { percent: 100, kind } });
        expect(await replies(p.port)).toEqual(want);
      });
    }, prepare);
  });

  // A replica whose master is down runs a script flagged no-writes and allow-stale, and its first
  // call of a command it does not serve stale (GET, DBSIZE; not ECHO, TIME) fails: ERR, and where.
  const stale = (body: string) => `#!lua flags=no-writes,allow-stale\n${body}`;
  const staleRequests = [
    ['EVAL', stale("return redis.call('ECHO', 'e')"), '0'],
    ['EVAL', stale("return redis.call('GET', 'sc:k')"), '0'],
    ['EVAL', stale("redis.call('ECHO', 'e')\nlocal t = redis.call('TIME')\nreturn redis.call('dbsize')"), '0'],
    ['EVAL', stale("return redis.pcall('GET', 'sc:k')"), '0'],
    ['EVAL', stale("local ok = redis.pcall('GET', 'sc:k') return 1"), '0'],
    ['EVAL', stale("return redis.call('SET', 'sc:k', 'v')"), '0'],
    // A helper never called, then a GET of the script's own: that one fails, at its line.
    ['EVAL', stale("local function get() return redis.call('GET', KEYS[1]) end\nreturn redis.call('GET', KEYS[1])"), '1', 'sc:k'],
    // Refused in a script whatever the state, or unknown: the server behind says so too.
    ['EVAL', stale("return redis.call('CONFIG', 'GET', 'maxmemory')"), '0'],
    ['EVAL', stale("return redis.call('BLPOP', 'sc:l', '1')"), '0'],
    ['EVAL', stale("return redis.call('NOSUCH', 'sc:k')"), '0'],
    ['EVAL_RO', stale("return redis.call('GET', 'sc:k')"), '0'],
    ['EVALSHA', createHash('sha1').update(stale("return redis.call('GET', KEYS[1])")).digest('hex'), '1', 'sc:k'],
    ['MULTI'], ['EVAL', stale("return redis.call('GET', 'sc:k')"), '0'], ['EVAL', stale("return redis.call('ECHO', 'e')"), '0'], ['ECHO', 'x'], ['EXEC'],
    ['FCALL', 'scsg', '1', 'sc:k'], ['FCALL_RO', 'scsg', '1', 'sc:k'], ['FCALL', 'scse', '1', 'sc:k'], ['FCALL', 'scsp', '1', 'sc:k'], ['FCALL', 'scsn', '1', 'sc:k'],
    ['MULTI'], ['FCALL', 'scsg', '1', 'sc:k'], ['FCALL', 'scse', '1', 'sc:k'], ['EXEC'],
    // Callbacks named from elsewhere: a local function's body, read where it is defined.
    ['FCALL', 'scsl', '1', 'sc:k'], ['FCALL_RO', 'scsl', '1', 'sc:k'], ['FCALL', 'scsv', '1', 'sc:k'], ['FCALL', 'scsq', '1', 'sc:k'],
    // Or given their function at the library's top level otherwise: a local assigned after it is declared, a table's fields.
    ['FCALL', 'scsa', '1', 'sc:k'], ['FCALL', 'scsm', '1', 'sc:k'], ['FCALL', 'scsf', '1', 'sc:k'],
    // A helper written in the body and never called: its GET does not run.
    ['EVAL', stale("local function get() return redis.call('GET', KEYS[1]) end\nreturn redis.call('ECHO', 'e')"), '1', 'sc:k'], ['FCALL', 'scsi', '1', 'sc:k'],
    // Or called first thing: its GET runs there.
    ['FCALL', 'scsc', '1', 'sc:k'],
  ];
  // Functions flagged so, their callbacks written in their registrations (a call's line is the library's).
  const staleLibrary = [
    '#!lua name=sclstale',
    "redis.register_function{function_name='scse', callback=function(keys) return redis.call('ECHO', keys[1]) end, flags={'no-writes', 'allow-stale'}}",
    'redis.register_function{',
    "  function_name = 'scsg',",
    '  callback = function(keys)',
    "    if redis.call('ECHO', 'a') == 'b' then return 0 end -- redis.call('GET', 'not this')",
    "    local s = 'end'",
    "    return redis.call('GET', keys[1])",
    '  end,',
    "  flags = { 'no-writes', 'allow-stale' },",
    '}',
    "redis.register_function{function_name='scsp', callback=function(keys) return redis.pcall('GET', keys[1]) end, flags={'no-writes', 'allow-stale'}}",
    "redis.register_function{function_name='scsn', callback=function(keys) return 1 end, flags={'no-writes', 'allow-stale'}}",
    "local function helper() return redis.call('GET', 'sc:k') end",
    'local function scsh(keys, args)',
    "  local e = redis.call('ECHO', 'function') -- end",
    "  return redis.call('GET', keys[1])",
    'end',
    "redis.register_function{function_name='scsl', callback=scsh, flags={'no-writes', 'allow-stale'}}",
    "local scsv = function(keys) return redis.call('ECHO', keys[1]) end",
    "redis.register_function{function_name='scsv', callback=scsv, flags={'no-writes', 'allow-stale'}}",
    // No flags: a stale replica refuses it whole (READONLY: a function not no-writes is a write).
    "redis.register_function('scsq', scsh)",
    'local scsa',
    "scsa = function(keys) return redis.call('GET', keys[1]) end",
    "redis.register_function{function_name='scsa', callback=scsa, flags={'no-writes', 'allow-stale'}}",
    'local scm = {}',
    "function scm.get(keys) return redis.call('GET', keys[1]) end",
    "scm.echo = function(keys) return redis.call('ECHO', keys[1]) end",
    "redis.register_function{function_name='scsm', callback=scm.get, flags={'no-writes', 'allow-stale'}}",
    "redis.register_function{function_name='scsf', callback=scm.echo, flags={'no-writes', 'allow-stale'}}",
    "redis.register_function{function_name='scsi', callback=function(keys)",
    "  local function get() return redis.call('GET', keys[1]) end",
    "  return redis.call('ECHO', keys[1])",
    "end, flags={'no-writes', 'allow-stale'}}",
    "redis.register_function{function_name='scsc', callback=function(keys)",
    "  local read = function() return redis.call('GET', keys[1]) end",
    "  local e = redis.call('ECHO', 'e')",
    '  return read()',
    "end, flags={'no-writes', 'allow-stale'}}",
  ].join('\n');

  it('100:error MASTERDOWN: a script flagged no-writes and allow-stale runs, and fails at its first call a stale replica refuses', async () => {
    const replies = async (port: number) => (await rawReplies(port, staleRequests.map((r) => cmd(...r)))).map((r, i) => `${staleRequests[i].join(' ')}: ${String(r)}`);
    const loaded = stale("return redis.call('GET', KEYS[1])");
    await inState('MASTERDOWN', async (real) => {
      const want = await replies(real.port);
      expect(want[0]).toMatch(/: \$1\r\ne\r\n$/);
      expect(want[1]).toMatch(/: -ERR Can not execute the command on a stale replica script: [0-9a-f]{40}, on @user_script:2\.\r\n$/);
      expect(want.find((w) => w.includes('local function get() return redis.call(\'GET\', KEYS[1]) end\nreturn redis.call(\'GET\''))).toMatch(/on @user_script:3\.\r\n$/);
      expect(want).toContain('FCALL scsg 1 sc:k: -ERR Can not execute the command on a stale replica script: scsg, on @user_function:8.\r\n');
      expect(want).toContain('FCALL scsl 1 sc:k: -ERR Can not execute the command on a stale replica script: scsl, on @user_function:17.\r\n');
      expect(want).toContain('FCALL scsa 1 sc:k: -ERR Can not execute the command on a stale replica script: scsa, on @user_function:24.\r\n');
      expect(want).toContain('FCALL scsm 1 sc:k: -ERR Can not execute the command on a stale replica script: scsm, on @user_function:27.\r\n');
      expect(want.slice(-3, -1)).toEqual([`${staleRequests.at(-3)!.join(' ')}: $1\r\ne\r\n`, 'FCALL scsi 1 sc:k: $4\r\nsc:k\r\n']);
      expect(want.at(-1)).toBe(`FCALL scsc 1 sc:k: -ERR Can not execute the command on a stale replica script: scsc, on @user_function:${staleLibrary.split('\n').findIndex((l) => l.includes('local read')) + 1}.\r\n`);
      await withProxy('', async (p) => {
        // The script an EVALSHA names, and the library, go through the proxy first.
        const app = client(p.port);
        await app.connect();
        await app.script('LOAD', loaded);
        await app.call('FUNCTION', 'LOAD', 'REPLACE', staleLibrary);
        app.defineCommand('scstale', { numberOfKeys: 1, lua: stale("return redis.call('GET', KEYS[1])") });
        app.defineCommand('scecho', { numberOfKeys: 1, lua: stale("return redis.call('ECHO', KEYS[1])") });
        const scripted = app as Redis & { scstale(k: string): Promise<unknown>; scecho(k: string): Promise<unknown> };
        expect(await scripted.scstale('sc:k')).toBe('v');
        await p.setMix({ error: { percent: 100, kind: 'MASTERDOWN' } });
        expect(await replies(p.port)).toEqual(want);
        // ioredis, as an application calls them: EVALSHA, EVAL.
        await expect(scripted.scstale('sc:k')).rejects.toThrow(/^ERR Can not execute the command on a stale replica script: [0-9a-f]{40}, on @user_script:2\.$/);
        await expect(app.eval(stale("return redis.call('GET', KEYS[1])"), 1, 'sc:k')).rejects.toThrow(/^ERR Can not execute the command on a stale replica script: /);
        expect(await scripted.scecho('sc:e')).toBe('sc:e');
        await expect(app.fcall('scsg', 1, 'sc:k')).rejects.toThrow(/^ERR Can not execute the command on a stale replica script: scsg, on @user_function:8\.$/);
        expect(await app.fcall('scse', 1, 'sc:e')).toBe('sc:e');
        await expect(app.fcall('scsl', 1, 'sc:k')).rejects.toThrow(/^ERR Can not execute the command on a stale replica script: scsl, on @user_function:17\.$/);
        expect(await app.fcall('scsv', 1, 'sc:e')).toBe('sc:e');
        await expect(app.fcall('scsm', 1, 'sc:k')).rejects.toThrow(/^ERR Can not execute the command on a stale replica script: scsm, on @user_function:27\.$/);
        expect(await app.fcall('scsf', 1, 'sc:e')).toBe('sc:e');
        expect(await app.fcall('scsi', 1, 'sc:e')).toBe('sc:e');
        app.disconnect();
      });
    }, async (c) => {
      await prepare(c);
      await c.script('LOAD', loaded);
      await c.call('FUNCTION', 'LOAD', 'REPLACE', staleLibrary);
    });
  });

  // Queued whatever they do (no shebang), they fail as EXEC runs them: QUEUED, and the error in EXEC's reply.
  const block = [
    ['MULTI'],
    ['EVAL', "return redis.call('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "return redis.call('GET', 'sc:k')", '0'],
    ['EVAL', "local x = 1\nreturn redis.pcall('SET', 'sc:k', 'v')", '0'],
    ['EVAL', "#!lua flags=no-writes\nreturn redis.call('GET', 'sc:k')", '0'],
    ['ECHO', 'x'],
    ['EXEC'],
    ['GET', 'sc:k'],
  ];

  it.each([['READONLY'], ['MISCONF'], ['MASTERDOWN'], ['OOM']])('100:error %s: a script queued in MULTI answered as by the server in that state', async (kind) => {
    // A replica whose master is down refuses a shebang's script without allow-stale as it queues it, and so the block.
    const requests = kind === 'MASTERDOWN' ? block.filter((r) => !r[1]?.startsWith('#!')) : block;
    const replies = async (port: number) => (await rawReplies(port, requests.map((r) => cmd(...r)))).map((r, i) => `${requests[i].join(' ')}: ${String(r)}`);
    await inState(kind, async (real) => {
      const want = await replies(real.port);
      if (kind !== 'OOM') expect(want.slice(1, -2)).toEqual(requests.slice(1, -2).map((r) => `${r.join(' ')}: +QUEUED\r\n`));
      if (kind !== 'OOM') expect(want.at(-2)).toMatch(new RegExp(`^EXEC: \\*${requests.length - 3}\r\n-${kind} `));
      await withProxy({ error: { percent: 100, kind } }, async (p) => {
        expect(await replies(p.port)).toEqual(want);
        // ioredis: the block runs, the script's error in its place.
        if (kind === 'OOM') return;
        const c = client(p.port);
        await c.connect();
        const ran = await c.multi().eval("return redis.call('SET', 'sc:k', 'v')", 0).echo('y').exec();
        expect(ran?.[0][0]).toBeInstanceOf(Error);
        expect(String(ran?.[0][0])).toMatch(new RegExp(`${kind} .*`));
        expect(ran?.[1]).toEqual([null, 'y']);
        c.disconnect();
      });
    }, prepare);
  });

  // Scripts the proxy sees go to the server (an EVAL, a SCRIPT LOAD), and one it does not (loaded on the server directly).
  const scripts = {
    w: "return redis.call('SET', KEYS[1], 'v')",
    r: "return redis.call('GET', KEYS[1])",
    nw: "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
    sw: "#!lua\nreturn redis.call('SET', KEYS[1], 'v')",
    ao: "#!lua flags=allow-oom\nreturn redis.call('SET', KEYS[1], 'v')",
    // Served by a replica whose master is down: its calls of commands such a replica does not serve (GET) would fail inside.
    st: "#!lua flags=no-writes,allow-stale\nreturn redis.call('ECHO', KEYS[1])",
    w2: "local x = redis.call('GET', KEYS[1])\nredis.call('SET', KEYS[1], 'v') return 1",
    u: "redis.call('SET', KEYS[1], 'v') return 'u'",
  };
  const sha = (script: string) => createHash('sha1').update(script).digest('hex');
  const loadScripts = async (c: Redis) => { for (const script of Object.values(scripts)) await c.script('LOAD', script); };
  const shaCalls = [
    ...Object.values(scripts).map((script) => ['EVALSHA', sha(script), '1', 'sc:k']),
    ['EVALSHA', sha(scripts.w).toUpperCase(), '1', 'sc:k'],
    ['EVALSHA_RO', sha(scripts.nw), '1', 'sc:k'],
    ['EVALSHA_RO', sha(scripts.r), '1', 'sc:k'],
    ['EVALSHA_RO', sha(scripts.sw), '1', 'sc:k'],
    ['EVALSHA_RO', sha(scripts.w), '1', 'sc:k'],
    ['EVAL_RO', scripts.sw, '1', 'sc:k'],
    ['MULTI'], ['EVALSHA', sha(scripts.w), '1', 'sc:k'], ['EVALSHA', sha(scripts.r), '1', 'sc:k'], ['ECHO', 'x'], ['EXEC'],
  ];
  const unseenCall = (i: number) => shaCalls[i][1] === sha(scripts.u);
  const shaReplies = async (port: number) => rawReplies(port, shaCalls.map((r) => cmd(...r)));
  const shownSha = (replies: Buffer[]) => replies.map((r, i) => `${shaCalls[i].join(' ')}: ${String(r)}`);

  it.each([['READONLY'], ['OOM'], ['MISCONF'], ['MASTERDOWN']])('100:error %s: EVALSHA of a script seen answered as its EVAL, as by the server in that state', async (kind) => {
    const c = client(server.port);
    await c.connect();
    await loadScripts(c);
    const served = await shaReplies(server.port);
    c.disconnect();
    await inState(kind, async (real) => {
      const direct = await shaReplies(real.port);
      if (kind !== 'MASTERDOWN') expect(String(direct[0])).toMatch(new RegExp(`^-${kind} .* script: ${sha(scripts.w)}, on @user_script:1\\.\\r\\n$`));
      // A script not seen passes at READONLY, OOM and MISCONF (it may only read), served by the server behind.
      const want = shownSha(direct.map((r, i) => (unseenCall(i) && kind !== 'MASTERDOWN' ? served[i] : r)));
      await withProxy('', async (p) => {
        // The scripts go through the proxy as an application's first calls send them: SCRIPT LOAD, EVAL.
        const loader = client(p.port);
        await loader.connect();
        for (const [name, script] of Object.entries(scripts)) {
          if (name === 'u') continue;
          if (name === 'w' || name === 'w2') await loader.eval(script, 1, 'sc:k');
          else await loader.script('LOAD', script);
        }
        // ioredis' defineCommand: EVALSHA first, EVAL after a NOSCRIPT; served before the errors.
        loader.defineCommand('scwrite', { numberOfKeys: 1, lua: "return redis.call('SET', KEYS[1], 'd')" });
        loader.defineCommand('scread', { numberOfKeys: 1, lua: "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])" });
        const app = loader as Redis & { scwrite(k: string): Promise<unknown>; scread(k: string): Promise<unknown> };
        await app.scwrite('sc:d');
        expect(await app.scread('sc:d')).toBe('d');
        await p.setMix({ error: { percent: 100, kind } });
        expect(shownSha(await shaReplies(p.port))).toEqual(want);
        await expect(app.scwrite('sc:d')).rejects.toThrow(kind === 'MISCONF' ? /^MISCONF / : kind === 'OOM' ? /^OOM / : kind === 'MASTERDOWN' ? /^MASTERDOWN / : /^READONLY /);
        if (kind === 'MASTERDOWN') await expect(app.scread('sc:d')).rejects.toThrow(/^MASTERDOWN /);
        else expect(await app.scread('sc:d')).toBe('d');
        loader.disconnect();
      });
    }, async (c) => {
      await prepare(c);
      await loadScripts(c);
    });
  });
});
