/**
 * Bounded walk of a local directory before a transfer: counts files and bytes and stops early
 * when a limit is passed, so uploading a project never copies a surprise 10 GB folder.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_TRANSFER, TransferError, type TransferOptions } from './executor.js';

export interface TreeEntry {
  /** Path relative to the root, with `/` separators. */
  rel: string;
  kind: 'file' | 'dir';
  size: number;
}

export async function scanTree(root: string, options: TransferOptions = {}): Promise<TreeEntry[]> {
  const exclude = new Set(options.exclude ?? DEFAULT_TRANSFER.exclude);
  const maxFiles = options.maxFiles ?? DEFAULT_TRANSFER.maxFiles;
  const maxBytes = options.maxBytes ?? DEFAULT_TRANSFER.maxBytes;
  const out: TreeEntry[] = [];
  let bytes = 0;
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const names = await readdir(path.join(root, rel));
    for (const name of names.sort()) {
      if (exclude.has(name)) continue;
      const childRel = rel ? `${rel}/${name}` : name;
      const st = await lstat(path.join(root, childRel));
      // Symlinks are skipped: following them could leave the project (or loop).
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        out.push({ rel: childRel, kind: 'dir', size: 0 });
        stack.push(childRel);
      } else if (st.isFile()) {
        bytes += st.size;
        out.push({ rel: childRel, kind: 'file', size: st.size });
      }
      if (out.length > maxFiles) {
        throw new TransferError(`${root} has more than ${maxFiles} files to copy; exclude some (e.g. build outputs) or raise the limit`);
      }
      if (bytes > maxBytes) {
        throw new TransferError(`${root} holds more than ${Math.round(maxBytes / 1048576)} MB to copy; exclude big files or raise the limit`);
      }
    }
  }
  return out;
}
