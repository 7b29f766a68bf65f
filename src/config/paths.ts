/**
 * Paths a project's `.marteau.yml` names (`xml`, `script`, `wdir`, `artifacts`, `chaos: FILE`,
 * a service's `wdir`, ...): files read on the nodes and copied into the job's result directory,
 * so each must stay inside the project. A config is someone else's input: `xml: ../../.ssh/key`
 * would otherwise read a secret on a node and write it outside the results on this machine.
 */
import path from 'node:path';
import { z } from 'zod';

/** Relative, no `..` segment, no NUL: a path that cannot leave the directory it is joined to. */
export function isInnerPath(p: string): boolean {
  return p.length > 0 && !path.isAbsolute(p) && !path.posix.isAbsolute(p) && !p.split(/[\\/]+/).includes('..') && !p.includes('\0');
}

/** A path inside the project: relative, never climbing out with `..`. */
export const innerPath = z.string().min(1).refine(isInnerPath, {
  error: 'must be a relative path inside the project (no leading /, no ..)',
});
