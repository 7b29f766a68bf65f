/** marteau-tui's own version, from package.json (two levels up from src/ or dist/src/). */
import { readFile } from 'node:fs/promises';

export async function packageVersion(): Promise<string> {
  for (const rel of ['../../../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'marteau-tui' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}
