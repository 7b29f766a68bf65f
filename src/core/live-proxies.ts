/** Which running job a proxy name means, for the actions a user takes on a proxy by its name. */
import type { ChaosPlayer } from './chaos-player.js';
import type { LiveJob } from './engine-types.js';
import { QueueError } from './queue.js';

/** The chaos player of the one job running here with this proxy (of `jobId`, when given). */
export function chaosPlayerOf(live: ReadonlyMap<string, LiveJob>, proxy: string, jobId?: string): ChaosPlayer {
  const withProxy = (jobId ? [jobId] : [...live.keys()]).filter((id) => live.get(id)?.proxies?.get(proxy) && live.get(id)?.chaos);
  if (withProxy.length !== 1) {
    throw new QueueError(withProxy.length ? `several running jobs have a proxy "${proxy}": say which job` : `no job running here has a proxy "${proxy}"`);
  }
  return live.get(withProxy[0])!.chaos!;
}

/** The id of the job running here whose proxy has this name (the first, when several do). */
export function jobOfProxy(live: ReadonlyMap<string, LiveJob>, proxy: string): string | undefined {
  for (const [id, l] of live) if (l.proxies?.get(proxy)) return id;
  return undefined;
}
