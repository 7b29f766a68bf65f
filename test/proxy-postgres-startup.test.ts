/**
 * PostgreSQL's refusals of a connection starting up through the chaos proxy, each against a real
 * PostgreSQL in that state: too_many_connections (53300) with its every slot taken, and
 * cannot_connect_now (57P03) in a smart shutdown with a connection held open. A server refuses
 * either to a connection starting up, in answer to its StartupMessage (after the 'N' to an
 * SSLRequest), then closes; the connections in are served. The proxy at 100:error of the kind
 * must give pg and postgres.js the error the server gives them, and pass the requests of a
 * connection in untouched.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import postgresJs from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { i32 } from './helpers/postgres-wire.js';
import { proxiesTo } from './helpers/with-proxy.js';

let db: RunningServer;
const withProxy = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });
const SLOTS = 2;

const SSL_REQUEST = Buffer.concat([i32(8), i32(80877103)]);
const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
const STARTUP = Buffer.concat([i32(8 + params.length), i32(196608), params]);

/** A raw client: an SSLRequest first (`ssl`), then the StartupMessage; all the server sent, and whether it ended the connection (when let in, the client ends it). */
function raw(port: number, ssl: boolean): Promise<{ bytes: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let ended = false;
    sock.on('connect', () => sock.write(ssl ? SSL_REQUEST : STARTUP));
    sock.on('data', (d) => {
      got.push(d);
      if (ssl && got.length === 1) sock.write(STARTUP);
      // Let in (an authentication request, not an 'E'): the server waits for the client, so hang up.
      const answer = Buffer.concat(got).subarray(ssl ? 1 : 0);
      if (answer.length > 0 && answer[0] !== 0x45) sock.end();
    });
    sock.on('end', () => { ended = true; });
    sock.on('error', reject);
    sock.on('close', () => resolve({ bytes: Buffer.concat(got), ended }));
  });
}

/** An ErrorResponse's fields by their code letter, and what comes after it. */
function errorFields(b: Buffer): { fields: Record<string, string>; after: number } {
  expect(String.fromCharCode(b[0])).toBe('E');
  const end = 1 + b.readInt32BE(1);
  const fields: Record<string, string> = {};
  for (let pos = 5; b[pos] !== 0; pos = b.indexOf(0, pos) + 1) fields[String.fromCharCode(b[pos])] = b.toString('utf8', pos + 1, b.indexOf(0, pos));
  return { fields, after: b.length - end };
}

/** What a client got: its error's code, severity and message. */
async function refusal(connect: Promise<unknown>): Promise<unknown> {
  const e = await connect.then(() => undefined, (x) => x);
  expect(e, 'connected').toBeDefined();
  const { code, severity, message } = e as { code?: string; severity?: string; message?: string };
  return { code, severity, message };
}

function pgConnect(port: number): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  c.on('error', () => {});
  return c.connect().then(() => c);
}

/** postgres.js takes 53300 at start-up for a passing state: it tries again until connect_timeout, then reports it. */
async function postgresJsQuery(port: number): Promise<unknown> {
  const sql = postgresJs({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1, connect_timeout: 1, onnotice: () => {} });
  try {
    return await sql`select 1 as one`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** What each client meets starting up against `port`. */
async function startingUp(port: number) {
  const plain = await raw(port, false);
  const ssl = await raw(port, true);
  return {
    plain: { ...errorFields(plain.bytes), ended: plain.ended },
    ssl: { answer: ssl.bytes.toString('latin1', 0, 1), ...errorFields(ssl.bytes.subarray(1)), ended: ssl.ended },
    pg: await refusal(pgConnect(port)),
    postgresJs: await refusal(postgresJsQuery(port)),
  };
}

/** The fields both send: severity, SQLSTATE, message (the server adds where in its source, the proxy that it injected). */
const common = (f: Record<string, string>) => ({ S: f.S, V: f.V, C: f.C, M: f.M });

describe.skipIf(!havePostgres())('postgres: 53300 (too many connections) as a real PostgreSQL at max_connections gives it', () => {
  beforeAll(async () => {
    db = await startPostgres({ settings: { max_connections: SLOTS, superuser_reserved_connections: 0, max_wal_senders: 0 } });
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('100:error 53300 refuses a connection as it starts up, as the server does; the requests of a connection in pass untouched', async () => {
    // The real server, every slot taken.
    const holders = await Promise.all(Array.from({ length: SLOTS }, () => pgConnect(db.port)));
    let real: Awaited<ReturnType<typeof startingUp>>;
    try {
      real = await startingUp(db.port);
    } finally {
      await Promise.all(holders.map((h) => h.end()));
    }
    expect(common(real.plain.fields)).toEqual({ S: 'FATAL', V: 'FATAL', C: '53300', M: 'sorry, too many clients already' });
    expect([real.plain.after, real.plain.ended]).toEqual([0, true]);
    expect([real.ssl.answer, common(real.ssl.fields), real.ssl.after, real.ssl.ended]).toEqual(['N', common(real.plain.fields), 0, true]);
    expect(real.pg).toEqual({ code: '53300', severity: 'FATAL', message: 'sorry, too many clients already' });
    expect(real.postgresJs).toEqual(real.pg);

    await withProxy('', async (p) => {
      const inside = await pgConnect(p.port);
      try {
        await p.setMix({ error: { percent: 100, kind: '53300' } });
        const proxied = await startingUp(p.port);
        expect(common(proxied.plain.fields)).toEqual(common(real.plain.fields));
        expect([proxied.plain.after, proxied.plain.ended]).toEqual([0, true]);
        expect([proxied.ssl.answer, common(proxied.ssl.fields), proxied.ssl.after, proxied.ssl.ended]).toEqual(['N', common(real.plain.fields), 0, true]);
        expect(proxied.pg).toEqual(real.pg);
        expect(proxied.postgresJs).toEqual(real.postgresJs);
        // One per connection refused (postgres.js tries again before it gives up), counted under error.
        expect(p.stats().behaviors.error).toBe(p.stats().connections.total - 1);
        const refused = p.stats().behaviors.error;
        // A connection in is served, as by a server at max_connections: a simple query, an
        // extended one, a prepared statement, each counted as nothing acted on.
        const dummy = p.stats().behaviors.dummy ?? 0;
        expect((await inside.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
        expect((await inside.query('SELECT $1::int + 1 AS n', [1])).rows).toEqual([{ n: 2 }]);
        expect((await inside.query({ name: 'p', text: 'SELECT $1::int AS n', values: [3] })).rows).toEqual([{ n: 3 }]);
        expect((await inside.query({ name: 'p', text: 'SELECT $1::int AS n', values: [4] })).rows).toEqual([{ n: 4 }]);
        expect(p.stats().behaviors.error).toBe(refused);
        expect((p.stats().behaviors.dummy ?? 0) - dummy).toBe(4);
      } finally {
        await inside.end();
      }
    });
  });

  it('no other kind meets a connection starting up', async () => {
    await withProxy('', async (p) => {
      for (const kind of ['57P01', '08006', '57014', '40001', '40P01', '53100', '25006']) {
        await p.setMix({ error: { percent: 100, kind } });
        const c = await pgConnect(p.port);
        await c.end().catch(() => undefined);
      }
    });
  });
});

describe.skipIf(!havePostgres())('postgres: 57P03 (cannot connect now) as a real PostgreSQL shutting down gives it', () => {
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('100:error 57P03 refuses a connection as it starts up, as a server in a smart shutdown does; a connection in is served', async () => {
    // The proxy first, while the server takes connections: the refusal can only be the proxy's.
    let proxied: Awaited<ReturnType<typeof startingUp>> | undefined;
    await withProxy('', async (p) => {
      const inside = await pgConnect(p.port);
      try {
        await p.setMix({ error: { percent: 100, kind: '57P03' } });
        proxied = await startingUp(p.port);
        // One per connection refused, counted under error; none tried again (57P03 is not transient to postgres.js).
        expect(p.stats().behaviors.error).toBe(p.stats().connections.total - 1);
        const refused = p.stats().behaviors.error;
        const dummy = p.stats().behaviors.dummy ?? 0;
        expect((await inside.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
        expect((await inside.query('SELECT $1::int + 1 AS n', [1])).rows).toEqual([{ n: 2 }]);
        expect(p.stats().behaviors.error).toBe(refused);
        expect((p.stats().behaviors.dummy ?? 0) - dummy).toBe(2);
      } finally {
        await inside.end();
      }
    });

    // The real server in a smart shutdown (pg_ctl stop -m smart: SIGTERM to the postmaster),
    // which waits for the connection held open and refuses new ones.
    const held = await pgConnect(db.port);
    let real: Awaited<ReturnType<typeof startingUp>>;
    try {
      const postmaster = Number((await readFile(path.join(db.dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      process.kill(postmaster, 'SIGTERM');
      // The postmaster takes the signal in its own time: connections until then are let in.
      await expect.poll(() => pgConnect(db.port).then((c) => c.end().then(() => 'connected'), (e: { code?: string }) => e.code), { timeout: 10_000 }).toBe('57P03');
      real = await startingUp(db.port);
      expect((await held.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
    } finally {
      await held.end();
    }
    expect(common(real.plain.fields)).toEqual({ S: 'FATAL', V: 'FATAL', C: '57P03', M: 'the database system is shutting down' });
    expect([real.plain.after, real.plain.ended]).toEqual([0, true]);
    expect([real.ssl.answer, common(real.ssl.fields), real.ssl.after, real.ssl.ended]).toEqual(['N', common(real.plain.fields), 0, true]);
    expect(real.pg).toEqual({ code: '57P03', severity: 'FATAL', message: 'the database system is shutting down' });
    expect(real.postgresJs).toEqual(real.pg);

    expect(common(proxied!.plain.fields)).toEqual(common(real.plain.fields));
    expect([proxied!.plain.after, proxied!.plain.ended]).toEqual([0, true]);
    expect([proxied!.ssl.answer, common(proxied!.ssl.fields), proxied!.ssl.after, proxied!.ssl.ended]).toEqual(['N', common(real.plain.fields), 0, true]);
    expect(proxied!.pg).toEqual(real.pg);
    expect(proxied!.postgresJs).toEqual(real.postgresJs);
  });
});
