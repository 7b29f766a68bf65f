/**
 * Tab in the enqueue prompt: complete what was typed as a path, relative to the user's
 * directory, like a shell does: a unique match is taken whole (a directory gets its `/`),
 * several extend the text to what they share. Nothing typed yet: the first suggestion.
 */
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Completion {
  value: string;
  /** Other candidates, when the text could not be made unique. */
  candidates: string[];
}

export function completePath(typed: string, cwd: string, suggestions: readonly string[] = []): Completion {
  if (!typed) return { value: suggestions[0] ?? '', candidates: suggestions.slice(1) };
  // A URL is not a path (git sources).
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(typed) || /^[\w.-]+@[\w.-]+:/.test(typed)) return { value: typed, candidates: [] };
  const slash = typed.lastIndexOf('/');
  const dirPart = slash >= 0 ? typed.slice(0, slash + 1) : '';
  const base = typed.slice(slash + 1);
  const expanded = dirPart.startsWith('~/') || dirPart === '~/' ? path.join(os.homedir(), dirPart.slice(2)) : dirPart;
  const dir = path.resolve(cwd, expanded || '.');
  let entries: { name: string; dir: boolean }[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).map((e) => ({ name: e.name, dir: e.isDirectory() || (e.isSymbolicLink() && isDir(path.join(dir, e.name))) }));
  } catch {
    return { value: typed, candidates: [] };
  }
  // Hidden entries only when asked for (`.` typed), as shells do; `.marteau.yml` is one.
  const found = entries.filter((e) => e.name.startsWith(base) && (base.startsWith('.') || !e.name.startsWith('.') || /marteau\.ya?ml$/.test(e.name)));
  if (!found.length) return { value: typed, candidates: [] };
  if (found.length === 1) return { value: dirPart + found[0].name + (found[0].dir ? '/' : ''), candidates: [] };
  const names = found.map((e) => e.name + (e.dir ? '/' : '')).sort();
  return { value: dirPart + commonPrefix(names), candidates: names };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function commonPrefix(names: readonly string[]): string {
  let p = names[0];
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p;
}
