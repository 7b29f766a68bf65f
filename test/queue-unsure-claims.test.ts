/**
 * A claim whose append failed is remembered until a read settles it only where the record may
 * still land (a shared queue's lost reply). On the journal a failed append never lands, and a
 * failing disk refuses a worker's claim every second: remembering each grew without end.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileLog } from '../src/core/file-log.js';
import type { JournalRecord } from '../src/core/jobs.js';
import { LogQueue } from '../src/core/queue.js';
import { removeTemp } from './helpers/projects.js';
import { tempDir } from './helpers/servers.js';

afterAll(removeTemp);

/** The journal on a disk that refuses claim records, as a failing disk does (EIO). */
class RefusingClaims extends FileLog {
  override async append(r: JournalRecord): Promise<void> {
    if (r.t === 'claimed') throw Object.assign(new Error(`EIO: i/o error, write '${this.file}'`), { code: 'EIO' });
    return super.append(r);
  }
}

class Watched extends LogQueue {
  get unsure(): boolean {
    return this.unsettled;
  }
}

describe('claims refused by the journal', () => {
  it('are not kept to be settled: nothing would ever settle them', async () => {
    const dir = await tempDir('unsure-claims');
    const log = new RefusingClaims(path.join(dir, 'journal.jsonl'));
    const q = new Watched(log);
    await q.open();
    try {
      const job = await q.enqueue({ name: 'one', source: { kind: 'dir', dir, configFile: path.join(dir, '.marteau.yml') }, runner: 'command', nodes: 1, nodeTags: [] });
      for (let i = 0; i < 3; i++) await expect(q.claim(job.id, [])).rejects.toThrow(/EIO/);
      expect(q.unsure).toBe(false);
      expect(q.get(job.id)?.status).toBe('queued');
    } finally {
      await q.close();
    }
  });
});
