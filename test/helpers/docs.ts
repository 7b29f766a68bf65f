/**
 * The project's documents a newcomer reads: the README and docs/*.md. Their examples are checked
 * against the code (readme-examples, readme-commands) wherever they sit.
 */
import { readdirSync, readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url).pathname;

export interface Doc {
  /** Relative to the project's root, as a problem names it (`docs/x.md:12`). */
  name: string;
  text: string;
}

export function docs(): Doc[] {
  const names = ['README.md', ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  return names.map((name) => ({ name, text: readFileSync(`${root}${name}`, 'utf8') }));
}
