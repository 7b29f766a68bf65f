/** Making directories on the host, safe on every filesystem a user may point a flag at. */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p`, from the deepest directory up: the usual case (the directory or its parent exists)
 * costs one or two calls, where walking down from `/` cost two per component and ran several
 * times per job. Node's recursive mkdir spins forever on some special filesystems (e.g. a path
 * under /proc answers ENOENT for ever); this recursion is bounded by the number of path
 * components and reports the first real error.
 */
export async function mkdirp(dir: string, mode = 0o700): Promise<void> {
  const current = path.resolve(dir);
  const parent = path.dirname(current);
  try {
    return await mkdir(current, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) return existing(current, e);
  }
  await mkdirp(parent, mode);
  try {
    return await mkdir(current, { mode });
  } catch (e) {
    return existing(current, e); // made meanwhile by someone else
  }
}

/** After mkdir failed with `e`: fine if the path is a directory that was there already. */
async function existing(dir: string, e: unknown): Promise<void> {
  if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: dir, syscall: 'mkdir' });
}
