/**
 * Where the queue lives: `--state-dir`, else `$XDG_STATE_HOME/marteau-tui`, else
 * `~/.local/state/marteau-tui`. One journal file plus one directory per job (its config snapshot,
 * console output, fixture timeline and results).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { syncDir } from '../fs/durable.js';
import { mkdirp } from '../fs/mkdirp.js';
import { shellWord } from '../text/shell-word.js';

export function resolveStateDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag);
  const xdg = env.XDG_STATE_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'marteau-tui');
  return path.join(os.homedir(), '.local', 'state', 'marteau-tui');
}

/**
 * What a `marteau-tui` command printed for the user needs to reach the journal in `root`:
 * ` --state-dir DIR` (shell-quoted when the path needs it) unless it is the default one, where
 * the command as printed would read another queue.
 */
export function stateDirFlag(root: string): string {
  return path.resolve(root) === resolveStateDir() ? '' : ` --state-dir ${shellWord(path.resolve(root))}`;
}

export class StateDir {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get journalFile(): string {
    return path.join(this.root, 'journal.jsonl');
  }

  get jobsDir(): string {
    return path.join(this.root, 'jobs');
  }

  /** A job's directory; ids are generated hex, so they never escape `jobs/`. */
  jobDir(id: string): string {
    if (!/^[0-9a-f]{6,64}$/.test(id)) throw new Error(`bad job id ${JSON.stringify(id)}`);
    return path.join(this.jobsDir, id);
  }

  /**
   * The directory of the job whose id starts with `prefix` (like git, and like the ids `--ci`
   * prints); undefined when none does. Throws when several do.
   */
  async findJobDir(prefix: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{4,64}$/.test(prefix)) return undefined;
    const ids = (await readdir(this.jobsDir).catch(() => [] as string[])).filter((n) => n.startsWith(prefix));
    if (ids.length > 1) throw new AmbiguousJobId(prefix, ids);
    return ids.length ? this.jobDir(ids[0]) : undefined;
  }

  /**
   * Remove job directories that no journal record knows and that hold only what enqueue writes
   * before the record (`enqueueFiles`): left by a kill between the two. Only ones older than
   * `minAgeMs`, so an enqueue still in progress in another process keeps its directory; any
   * other file (a run's output) keeps a directory too. Returns the removed paths.
   */
  async removeOrphans(known: ReadonlySet<string>, enqueueFiles: ReadonlySet<string>, minAgeMs: number): Promise<string[]> {
    const removed: string[] = [];
    for (const dir of await this.unknownJobDirs(known)) {
      const st = await stat(dir).catch(() => undefined);
      if (!st?.isDirectory() || Date.now() - st.mtimeMs < minAgeMs) continue;
      const entries = await readdir(dir).catch(() => undefined);
      if (!entries || entries.some((e) => !enqueueFiles.has(e))) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
    return removed;
  }

  /** When a file of the job's directory was last written (its output, its samples); undefined: none. */
  async lastWrite(id: string): Promise<number | undefined> {
    const dir = this.jobDir(id);
    const names = await readdir(dir).catch(() => [] as string[]);
    const times = await Promise.all(names.map((n) => stat(path.join(dir, n)).then((s) => s.mtimeMs, () => 0)));
    return times.length ? Math.max(...times) : undefined;
  }

  /** Job directories whose id is not in `known` (no journal record names them). */
  async unknownJobDirs(known: ReadonlySet<string>): Promise<string[]> {
    const ids = await readdir(this.jobsDir).catch(() => [] as string[]);
    return ids.filter((id) => !known.has(id) && /^[0-9a-f]{6,64}$/.test(id)).map((id) => this.jobDir(id));
  }

  async ensure(): Promise<void> {
    // Job configs may hold tokens in env values: private to the user.
    await mkdirp(this.jobsDir, 0o700);
    // The entries of `jobs/` and of the journal, made on the first start: once per process.
    await syncDir(this.root);
  }
}

/** The job directory's copy of the config as enqueued (what retry, replay and `report <id>` read). */
export const JOB_CONFIG_SNAPSHOT = 'marteau.yml';

export class AmbiguousJobId extends Error {
  constructor(prefix: string, ids: string[]) {
    super(`job id ${prefix} is ambiguous: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}; give more characters`);
    this.name = 'AmbiguousJobId';
  }
}
