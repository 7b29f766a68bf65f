/**
 * Watch files for edits (the proxies config and its plugins). Directories are watched rather
 * than files, because editors often save by writing a new file and renaming it over the old
 * one, which a watch on the old file would miss. Bursts of events become one call.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface FileWatcher {
  /** Replace the set of watched files (e.g. after the plugin list changed). */
  setFiles(files: readonly string[]): void;
  close(): void;
}

export function watchFiles(files: readonly string[], onChange: () => void, debounceMs = 150): FileWatcher {
  const watchers = new Map<string, FSWatcher>();
  let wanted = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
  };
  const setFiles = (list: readonly string[]) => {
    wanted = new Set(list.map((f) => path.resolve(f)));
    const dirs = new Set([...wanted].map((f) => path.dirname(f)));
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      const w = watch(dir, (_event, name) => {
        // Some platforms give no name: then any change in the directory counts.
        if (!name || wanted.has(path.join(dir, name.toString()))) fire();
      });
      w.on('error', () => undefined);
      watchers.set(dir, w);
    }
  };
  setFiles(files);
  return {
    setFiles,
    close: () => {
      if (timer) clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
