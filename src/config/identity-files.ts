/**
 * Whether this user can read a node's `identity:` file, looked at (never read: a key is read only
 * when its node connects). Without the schema, so that a cached nodes config is checked as cheaply.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { unreadableWords } from '../fs/errors.js';

/**
 * Why an SSH node's `identity:` file cannot be read, in words; undefined when it can, or when the
 * node has none or is switched off in the file (often one whose machine, and key, are not there yet).
 */
export function identityProblem(n: { type: string; enabled: boolean; identity?: string }): string | undefined {
  if (n.type !== 'ssh' || !n.enabled || n.identity === undefined) return undefined;
  try {
    if (statSync(n.identity).isDirectory()) return 'it is a directory';
    accessSync(n.identity, constants.R_OK);
    return undefined;
  } catch (e) {
    return unreadableWords(e);
  }
}
