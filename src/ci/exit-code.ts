/**
 * One exit code for a set of finished jobs (DESIGN.md): 130 interrupted or cancelled, then
 * 2 config error, 3 infrastructure error, 1 test failed, 0 all succeeded. The most "outside the
 * test" cause wins: a CI system should learn that the machines broke before it blames the code.
 */
import { EXIT } from '../core/exit.js';
import type { Job } from '../core/jobs.js';

export function exitCodeFor(jobs: readonly Pick<Job, 'status' | 'failure'>[]): number {
  if (jobs.some((j) => j.status === 'cancelled' || j.status === 'interrupted')) return EXIT.interrupted;
  const failed = jobs.filter((j) => j.status === 'failed');
  if (failed.some((j) => j.failure === 'config')) return EXIT.usage;
  if (failed.some((j) => j.failure === 'infrastructure')) return EXIT.infrastructure;
  if (failed.length) return EXIT.failed;
  if (jobs.some((j) => j.status !== 'succeeded')) return EXIT.infrastructure;
  return EXIT.ok;
}
