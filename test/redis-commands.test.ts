/**
 * The redis command flags the proxy decides its injected errors by (redis-commands.ts) against
 * the redis-server at hand's COMMAND INFO, and which requests each kind meets (redis-refusals.ts).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_ARITY, COMMAND_FLAGS, COMMAND_KEY_RANGE } from '../src/proxy/protocols/redis-commands.js';
import { MultiBlocks } from '../src/proxy/protocols/redis-multi.js';
import { refuses, refusesExec, saidAs } from '../src/proxy/protocols/redis-refusals.js';
import { BlockKeys, keysAtMost, Spread } from '../src/proxy/protocols/redis-keys.js';
import { keySlot } from '../src/proxy/protocols/redis-slots.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';

/** COMMAND INFO's entry: name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands. */
type Info = [string, number, string[], number, number, number, string[], string[], unknown[], Info[]];

/** redis-commands.ts' letters for one command, as its header says. */
function letters([, , flags, first, last, , , , specs]: Info): string {
  const has = (f: string) => flags.includes(f);
  const keys = specs.length > 0 || has('movablekeys');
  const several = has('movablekeys') || specs.length > 1 || last < 0 || last > first;
  return [has('write') && 'w', has('denyoom') && 'o', has('loading') && 'l', has('stale') && 's', has('allow_busy') && 'b', has('no_auth') && 'a', keys && 'k', several && 'm']
    .filter(Boolean).join('');
}

const cmd = (...words: string[]) => Buffer.from(`*${words.length}\r\n${words.map((w) => `$${w.length}\r\n${w}\r\n`).join('')}`);

describe.skipIf(!haveServer('redis-server'))('redis command flags against redis-server', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startRedis(); });
  afterAll(async () => { await server?.stop(); });

  it('the table says what COMMAND INFO says, for every command and subcommand it lists', async () => {
    const r = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    await r.connect();
    try {
      const infos = (await r.call('COMMAND')) as Info[];
      const live: Record<string, string> = {};
      const arity: Record<string, number> = {};
      const ranges: Record<string, [number, number, number]> = {};
      for (const c of infos) {
        for (const one of [c, ...(c[9] ?? [])]) {
          live[one[0].toUpperCase()] = letters(one);
          arity[one[0].toUpperCase()] = one[1];
          // Where the keys of one that may name several are, when its key specs say it (all index and range, no movablekeys);
          // and of a command (not a subcommand: a container's keys are not read) whose one key is not its first argument.
          const fixed = letters(one).includes('k') && !one[2].includes('movablekeys');
          const elsewhere = !one[0].includes('|') && (one[3] !== 1 || one[4] !== 1 || one[5] !== 1);
          if (fixed && (letters(one).includes('m') || elsewhere)) ranges[one[0].toUpperCase()] = [one[3], one[4], one[5]];
        }
      }
      expect(Object.keys(live).length).toBeGreaterThan(300);
      expect(COMMAND_FLAGS).toEqual(live);
      expect(COMMAND_ARITY).toEqual(arity);
      expect(COMMAND_KEY_RANGE).toEqual(ranges);
    } finally {
      r.disconnect();
    }
  });
});

describe('which requests a kind meets', () => {
  // processCommand checks the arity before any state: 'wrong number of arguments' in all of them.
  it('a request of the wrong number of arguments for its command passes at every kind but ERR, multi-bulk or inline', () => {
    for (const kind of ['LOADING', 'READONLY', 'OOM', 'BUSY', 'MASTERDOWN', 'MISCONF', 'NOAUTH', 'CLUSTERDOWN']) {
      expect(refuses(kind, 'SET', cmd('SET', 'k')), kind).toBe(false);
      expect(refuses(kind, 'SET', Buffer.from('set k\r\n')), kind).toBe(false);
      expect(refuses(kind, 'SET', Buffer.from('set "a b"\r\n')), kind).toBe(false);
      expect(refuses(kind, 'GET', cmd('GET', 'a', 'b')), kind).toBe(false);
      expect(refuses(kind, 'CONFIG', cmd('CONFIG', 'GET')), kind).toBe(false);
      expect(refuses(kind, 'HSET', cmd('HSET', 'h', 'f')), kind).toBe(false);
    }
    expect(refuses('OOM', 'SET', cmd('SET', 'k'), true)).toBe(false);
    expect(refuses('READONLY', 'SET', Buffer.from('set k v ex 10\r\n'))).toBe(true);
    expect(refuses('READONLY', 'HSET', cmd('HSET', 'h', 'f', 'v', 'g', 'w'))).toBe(true);
    expect(refuses('NOSCRIPT', 'EVALSHA', cmd('EVALSHA', 'abc'))).toBe(false);
    expect(refuses('NOSCRIPT', 'EVALSHA', cmd('EVALSHA', 'abc', '0'))).toBe(true);
    expect(refuses('ERR', 'SET', cmd('SET', 'k'))).toBe(true);
  });

  it('by the command flags; subcommands by their own, multi-bulk or inline', () => {
    expect(refuses('LOADING', 'HELLO', cmd('HELLO', '3'))).toBe(false);
    expect(refuses('LOADING', 'GET', cmd('GET', 'k'))).toBe(true);
    expect(refuses('READONLY', 'GET', cmd('GET', 'k'))).toBe(false);
    expect(refuses('READONLY', 'SET', cmd('SET', 'k', 'v'))).toBe(true);
    expect(refuses('OOM', 'DEL', cmd('DEL', 'k'))).toBe(false);
    expect(refuses('OOM', 'SET', cmd('SET', 'k', 'v'))).toBe(true);
    // Queued in a MULTI block, any command but QUIT.
    expect(refuses('OOM', 'GET', cmd('GET', 'k'), true)).toBe(true);
    expect(refuses('OOM', 'QUIT', cmd('QUIT'), true)).toBe(false);
    expect(refuses('READONLY', 'GET', cmd('GET', 'k'), true)).toBe(false);
    expect(refuses('MISCONF', 'PING', cmd('PING'))).toBe(true);
    expect(refuses('MISCONF', 'GET', cmd('GET', 'k'))).toBe(false);
    expect(refuses('NOSCRIPT', 'EVAL', cmd('EVAL', 'return 1', '0'))).toBe(false);
    expect(refuses('NOSCRIPT', 'EVALSHA', cmd('EVALSHA', 'abc', '0'))).toBe(true);
    expect(refuses('TRYAGAIN', 'GET', cmd('GET', 'k'))).toBe(false);
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', '{t}a', '{t}b'))).toBe(true);
    expect(refuses('CLUSTERDOWN', 'PING', cmd('PING'))).toBe(false);
    expect(refuses('ERR', 'RESET', cmd('RESET'))).toBe(true);
    // BUSY stands for an EVAL script: FUNCTION STATS (allow_busy) answers BUSY itself while one runs.
    expect(refuses('BUSY', 'FUNCTION', cmd('FUNCTION', 'STATS'))).toBe(true);
    expect(refuses('BUSY', 'MULTI', cmd('MULTI'))).toBe(false);
    // A replica whose master is down: read-only by default, so writes are said READONLY; a script without a shebang checks the link as it starts.
    expect(refuses('MASTERDOWN', 'EVAL', cmd('EVAL', 'return 1', '0'))).toBe(true);
    expect(refuses('MASTERDOWN', 'ECHO', cmd('ECHO', 'x'))).toBe(false);
    expect(saidAs('MASTERDOWN', 'SET', cmd('SET', 'k', 'v'))).toBe('READONLY');
    expect(saidAs('MASTERDOWN', 'FUNCTION', cmd('FUNCTION', 'FLUSH'))).toBe('READONLY');
    expect(saidAs('MASTERDOWN', 'GET', cmd('GET', 'k'))).toBe('MASTERDOWN');
    expect(saidAs('MASTERDOWN', 'EXEC', cmd('EXEC'), ['GET', 'SET'])).toBe('READONLY');
    expect(saidAs('MASTERDOWN', 'EXEC', cmd('EXEC'), ['GET'])).toBe('MASTERDOWN');
    expect(saidAs('LOADING', 'SET', cmd('SET', 'k', 'v'))).toBe('LOADING');
    // HELLO answers NOAUTH itself unless it authenticates.
    expect(refuses('NOAUTH', 'HELLO', cmd('HELLO', '3'))).toBe(true);
    expect(refuses('NOAUTH', 'HELLO', Buffer.from('hello 3 setname x auth u p\r\n'))).toBe(false);
    expect(refuses('NOAUTH', 'HELLO', cmd('HELLO', '3', 'auth', 'u', 'p'))).toBe(false);
    // EXEC: by its block's commands, or its own flags; refused when there is no block kept.
    expect(refuses('READONLY', 'EXEC', cmd('EXEC'))).toBe(true);
    expect(refusesExec('READONLY', ['GET', 'EXISTS'])).toBe(false);
    expect(refusesExec('READONLY', ['GET', 'SET'])).toBe(true);
    expect(refusesExec('LOADING', [])).toBe(false);
    expect(refusesExec('MISCONF', ['PING'])).toBe(false);
    expect(refusesExec('BUSY', [])).toBe(true);
    expect(refusesExec('LOADING', ['CLIENT'])).toBe(true);
    expect(refusesExec('LOADING', ['ECHO', ''])).toBe(true);
    expect(refusesExec('NOSCRIPT', ['EVALSHA'])).toBe(false);
    // CLUSTER HELP is served while loading, CLUSTER INFO (no flag loading) not; CONFIG has no flags of its own.
    expect(refuses('LOADING', 'CLUSTER', cmd('CLUSTER', 'help'))).toBe(false);
    expect(refuses('LOADING', 'CLUSTER', cmd('CLUSTER', 'INFO'))).toBe(true);
    expect(refuses('LOADING', 'CLUSTER', Buffer.from('cluster  "help"\r\n'))).toBe(false);
    expect(refuses('LOADING', 'CLUSTER', Buffer.from('cluster info\r\n'))).toBe(true);
    expect(refuses('LOADING', 'CONFIG', cmd('CONFIG', 'GET', 'maxmemory'))).toBe(false);
    // CONFIG alone: its arity error, in any state.
    expect(refuses('LOADING', 'CONFIG', Buffer.from('config\r\n'))).toBe(false);
    // Unknown to redis 7.0 (a module's command, a later version's subcommand): it says so in any state, first.
    expect(refuses('READONLY', 'JSON.SET', cmd('JSON.SET', 'k', '$', '1'))).toBe(false);
    expect(refuses('LOADING', 'CLIENT', cmd('CLIENT', 'SETINFO', 'LIB-NAME', 'x'))).toBe(false);
    expect(refuses('OOM', 'FOO', cmd('FOO'), true)).toBe(false);
    expect(refusesExec('LOADING', ['ECHO', 'FOO'])).toBe(false);
  });
});

describe('the keys a cluster node reads, for CLUSTERDOWN and TRYAGAIN', () => {
  it('a key\'s slot, by its hash tag, as redis-server 7.0 --cluster-enabled yes says it (CLUSTER KEYSLOT)', () => {
    const slots: Record<string, number> = {
      foo: 12182, bar: 5061, '{t}x': 15891, '{u}x': 11826, k: 7629, '{k}j': 7629, j: 3564, 123456789: 12739, '{}': 15257, 'foo{}{bar}': 8363, 'foo{{bar}}zap': 4015,
    };
    for (const [key, slot] of Object.entries(slots)) {
      const b = Buffer.from(`*${key}*`);
      expect(keySlot(b, 1, b.length - 1), key).toBe(slot);
    }
  });

  it('a request\'s by its command and arguments, a script\'s by its numkeys, a block\'s EXEC by its commands\'', () => {
    expect(keysAtMost('PING', 1, undefined)).toBe(0);
    expect(keysAtMost('GET', 2, undefined)).toBe(1);
    expect(keysAtMost('SET', 3, undefined)).toBe(1);
    expect(keysAtMost('MGET', 2, undefined)).toBe(1);
    expect(keysAtMost('MGET', 3, undefined)).toBe(2);
    expect(keysAtMost('EVAL', 3, '0')).toBe(0);
    expect(keysAtMost('FCALL', 5, '2')).toBe(2);
    expect(keysAtMost('EVALSHA', 3, 'x')).toBe(Infinity);
    expect(refuses('CLUSTERDOWN', 'EVAL', cmd('EVAL', 'return 1', '0'))).toBe(false);
    expect(refuses('CLUSTERDOWN', 'EVAL', cmd('EVAL', 'return 1', '1', 'k'))).toBe(true);
    expect(refuses('TRYAGAIN', 'EVAL', cmd('EVAL', 'return 1', '1', 'k'))).toBe(false);
    expect(refuses('TRYAGAIN', 'FCALL', cmd('FCALL', 'f', '2', '{t}a', '{t}b'))).toBe(true);
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'a'))).toBe(false);
    // Where the key specs place keys: MSET's values, BLPOP's timeout and BITOP's operation are none.
    expect(keysAtMost('MSET', 3, undefined)).toBe(1);
    expect(keysAtMost('MSET', 5, undefined)).toBe(2);
    expect(keysAtMost('BLPOP', 3, undefined)).toBe(1);
    expect(keysAtMost('BITOP', 4, undefined)).toBe(2);
    expect(keysAtMost('RENAME', 3, undefined)).toBe(2);
    expect(keysAtMost('ZUNIONSTORE', 5, undefined)).toBe(4);
    expect(refuses('TRYAGAIN', 'MSET', cmd('MSET', 'k', 'v'))).toBe(false);
    expect(refuses('TRYAGAIN', 'BLPOP', cmd('BLPOP', 'k', '0'))).toBe(false);
    // One key named twice is one key (the node compares each with the first); its values are no keys.
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'k', 'k'))).toBe(false);
    expect(refuses('TRYAGAIN', 'MGET', Buffer.from('mget k "k" k\r\n'))).toBe(false);
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'k', 'k', '{k}j'))).toBe(true);
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'k', '{k}j', 'k'))).toBe(true);
    expect(refuses('TRYAGAIN', 'MSET', cmd('MSET', 'k', 'a', 'k', 'b'))).toBe(false);
    expect(refuses('TRYAGAIN', 'MSET', cmd('MSET', 'k', '{k}j', '{k}j', 'k'))).toBe(true);
    expect(refuses('TRYAGAIN', 'BITOP', cmd('BITOP', 'AND', 'k', 'k', 'k'))).toBe(false);
    expect(refuses('TRYAGAIN', 'BITOP', cmd('BITOP', 'AND', 'k', 'k', '{k}j'))).toBe(true);
    expect(refuses('TRYAGAIN', 'EVAL', cmd('EVAL', 'return 1', '2', 'k', 'k'))).toBe(false);
    expect(refuses('TRYAGAIN', 'EVAL', cmd('EVAL', 'return 1', '2', 'k', '{k}j'))).toBe(true);
    expect(refuses('CLUSTERDOWN', 'MGET', cmd('MGET', 'k', 'k'))).toBe(true);
    // Keys of several slots (k 7629, {k}j 7629, j 3564): CROSSSLOT in any state, said by the node behind.
    expect(refuses('CLUSTERDOWN', 'MGET', cmd('MGET', 'k', '{k}j'))).toBe(true);
    expect(refuses('CLUSTERDOWN', 'MGET', cmd('MGET', 'k', 'j'))).toBe(false);
    expect(refuses('CLUSTERDOWN', 'MGET', cmd('MGET', 'k', 'k', '{k}j', 'j'))).toBe(false);
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'k', 'j'))).toBe(false);
    expect(refuses('CLUSTERDOWN', 'MSET', cmd('MSET', 'k', 'j', 'k', 'j'))).toBe(true);
    expect(refuses('CLUSTERDOWN', 'EVAL', cmd('EVAL', 'return 1', '2', 'k', 'j'))).toBe(false);
    expect(refuses('CLUSTERDOWN', 'ZUNIONSTORE', cmd('ZUNIONSTORE', 'k', '1', 'j'))).toBe(true);
    // Sharded pub/sub: served by a node down or moving the slot.
    expect(refuses('CLUSTERDOWN', 'SPUBLISH', cmd('SPUBLISH', 'k', 'm'))).toBe(false);
    expect(refuses('CLUSTERDOWN', 'SSUBSCRIBE', cmd('SSUBSCRIBE', 'k'))).toBe(false);
    expect(refuses('TRYAGAIN', 'SSUBSCRIBE', cmd('SSUBSCRIBE', 'k', '{k}j'))).toBe(false);
    expect(refuses('TRYAGAIN', 'SUNSUBSCRIBE', cmd('SUNSUBSCRIBE', 'k', '{k}j'))).toBe(false);
    // Said 'Hash slot not served': the first key's slot has no node, whatever the others' and for sharded pub/sub too.
    const unserved = (label: string, request: Buffer) => refuses('CLUSTERDOWN', label, request, false, undefined, undefined, 'Hash slot not served');
    expect(unserved('MGET', cmd('MGET', 'k', 'j'))).toBe(true);
    expect(unserved('SPUBLISH', cmd('SPUBLISH', 'k', 'm'))).toBe(true);
    expect(unserved('PING', cmd('PING'))).toBe(false);
    expect(unserved('EVAL', cmd('EVAL', 'return 1', '0'))).toBe(false);
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'k', 'j'), false, undefined, undefined, 'Hash slot not served')).toBe(false);
    expect(refuses('CLUSTERDOWN', 'MGET', cmd('MGET', 'k', 'j'), false, undefined, undefined, 'The cluster is down')).toBe(false);
    // Keys not all in the request's first segment, or found by reading arguments: refused, not known.
    expect(refuses('TRYAGAIN', 'MGET', cmd('MGET', 'k', 'k').subarray(0, 20))).toBe(true);
    expect(refuses('TRYAGAIN', 'ZUNIONSTORE', cmd('ZUNIONSTORE', 'k', '1', 'k'))).toBe(true);
    expect(refuses('TRYAGAIN', 'MGET', Buffer.from(`mget${' k'.repeat(20)}\r\n`))).toBe(true);
    expect(refusesExec('CLUSTERDOWN', ['EVAL', 'ECHO'], Spread.None)).toBe(false);
    expect(refusesExec('CLUSTERDOWN', ['GET'], Spread.One)).toBe(true);
    expect(refusesExec('TRYAGAIN', ['GET'], Spread.One)).toBe(false);
    expect(refusesExec('TRYAGAIN', ['MGET'], Spread.Slot)).toBe(true);
    expect(refusesExec('CLUSTERDOWN', ['GET'], Spread.Slots)).toBe(false);
    expect(refusesExec('TRYAGAIN', ['GET'], Spread.Slots)).toBe(false);
    expect(refusesExec('CLUSTERDOWN', ['GET'], Spread.Slots, 'Hash slot not served')).toBe(true);
    expect(refusesExec('CLUSTERDOWN', ['ECHO'], Spread.None, 'Hash slot not served')).toBe(false);
  });

  // A node reads the keys of a block's commands as one request's as EXEC comes (getNodeByQuery).
  it('a block\'s EXEC by the keys of all its commands, each compared with the block\'s first', () => {
    /** The block's requests, as framed in one chunk (`inline`: as inline lines), and the one an injected error answered. */
    const execKeys = (queued: string[][], errored?: number, inline = false) => {
      const m = new MultiBlocks();
      const wire = (r: string[]) => (inline ? Buffer.from(`${r.join(' ')}\r\n`) : cmd(...r));
      const chunk = Buffer.concat([Buffer.from('garbage'), ...queued.map(wire)]);
      m.framed(0, 'MULTI');
      let at = 'garbage'.length;
      for (const [i, r] of queued.entries()) {
        const numkeys = r[0].startsWith('EVAL') ? r[2] : undefined;
        m.queue(i + 1, r[0], false, m.keys.note(r[0], chunk, at, inline && r.length > 2 ? -1 : r.length, numkeys));
        at += wire(r).length;
      }
      const exec = queued.length + 1;
      m.framed(exec, 'EXEC');
      if (errored !== undefined) m.errored(errored);
      m.insteadOf(exec);
      return m.execKeys(exec);
    };
    // k 7629, {k}j 7629, j 3564.
    expect(execKeys([['ECHO', 'e'], ['EVAL', 'return 1', '0']])).toBe(Spread.None);
    expect(execKeys([['GET', 'k'], ['GET', 'k']])).toBe(Spread.One);
    expect(execKeys([['MGET', 'k', 'k']])).toBe(Spread.One);
    expect(execKeys([['GET', 'k'], ['MGET', 'k', 'k'], ['MSET', 'k', 'v', 'k', 'w'], ['EVAL', 'return 1', '2', 'k', 'k']])).toBe(Spread.One);
    expect(execKeys([['GET', 'k'], ['GET', '{k}j']])).toBe(Spread.Slot);
    expect(execKeys([['GET', 'k'], ['MGET', 'k', '{k}j']])).toBe(Spread.Slot);
    expect(execKeys([['GET', 'k'], ['GET', 'j']])).toBe(Spread.Slots);
    expect(execKeys([['GET', 'k'], ['GET', '{k}j'], ['MGET', 'k', 'j']])).toBe(Spread.Slots);
    expect(execKeys([['MSET', 'k', 'j']])).toBe(Spread.One);
    // PFDEBUG's key is its second argument.
    expect(execKeys([['GET', 'k'], ['PFDEBUG', 'GETREG', 'k']])).toBe(Spread.One);
    // Keys not read (ZUNIONSTORE's, a container's) are taken for several; two slots among those read are CROSSSLOT whatever came first.
    expect(execKeys([['ZUNIONSTORE', 'k', '1', 'k'], ['GET', 'k']])).toBe(Spread.Slot);
    expect(execKeys([['OBJECT', 'ENCODING', 'k']])).toBe(Spread.Slot);
    expect(execKeys([['ZUNIONSTORE', 'k', '1', 'k'], ['GET', 'k'], ['GET', 'j']])).toBe(Spread.Slots);
    // Inline: a request's words past the head are not counted.
    expect(execKeys([['GET', 'k'], ['GET', 'k']], undefined, true)).toBe(Spread.One);
    expect(execKeys([['GET', 'k'], ['SET', 'j', 'v']], undefined, true)).toBe(Spread.Slots);
    expect(execKeys([['GET', 'k'], ['MGET', 'k', 'k']], undefined, true)).toBe(Spread.Slot);
    // Those after the first refused as queued are not in the server's block.
    expect(execKeys([['ECHO', 'e'], ['GET', 'k'], ['MGET', 'k', 'j']], 2)).toBe(Spread.None);
    expect(execKeys([['GET', 'k'], ['GET', '{k}j'], ['GET', 'j']], 3)).toBe(Spread.Slot);
    // A block's first key is its own: the next block's are compared with theirs.
    const blocks = new BlockKeys();
    blocks.opened();
    expect(blocks.note('GET', cmd('GET', 'k'), 0, 2, undefined)).toBe(Spread.One);
    blocks.opened();
    expect(blocks.note('GET', cmd('GET', 'j'), 0, 2, undefined)).toBe(Spread.One);
    expect(blocks.note('GET', cmd('GET', 'k'), 0, 2, undefined)).toBe(Spread.Slots);
  });
});

describe('the commands a MULTI block keeps for its EXEC', () => {
  it('each once, and a bounded number: past it an unknown one, refusing the EXEC', () => {
    const block = (labels: string[]) => {
      const m = new MultiBlocks();
      m.framed(0, 'MULTI');
      for (const [i, l] of labels.entries()) m.queue(i + 1, l, false, Spread.One);
      m.framed(labels.length + 1, 'EXEC');
      m.insteadOf(labels.length + 1);
      return m.execQueued(labels.length + 1)!;
    };
    expect(block(Array.from({ length: 1000 }, (_, i) => (i % 2 ? 'GET' : 'EXISTS')))).toEqual(['EXISTS', 'GET']);
    const many = block(Array.from({ length: 1000 }, (_, i) => `C${i}`));
    expect(many.length).toBe(64);
    expect(many.at(-1)).toBe('');
    expect(refusesExec('READONLY', ['GET', ''])).toBe(true);
  });

  it('those queued before its first command refused as it was queued, by an injected error or by redis itself', () => {
    // MULTI, then the commands at 1, 2, ..., then EXEC; `errored`: the one an injected error answered.
    const kept = (labels: Array<[string, boolean]>, errored?: number) => {
      const m = new MultiBlocks();
      m.framed(0, 'MULTI');
      for (const [i, [l, refused]] of labels.entries()) m.queue(i + 1, l, refused, Spread.One);
      const exec = labels.length + 1;
      m.framed(exec, 'EXEC');
      if (errored !== undefined) m.errored(errored);
      return [m.insteadOf(exec) !== undefined, m.execQueued(exec)];
    };
    expect(kept([['SET', false], ['GET', false], ['SET', false], ['ECHO', false]], 2)).toEqual([true, ['SET']]);
    expect(kept([['SET', false], ['GET', false], ['SET', false], ['ECHO', false]], 1)).toEqual([true, []]);
    expect(kept([['GET', false], ['FOO', true], ['SET', false]])).toEqual([false, ['GET']]);
    expect(kept([['GET', false], ['SET', false]])).toEqual([false, ['GET', 'SET']]);
  });
});
