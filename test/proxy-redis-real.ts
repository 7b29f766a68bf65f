/**
 * What the redis tests against a real redis-server share: RESP requests and the replies read
 * raw, an ioredis client, and the states a redis-server can be put in here, to compare what the
 * proxy's injected errors say with what a server in that state says.
 */
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './helpers/net.js';
import { startRedis, type RunningRedis } from './helpers/servers.js';

export function cmd(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Whole replies of a stream of simple lines (`+ - :`), bulk strings and arrays of them; an incomplete last one is left out. */
export function splitReplies(all: Buffer): Buffer[] {
  const out: Buffer[] = [];
  // The end of the reply at i, or -1 when it is not all there.
  const end = (i: number): number => {
    const lf = all.indexOf(0x0a, i);
    if (lf < 0) return -1;
    const len = all[i] === 0x24 || all[i] === 0x2a ? Number(all.toString('latin1', i + 1, lf - 1)) : -1;
    if (all[i] === 0x24) return len < 0 ? lf + 1 : lf + 1 + len + 2 <= all.length ? lf + 1 + len + 2 : -1;
    let e = lf + 1;
    for (let k = 0; all[i] === 0x2a && k < len && e >= 0; k++) e = e < all.length ? end(e) : -1;
    return e;
  };
  for (let i = 0, e; i < all.length && (e = end(i)) >= 0; i = e) out.push(all.subarray(i, e));
  return out;
}

/** The errors a server in some state refuses a command with. */
export const STATE_ERRORS = /^-(LOADING|READONLY|OOM|BUSY|MASTERDOWN|MISCONF|NOAUTH|EXECABORT|CLUSTERDOWN|TRYAGAIN) /;

/** A reply as a state refuses it: the error's first word, or 'served' (an ERR, a value). */
export const said = (reply: Buffer): string => STATE_ERRORS.exec(reply.toString('latin1'))?.[1] ?? 'served';

/** Until `fn` says true, for 10 s at most. */
export async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 10_000; !(await fn()); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

/** The whole replies `s` receives, as they come; `settled` once there are `n`, or after `timeoutMs`. */
export function collectReplies(s: net.Socket, n: number, timeoutMs: number): { replies: Buffer[]; settled: Promise<void> } {
  const replies: Buffer[] = [];
  let rest = Buffer.alloc(0);
  const settled = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    s.on('data', (c: Buffer) => {
      const buf = Buffer.concat([rest, c]);
      const got = splitReplies(buf);
      replies.push(...got);
      rest = buf.subarray(got.reduce((a, r) => a + r.length, 0));
      if (replies.length >= n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { replies, settled };
}

export const client = (port: number, opts: Record<string, unknown> = {}) =>
  new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...opts });

// The states a redis-server can be put in here, by the error kind each stands for: `enter` puts
// the server in it through `c`, a client connected before, and returns what ends it, if anything must.
export const STATES: Array<[string, (c: Redis, real: RunningRedis) => Promise<(() => Promise<void>) | void>]> = [
  ['READONLY', async (c) => { await c.call('REPLICAOF', '127.0.0.1', '1'); }],
  // Read-only, as by default: it answers writes READONLY before it looks at the link.
  ['MASTERDOWN', async (c) => {
    await c.call('CONFIG', 'SET', 'replica-serve-stale-data', 'no');
    await c.call('REPLICAOF', '127.0.0.1', '1');
  }],
  ['OOM', async (c) => { await c.call('CONFIG', 'SET', 'maxmemory', '1'); }],
  ['NOAUTH', async (c) => { await c.call('CONFIG', 'SET', 'requirepass', 'pw'); }],
  // A snapshot that fails (its file's name is a directory's, which root cannot write over either).
  ['MISCONF', async (c, real) => {
    await mkdir(path.join(real.dir, 'dump.rdb'));
    await c.call('CONFIG', 'SET', 'save', '3600 1');
    await c.call('BGSAVE');
    await until('the snapshot to fail', async () => /rdb_last_bgsave_status:err/.test(String(await c.call('INFO', 'persistence'))));
    // Else it would not stop: it saves as it shuts down, and stays up when that fails.
    return async () => { await c.call('CONFIG', 'SET', 'save', ''); };
  }],
  // A script past busy-reply-threshold, on a connection of its own; it ends by itself after 30 s at most.
  ['BUSY', async (c, real) => {
    await c.call('CONFIG', 'SET', 'busy-reply-threshold', '10');
    const runner = client(real.port);
    await runner.connect();
    const ran = runner.call('EVAL', "local t = tonumber(redis.call('TIME')[1]) + 30 while tonumber(redis.call('TIME')[1]) < t do end return 1", '0').catch(() => undefined);
    await until('the script to make the server busy', () => c.ping().then(() => false, (e: Error) => e.message.startsWith('BUSY ')));
    return async () => {
      await c.call('SCRIPT', 'KILL').catch(() => undefined);
      await ran;
      runner.disconnect();
    };
  }],
];

/** The whole replies to `requests`, sent at once on a new connection to `port`: `n` of them, or those that came within 5 s. */
export async function rawReplies(port: number, requests: Buffer[], n = requests.length): Promise<Buffer[]> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  const got = collectReplies(s, n, 5000);
  s.write(Buffer.concat(requests));
  await got.settled;
  s.destroy();
  return got.replies;
}

/**
 * Run `fn` with a redis-server of its own put in the state `kind` (STATES), and `c`, a client of
 * it; the server stopped after. `prepare` readies the server before (data a read-only one cannot take).
 */
export async function inState(kind: string, fn: (real: RunningRedis, c: Redis) => Promise<void>, prepare?: (c: Redis) => Promise<void>): Promise<void> {
  const enter = STATES.find(([k]) => k === kind)![1];
  const real = await startRedis();
  let leave: (() => Promise<void>) | void = undefined;
  try {
    const c = client(real.port);
    await c.connect();
    try {
      await prepare?.(c);
      leave = await enter(c, real);
      await fn(real, c);
    } finally {
      await leave?.();
      c.disconnect();
    }
  } finally {
    await real.stop();
  }
}

/** A cluster node of a test's own (ClusterNode): `ctl` a client of it, `importer` the id of the node it can move a slot to ('' when none). */
export interface ClusterNode {
  port: number;
  ctl: Redis;
  importer: string;
  stop(): Promise<void>;
}

const clusterIs = (c: Redis, state: 'ok' | 'fail') =>
  until(`cluster_state:${state}`, async () => String(await c.call('CLUSTER', 'INFO')).includes(`cluster_state:${state}\r\n`));

/** The slot of the keys tagged {t}, {t}x and {t}y, which a node started `moving` holds. */
const T_SLOT = '15891';

/**
 * A redis-server --cluster-enabled yes holding every slot, its cluster up (a new node waits 2 s
 * before it says ok); `moving`: with a second node met, the keys {t}x and {t}y set, for TRYAGAIN.
 */
export async function startClusterNode(moving = false): Promise<ClusterNode> {
  // The cluster bus on a free port of its own: by default the port's + 10000, which may be taken.
  const buses = await Promise.all((moving ? [0, 1] : [0]).map(() => freePort()));
  const nodes = await Promise.all(buses.map((bus) => startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-port', String(bus)] })));
  const ctl = client(nodes[0].port);
  const node: ClusterNode = {
    port: nodes[0].port,
    ctl,
    importer: '',
    stop: async () => {
      ctl.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  try {
    await ctl.connect();
    await ctl.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await clusterIs(ctl, 'ok');
    if (moving) {
      const other = client(nodes[1].port);
      await other.connect();
      node.importer = String(await other.call('CLUSTER', 'MYID'));
      other.disconnect();
      await ctl.call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[1].port), String(buses[1]));
      await until('the nodes to meet', async () => String(await ctl.call('CLUSTER', 'NODES')).includes(`${node.importer} 127.0.0.1:${nodes[1].port}`));
      await ctl.mset('{t}x', 'x', '{t}y', 'y');
    }
  } catch (e) {
    await node.stop();
    throw e;
  }
  return node;
}

/** How a cluster node (startClusterNode) is put in the state CLUSTERDOWN or TRYAGAIN stands for, and taken out of it. */
export const CLUSTER_STATES: Record<string, { enter: (n: ClusterNode) => Promise<void>; leave: (n: ClusterNode) => Promise<void> }> = {
  // A node that lost a slot (cluster-require-full-coverage yes, the default) serves no key: the cluster is down.
  CLUSTERDOWN: {
    enter: async ({ ctl }) => { await ctl.call('CLUSTER', 'DELSLOTS', '0'); await clusterIs(ctl, 'fail'); },
    leave: async ({ ctl }) => { await ctl.call('CLUSTER', 'ADDSLOTS', '0'); await clusterIs(ctl, 'ok'); },
  },
  // The slot of {t}x and {t}y being moved to the other node, {t}y moved already: a request naming both must be retried.
  TRYAGAIN: {
    enter: async ({ ctl, importer }) => { await ctl.call('CLUSTER', 'SETSLOT', T_SLOT, 'MIGRATING', importer); await ctl.del('{t}y'); },
    leave: async ({ ctl }) => { await ctl.call('CLUSTER', 'SETSLOT', T_SLOT, 'STABLE'); await ctl.set('{t}y', 'y'); },
  },
};
