/**
 * Writes that survive a power cut, not only a kill: the data forced to the disk, and the
 * directory entry naming it too (a new file's name lives in its directory, which fsync of the
 * file does not write). What must be on disk before a record that points at it is appended.
 */
import { open, readdir } from 'node:fs/promises';
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
