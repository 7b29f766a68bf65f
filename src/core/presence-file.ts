/**
 * The state dir's presence files: what a process running proxies shows the other processes on the
 * same state dir (a control center beside a worker), as team mode shares it through Redis
 * (redis-queue.ts publishPresence): its proxies' counters, and where their mixes are set, a
 * loopback control API of each job whose token only the state dir's user can read (0600 files in
 * a 0700 directory). One file per process, `presence-<pid>.json`, replaced whole.
 */
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MixEntrySpec } from '../proxy/mix.js';
import type { ScheduleView } from './chaos-player.js';
import { isOwnerAlive, type Owner } from './owner.js';
import type { Presence } from './queue-types.js';

/** Where a proxy's mix is set, and the mix in force (with its options: the editor keeps them). */
export interface ProxyControl {
  job: string;
  /** Its job's control API, on loopback (proxy/api/server.ts, the /marteau routes). */
  api: string;
  mix: Record<string, MixEntrySpec>;
  /** Its chaos scenario, once the job has its player. */
  schedule?: ScheduleView;
}

/** The file's content. Nodes are left out: on a state dir, every process has the nodes file. */
export interface PresenceFile extends Pick<Presence, 'proxies'> {
  owner: Owner;
  /** When the counters were taken (ms): views take rates over the writer's own interval. */
  at: number;
  token: string;
  /** Each proxy's, in the order of `proxies` (two jobs of one process may have a proxy of one name). */
  control: ProxyControl[];
}

const NAME = /^presence-(\d+)\.json$/;

function fileOf(root: string, pid: number): string {
  return path.join(root, `presence-${pid}.json`);
}

/** Replace this process's file whole (a reader never sees half of one). */
export async function writePresence(root: string, p: PresenceFile): Promise<void> {
  const file = fileOf(root, p.owner.pid);
  await writeFile(`${file}.tmp`, JSON.stringify(p), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

export async function removePresence(root: string, pid: number): Promise<void> {
  await rm(fileOf(root, pid), { force: true });
}

/**
 * The presences of the other live processes of this machine on the state dir. One whose process
 * died (kill -9, a crash: it never removed its file) is removed; one of another host (a state dir
 * on a network disk) is left alone, and not read: its API is on that host's loopback.
 */
export async function readPresences(root: string, self: Owner): Promise<PresenceFile[]> {
  const names = (await readdir(root).catch(() => [] as string[])).filter((n) => NAME.test(n) && Number(NAME.exec(n)![1]) !== self.pid);
  const read = await Promise.all(
    names.map(async (n): Promise<PresenceFile | undefined> => {
      const file = path.join(root, n);
      let p: PresenceFile;
      try {
        p = JSON.parse(await readFile(file, 'utf8')) as PresenceFile;
      } catch {
        // Removed meanwhile (its process stopped its proxies), or not ours to read.
        return undefined;
      }
      const alive = p.owner && isOwnerAlive(p.owner);
      if (alive === false) await rm(file, { force: true }).catch(() => {});
      return alive ? p : undefined;
    }),
  );
  return read.filter((p) => p !== undefined);
}
