/**
 * Why no proxy shows, of the selected job: the Proxies pane's text, and the answer to a key that
 * needs a proxy (p, s, u, x, the arrows) pressed there.
 */
import type { JobRow } from './backend.js';

/**
 * An empty Proxies pane says why, of the selected job: it has none (the config to change), they
 * start when it runs, run in the process that runs it, or stopped when it ended.
 */
export function emptyProxies(job: JobRow | undefined, anyJob: boolean): string {
  const ended = "no proxy running: a job's proxies stop when it ends (R replays it)";
  if (!job) return anyJob ? ended : 'no proxy: add `proxies:` to .marteau.yml';
  // Not recorded (enqueued by an older version): it may have had none.
  if (!job.proxies) return ended;
  if (!job.proxies.length) return `no proxy: ${job.name} has none (add \`proxies:\` to its .marteau.yml)`;
  const its = `${job.name}'s proxies (${job.proxies.join(', ')})`;
  if (job.state === 'queued') return `no proxy running yet: ${its} start when it runs`;
  if (job.elsewhere) return `no proxy here: ${its} run in ${job.elsewhere}`;
  if (job.state === 'running') return `no proxy running yet: ${its} are starting`;
  return `no proxy running: ${its} stopped when it ended (R replays it)`;
}
