/**
 * Writes that survive a power cut, not only a kill: the data forced to the disk, and the
 * directory entry naming it too (a new file's name lives in its directory, which fsync of the
 * file does not write). What must be on disk before a record that points at it is appended.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { withPath } from './errors.js';

/** Write `text` to `file` (created or replaced, `mode`) and wait until its data is on disk. */
export async function writeFileSynced(file: string, text: string, mode = 0o600): Promise<void> {
  try {
    const fh = await open(file, 'w', mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.datasync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw withPath(e, file);
  }
}

/** A file to replace whole: its new text, and its mode if it is created (umask applies). */
export interface Replacement {
  file: string;
  text: string;
  mode?: number;
}

/**
 * Replace each file with its text so that a crash at any point leaves the old file or the new one,
 * whole: each written and synced under a name of its own in the same directory, then all renamed
 * over their names, then each directory synced once for them all (a job's end replaces several
 * files in one directory: one sync of it per file was as many waits on the disk). A file written
 * in place is cut short by a crash mid-write (and, kept in the page cache, by a power cut after
 * it): its old text is gone and the new one is not there. A file that fails leaves the others
 * replaced, as separate writes did; the first failure is thrown, with its file.
 */
export async function replaceFilesSynced(files: readonly Replacement[]): Promise<void> {
  const written = await Promise.allSettled(
    files.map(async ({ file, text, mode = 0o600 }) => {
      // Unique per writer: two processes replacing the same file never write into one aside.
      const aside = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await writeFileSynced(aside, text, mode);
      } catch (e) {
        await rm(aside, { force: true }).catch(() => {});
        throw withPath(e, file);
      }
      return { file, aside };
    }),
  );
  // Every file's data is on disk before any name points at it.
  const renamed = await Promise.allSettled(
    written.map(async (w) => {
      if (w.status === 'rejected') throw w.reason;
      const { file, aside } = w.value;
      await rename(aside, file).catch(async (e: unknown) => {
        await rm(aside, { force: true }).catch(() => {});
        throw withPath(e, file);
      });
      return path.dirname(file);
    }),
  );
  const dirs = new Set(renamed.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
  for (const dir of dirs) await syncDir(dir);
  const failed = renamed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Force a directory's entries (files made or renamed in it) to disk. Some filesystems cannot
 * sync a directory (EINVAL): there the entry is as durable as they make it.
 */
export async function syncDir(dir: string): Promise<void> {
  try {
    await syncPath(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw withPath(e, dir);
  }
}

/** fsync whatever `p` names, through a descriptor of its own. */
async function syncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Force the files under `dir` (and the directories naming them) to disk, whoever wrote them:
 * fsync works on the file, not on the descriptor that wrote it. Symbolic links are not followed;
 * `skip` names entries of `dir` itself to leave out.
 */
export async function syncTree(dir: string, skip: ReadonlySet<string> = new Set()): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (skip.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await syncTree(p);
    else if (e.isFile()) await syncPath(p);
  }
  await syncDir(dir);
}
