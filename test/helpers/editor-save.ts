import { rename, writeFile } from 'node:fs/promises';

/**
 * A file saved as editors save it: written aside, then renamed over (a new inode, which a watch
 * on the old one misses), so a reader never sees half of it.
 */
export async function saveAsEditor(file: string, text: string): Promise<void> {
  const aside = `${file}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(aside, text);
  await rename(aside, file);
}
