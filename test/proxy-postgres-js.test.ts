/**
 * The chaos proxy between postgres.js (npm `postgres`) and a real PostgreSQL. postgres.js runs a
 * query whose parameter types it has not described yet as Parse, Describe, Flush, waits for the
 * description, then sends Bind, Execute, Sync: one exchange to the proxy, whose Sync comes a round
 * trip after its first part. A statement it prepared before goes as Bind, Execute, Sync alone
 * (`prepare: true`, its default); with `prepare: false` every query parses the unnamed statement.
 *
 * What the client saw is read from postgres.js's own `postgres:query` tracing channel (every
 * query, sql.begin's BEGIN, COMMIT and ROLLBACK included) and `postgres:pool` (a connection it
 * closes sends Terminate, which the proxy counts as an exchange with no reply).
 */
import dc from 'node:diagnostics_channel';
import pg from 'pg';
import postgresJs from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MixSpec } from '../src/proxy/mix.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';

type Sql = ReturnType<typeof postgresJs>;

/** The proxy's seed for 50:error. */
const SEED = 1;

let db: RunningServer;
let direct: pg.Client;

const proxied = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });
/** Passing through, its draws from `seed`. */
const withProxy = (fn: (p: Proxy) => Promise<void>, seed = 1) => proxied('', fn, { seed });

function client(port: number, prepare: boolean): Sql {
  return postgresJs({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', prepare, max: 1, onnotice: () => {}, connect_timeout: 5 });
}

/** What postgres.js says it did on connections to `port`, from its diagnostics channels. */
function watch(port: number) {
  const seen = { queries: 0, errors: [] as unknown[], closed: 0 };
  const query = {
    start: () => {},
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (message: object) => {
      const x = message as { port: number | null; error?: unknown };
      if (x.port !== port) return;
      seen.queries++;
      if (x.error !== undefined) seen.errors.push(x.error);
    },
    error: () => {},
  };
  const pool = (m: unknown) => { if ((m as { event: string; port: number }).event === 'close' && (m as { port: number }).port === port) seen.closed++; };
  dc.tracingChannel('postgres:query').subscribe(query);
  dc.subscribe('postgres:pool', pool);
  return {
    seen,
    stop: () => {
      dc.tracingChannel('postgres:query').unsubscribe(query);
      dc.unsubscribe('postgres:pool', pool);
    },
  };
}

/** Each query must settle: a hang is the proxy's fault, and fails the test at once. */
function within<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

/** Rows as plain data, for toEqual. */
const rows = (r: unknown) => JSON.parse(JSON.stringify(r)) as unknown;

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

/**
 * An error's SQLSTATE; for a query postgres.js had not sent when its connection closed, that of
 * the error that closed it, said so: the queries behind a FATAL one never reach the server.
 */
function codeOf(e: unknown): string {
  if (e instanceof postgresJs.PostgresError) return e.code;
  const { code, cause } = e as { code?: string; cause?: unknown };
  return code === 'CONNECTION_CLOSED' && cause instanceof postgresJs.PostgresError ? `${cause.code} (connection closed)` : String(e);
}

/** A query's outcome: its value, or its error's code. */
async function outcome(what: string, q: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: rows(await within(what, q)) };
  } catch (e) {
    if ((e as Error).message?.startsWith(`${what}: no answer`)) throw e;
    return { ok: false, code: codeOf(e) };
  }
}

/**
 * Queries without and with parameters (the second use of a statement: Bind, Execute, Sync alone
 * when prepared), a transaction of two inserts with sql.begin, and four queries sent at once
 * (pipelined on the one connection). Round `round`'s transaction inserts ids round*10 + 1 and
 * + 2. Each outcome with what it should have been.
 */
async function scenario(sql: Sql, round: number): Promise<{ what: string; got: Outcome; want: unknown }[]> {
  const out: { what: string; got: Outcome; want: unknown }[] = [];
  const check = async (what: string, q: Promise<unknown>, want: unknown) => out.push({ what, got: await outcome(what, q), want });
  await check('no parameters', sql`select 1 as one`, [{ one: 1 }]);
  await check('parameters', sql`select ${round}::int as n, ${`r${round}`} as s`, [{ n: round, s: `r${round}` }]);
  await check('the same statement again', sql`select ${round + 1}::int as n, ${'again'} as s`, [{ n: round + 1, s: 'again' }]);
  const id = round * 10;
  await check('sql.begin', sql.begin(async (t) => {
    await t`insert into pj values (${id + 1})`;
    await t`insert into pj values (${id + 2})`;
    return 'committed';
  }), 'committed');
  const all = await within('pipelined', Promise.allSettled([
    sql`select ${round}::int as a`, sql`select ${'b'} as b`, sql`select 3 as c`, sql`select ${round}::int + 1 as d`,
  ]));
  const wants = [[{ a: round }], [{ b: 'b' }], [{ c: 3 }], [{ d: round + 1 }]];
  all.forEach((r, i) => {
    const got: Outcome = r.status === 'fulfilled' ? { ok: true, value: rows(r.value) } : { ok: false, code: codeOf(r.reason) };
    out.push({ what: `pipelined ${i}`, got, want: wants[i] });
  });
  return out;
}

/** The transactions' rows: those of a committed sql.begin all there once, of a failed one none. */
async function expectTransactions(results: { what: string; got: Outcome }[][]): Promise<void> {
  const { rows: found } = await direct.query<{ id: number; n: number }>('SELECT id, count(*)::int AS n FROM pj GROUP BY id ORDER BY id');
  const want: { id: number; n: number }[] = [];
  results.forEach((round, i) => {
    if (round.find((r) => r.what === 'sql.begin')!.got.ok) want.push({ id: i * 10 + 1, n: 1 }, { id: i * 10 + 2, n: 1 });
  });
  expect(found).toEqual(want);
}

describe.skipIf(!havePostgres())('postgres.js through the chaos proxy (real PostgreSQL)', () => {
  beforeAll(async () => {
    db = await startPostgres();
    direct = new pg.Client({ host: '127.0.0.1', port: db.port, user: 'postgres', database: 'postgres' });
    await direct.connect();
    await direct.query('CREATE TABLE pj (id int)');
  });
  afterAll(async () => {
    await direct?.end();
    await db?.stop();
  });

  /**
   * `mix` for `rounds` rounds of the scenario on a pool of one connection, then `check` with the
   * outcomes and what the proxy and postgres.js counted meanwhile. Then, the mix cleared, the
   * pool answers: on the same backend, unless postgres.js closed its connection (it does after
   * a ROLLBACK that failed, or a FATAL error).
   */
  async function faulty(
    prepare: boolean, mix: MixSpec, rounds: number, seed: number,
    check: (results: { what: string; got: Outcome; want: unknown }[][], counted: Record<string, number>, seen: ReturnType<typeof watch>['seen']) => void,
  ): Promise<void> {
    await direct.query('TRUNCATE pj');
    await withProxy(async (p) => {
      const sql = client(p.port, prepare);
      const w = watch(p.port);
      try {
        const [{ pid }] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
        const before = p.stats();
        w.seen.queries = 0;
        await p.setMix(mix);
        const results = [];
        for (let round = 0; round < rounds; round++) results.push(await scenario(sql, round));
        await p.setMix('');
        const stats = p.stats();
        const counted: Record<string, number> = { exchanges: stats.exchanges - before.exchanges, connections: stats.connections.total - before.connections.total };
        for (const [name, n] of Object.entries(stats.behaviors)) counted[name] = n - (before.behaviors[name] ?? 0);
        check(results, counted, w.seen);
        await expectTransactions(results);
        const [{ pid: after }] = await within('after the faults', sql<{ pid: number }[]>`select pg_backend_pid() as pid`);
        if (w.seen.closed === 0) expect(after).toBe(pid);
        expect(rows(await within('after the faults', sql`select ${7}::int as n`))).toEqual([{ n: 7 }]);
      } finally {
        w.stop();
        await sql.end({ timeout: 1 });
      }
    }, seed);
  }

  /** Each query got its result or `kind`, and the proxy counted what postgres.js saw. */
  const injectedOnly = (kind: string) => (results: { what: string; got: Outcome; want: unknown }[][], counted: Record<string, number>, seen: ReturnType<typeof watch>['seen']) => {
    for (const r of results.flat()) {
      if (r.got.ok) expect(r.got.value, r.what).toEqual(r.want);
      else expect(r.got.code, r.what).toBe(kind);
    }
    // One error counted per query that failed, one exchange per query (and per Terminate, and per
    // StartupMessage of a connection opened meanwhile, which no kind but 53300 and 57P03 meets).
    expect(counted.error ?? 0).toBe(seen.errors.length);
    expect(counted.exchanges).toBe(seen.queries + seen.closed + counted.connections);
  };

  for (const prepare of [true, false]) {
    const mode = prepare ? 'prepared statements' : 'prepare: false';
    it(`${mode}: passing through, the results are a direct connection's`, async () => {
      await direct.query('TRUNCATE pj');
      const run = async (port: number) => {
        const sql = client(port, prepare);
        try {
          const out = [];
          for (let round = 0; round < 2; round++) out.push(await scenario(sql, round));
          return out;
        } finally {
          await sql.end({ timeout: 1 });
        }
      };
      const directly = await run(db.port);
      await direct.query('TRUNCATE pj');
      await withProxy(async (p) => {
        const w = watch(p.port);
        try {
          const proxied = await run(p.port);
          expect(proxied).toEqual(directly);
          for (const r of proxied.flat()) expect(r.got, r.what).toEqual({ ok: true, value: r.want });
          await expectTransactions(proxied);
          const stats = p.stats();
          expect(stats.fallbacks).toBe(0);
          expect(stats.behaviors.dummy).toBe(stats.exchanges);
          expect(stats.exchanges).toBe(w.seen.queries + w.seen.closed + stats.connections.total);
        } finally {
          w.stop();
        }
      });
    });

    it(`${mode}: 100:error 40001, every query fails with it, the pool goes on`, async () => {
      await faulty(prepare, { error: { percent: 100, kind: '40001' } }, 2, 1, (results, counted, seen) => {
        injectedOnly('40001')(results, counted, seen);
        expect(results.flat().filter((r) => r.got.ok)).toEqual([]);
      });
    });

    it(`${mode}: 50:error 57014 with a seed, each query gets its result or the error, counted once`, async () => {
      await faulty(prepare, { error: { percent: 50, kind: '57014' } }, 24, SEED, (results, counted, seen) => {
        injectedOnly('57014')(results, counted, seen);
        // The seed has each of these pass and fail: a statement's second use (Bind, Execute,
        // Sync alone when prepared), a transaction (committed when its four exchanges pass).
        for (const what of ['the same statement again', 'sql.begin', 'pipelined 3']) {
          expect(new Set(results.map((r) => r.find((x) => x.what === what)!.got.ok)), what).toEqual(new Set([true, false]));
        }
      });
    });
  }

  it('100:delay, upstream then downstream: each query delayed once, its describe round trip included', async () => {
    for (const before of [true, false]) {
      await faulty(true, { delay: { percent: 100, sleep: 0.2, before } }, 1, 1, (results, counted, seen) => {
        for (const r of results.flat()) expect(r.got, r.what).toEqual({ ok: true, value: r.want });
        expect(counted.delay).toBe(seen.queries);
        expect(counted.exchanges).toBe(seen.queries + seen.closed);
      });
    }
  });

  it('100:error 57P01 (FATAL): each query fails with it, those behind it in the pipeline with their connection closed; a new connection serves once it is cleared', async () => {
    await faulty(true, { error: { percent: 100, kind: '57P01' } }, 2, 1, (results, counted, seen) => {
      for (const r of results.flat()) expect(['57P01', '57P01 (connection closed)'], r.what).toContain(r.got.ok ? 'ok' : r.got.code);
      // The error closes its connection: one per connection (the one open as the mix came, and
      // each opened since), the queries behind it unsent.
      expect(counted.error).toBe(counted.connections + 1);
      expect(counted.error).toBe(seen.errors.filter((e) => codeOf(e) === '57P01').length);
    });
  });
});
