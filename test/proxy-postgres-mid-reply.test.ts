/**
 * PostgreSQL: what the server sends amid a reply that an injected error replaces, beside what a
 * real PostgreSQL 15 sends: the results of the statements a query runs before its COMMIT, as
 * they run, and a FATAL error, then the close.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { havePostgres, startPostgres } from './helpers/postgres.js';
import type { RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { messageClient, simple } from './helpers/postgres-wire.js';
import { directSide, proxySide, replies, type Side, words } from './helpers/postgres-sides.js';

let db: RunningServer;

const withProxy = proxiesTo(() => db.port, { protocol: 'postgres', seed: 1 });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Client = Awaited<ReturnType<typeof messageClient>>;

/** Once the backend named `name` (its application_name) sleeps in pg_sleep, as `other` sees it. */
async function sleeping(other: Client, name: string): Promise<void> {
  for (const deadline = Date.now() + 5000; ;) {
    other.write(simple(`SELECT 1 FROM pg_stat_activity WHERE application_name = '${name}' AND wait_event = 'PgSleep'`));
    if ((await other.until('Z')).some((m) => m.type === 'D')) return;
    if (Date.now() > deadline) throw new Error('pg_sleep never ran');
    await pause(10);
  }
}

/** Words of messages, runs of DataRows as one 'D*'. */
const squeeze = (ws: string) => ws.replace(/D( D)+/g, 'D*');

describe.skipIf(!havePostgres())('postgres: what the server sends amid a reply an injected error replaces (real PostgreSQL)', () => {
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(async () => {
    await db?.stop();
  });

  // A query's statements before its COMMIT run on the server, and their results reach the client
  // as the server sends them: rows past its 8 kB send buffer while a later statement still runs.
  // Through the proxy too: the results it passes ahead of the injected error are written at the
  // end of the server read they came in (pumpReplies, the reply at the head of the queue), not
  // held until the error goes after the ROLLBACK in the COMMIT's place. Were they held, the
  // client would get nothing while pg_sleep runs.
  it('the results of the statements before a COMMIT reach the client as the server sends them', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, send } = replies(c);
      try {
        await send(simple("SET application_name = 'as_they_run'"));
        await send(simple('CREATE TABLE run_t (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)'));
        await send(simple('BEGIN; INSERT INTO run_t VALUES (1)'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        // Directly, the COMMIT fails on the deferred constraint, after the statements before it.
        c.write(simple(`SELECT generate_series(1, 5000); SELECT pg_sleep(2); INSERT INTO run_t VALUES (${side.sql('1', '2')}); COMMIT`));
        await sleeping(other, 'as_they_run');
        // While pg_sleep runs: rows of the first statement have come.
        let rows = '';
        for (const deadline = Date.now() + 1000; !rows.includes('D') && Date.now() < deadline;) {
          await pause(10);
          rows = c.pending();
        }
        out.push(`while sleeping: ${rows.includes('D') ? 'rows' : 'nothing'}`);
        out.push(squeeze(words(await c.until('Z'))));
        await side.disarm();
        await send(simple('DROP TABLE run_t'));
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual(['C S ZI', 'C ZI', 'C C ZT', 'while sleeping: rows', 'T D* C T D C C E ZI', 'C ZI']);
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p))).toEqual(direct);
      expect(p.stats().behaviors.error).toBe(1);
    });
  });

  // A query whose statements before its COMMIT the proxy cannot read for sure (a dollar quote)
  // has its whole reply replaced by the injected error, the ROLLBACK in the COMMIT's place
  // after them. A backend ended while they run sends its FATAL amid that reply, then closes: a
  // client of the server gets the results so far and the FATAL, then the close. Through the
  // proxy the FATAL went with the reply it was in, and the client saw the close alone; now it
  // gets the FATAL (the results stay in the reply replaced, as when the server does not end).
  it('a FATAL amid a reply the injected error replaces reaches the client, then the close', async () => {
    const scenario = async (side: Side) => {
      const c = await messageClient(side.port);
      const other = await messageClient(db.port);
      const { out, send } = replies(c);
      try {
        await send(simple("SET application_name = 'fatal_amid'"));
        await send(simple('BEGIN'));
        await side.arm({ error: { percent: 100, kind: '40001' } });
        c.write(simple('SELECT 1; DO $$BEGIN PERFORM pg_sleep(5); END$$; COMMIT'));
        await sleeping(other, 'fatal_amid');
        other.write(simple("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fatal_amid'"));
        await c.closed;
        out.push(c.pending());
        await side.disarm();
        return out;
      } finally {
        c.close();
        other.close();
      }
    };
    // pg reports the FATAL's code, where the close alone is 'Connection terminated unexpectedly'.
    const withPg = async (side: Side) => {
      const c = new pg.Client({ host: '127.0.0.1', port: side.port, user: 'postgres', database: 'postgres', application_name: 'fatal_pg' });
      c.on('error', () => {});
      const other = await messageClient(db.port);
      try {
        await c.connect();
        await c.query('BEGIN');
        await side.arm({ error: { percent: 100, kind: '40001' } });
        const failed = c.query('SELECT 1; DO $$BEGIN PERFORM pg_sleep(5); END$$; COMMIT').then(() => 'served', (e: pg.DatabaseError) => e.code ?? e.message);
        await sleeping(other, 'fatal_pg');
        other.write(simple("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fatal_pg'"));
        const told = await failed;
        await side.disarm();
        return told;
      } finally {
        await c.end().catch(() => {});
        other.close();
      }
    };
    const direct = await scenario(directSide(db.port));
    expect(direct).toEqual(['C S ZI', 'C ZT', 'T D C E57P01']);
    expect(await withPg(directSide(db.port))).toBe('57P01');
    await withProxy('', async (p) => {
      expect(await scenario(proxySide(p))).toEqual([...direct.slice(0, 2), 'E57P01']);
      expect(await withPg(proxySide(p))).toBe('57P01');
      // The FATAL's: the COMMIT's place never came.
      expect(p.stats().behaviors.error ?? 0).toBe(0);
    });
  });
});
