/**
 * A job's files (the config as enqueued, the `chaos:` file, the seed): kept in its directory,
 * and in a shared queue for the other machines; read from the directory, else from the queue.
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { MarteauConfig } from '../config/marteau.js';
import type { Job } from './jobs.js';
import { QueueError, short, type JobQueue } from './queue.js';
import type { JobFileTexts } from './queue-types.js';
import { syncDir, writeFileSynced } from '../fs/durable.js';
import { mkdirp } from '../fs/mkdirp.js';
import { type StateDir, JOB_CONFIG_SNAPSHOT as CONFIG_SNAPSHOT } from './state-dir.js';

export { CONFIG_SNAPSHOT };
/** A job directory's seed file: written when the job starts, copied by replay. */
export const SEED_FILE = 'seed';
/** The job directory's copy of the file `chaos:` names, taken at enqueue. */
export const CHAOS_SNAPSHOT = 'chaos.yml';
/** What retry and replay copy from the old job (a chaos file only when the config names one). */
export const SNAPSHOT_FILES = [CONFIG_SNAPSHOT, CHAOS_SNAPSHOT] as const;
/** The files a shared queue keeps for a job (no other name is written from it into a job directory). */
const SHARED_FILES: ReadonlySet<string> = new Set([...SNAPSHOT_FILES, SEED_FILE]);
/** What enqueue writes in a job directory before the journal record: the snapshots and a clone. */
export const ENQUEUE_FILES: ReadonlySet<string> = new Set([...SNAPSHOT_FILES, 'src']);
/** Longer than an enqueue can take (a git clone is given 5 minutes). */
export const ORPHAN_AGE_MS = 15 * 60_000;

export class JobFiles {
  /** Jobs whose shared files were all fetched: a file missing here is missing there too. */
  private readonly fetched = new Set<string>();

  constructor(
    private readonly state: StateDir,
    private readonly queue: JobQueue,
  ) {}

  /** Keep a job's file in its directory, and in a shared queue for other machines. */
  async keep(id: string, name: string, text: string): Promise<void> {
    await this.keepHere(id, { [name]: text });
    await this.queue.storeJobFile?.(id, name, text);
  }

  /**
   * Keep a job's files in its directory only (a new job's: the queue stores them with its record).
   * On disk when this returns, their names and the job's directory too: the journal record that
   * follows must not survive a power cut that the snapshot it points at does not.
   */
  async keepHere(id: string, files: JobFileTexts): Promise<void> {
    const dir = this.state.jobDir(id);
    await mkdirp(dir, 0o700);
    for (const [name, text] of Object.entries(files)) await writeFileSynced(path.join(dir, name), text);
    await syncDir(dir);
    await syncDir(this.state.jobsDir);
  }

  /** A job's file from its directory, else (enqueued or run on another machine) from the shared queue. */
  async read(id: string, name: string): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.state.jobDir(id), name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (this.fetched.has(id)) return undefined;
      const shared = await this.queue.loadJobFile?.(id, name);
      if (shared !== undefined) await this.keepHere(id, { [name]: shared });
      return shared;
    }
  }

  /**
   * A job about to run here: its shared files in one round trip, kept in its directory, so that
   * reading each (and finding none, as for a first run's seed) asks the queue nothing more.
   */
  async fetch(id: string): Promise<void> {
    const shared = await this.queue.loadJobFiles?.(id);
    if (!shared) return;
    await this.keepHere(id, Object.fromEntries(Object.entries(shared).filter(([name]) => SHARED_FILES.has(name))));
    this.fetched.add(id);
  }

  /** The job ended: its files are read from its directory from now on. */
  forget(id: string): void {
    this.fetched.delete(id);
  }

  async configText(id: string): Promise<string> {
    const text = await this.read(id, CONFIG_SNAPSHOT);
    if (text === undefined) throw new QueueError(`job ${short(id)}: its config snapshot is gone from ${this.state.jobDir(id)}${this.queue.label ? ` and ${this.queue.label}` : ''}`);
    return text;
  }

  /** A replay's recorded seed, else the config's, else a new one; kept in the job directory at once. */
  async seed(job: Readonly<Job>, config: MarteauConfig): Promise<string> {
    const recorded = ((await this.read(job.id, SEED_FILE)) ?? '').trim();
    const seed = recorded || String(config.seed ?? randomInt(2 ** 31));
    if (!recorded) await this.keep(job.id, SEED_FILE, `${seed}\n`);
    return seed;
  }
}
