/**
 * Tests that start separate processes run the compiled code (dist/), which `npm test` builds
 * first (`tsc && vitest run`). Fail clearly when it is missing rather than with a module error.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'marteau-tui.js');

export function dist(rel: string): string {
  const p = path.join(ROOT, 'dist', rel);
  if (!existsSync(p)) throw new Error(`${p} is missing: build first (npm run build), as \`npm test\` does`);
  return p;
}
