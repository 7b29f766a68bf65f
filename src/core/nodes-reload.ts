/**
 * The nodes file read again while the control center or a worker runs, so a node fixed (its
 * host key, its port), added or removed takes effect without a restart, and a job left queued
 * for want of it starts. Checked before each probe cycle rather than watched: an editor that
 * replaces the file (a new inode, which a watch on the old one misses), a save in two writes, a
 * network mount are all seen alike, and the cycle probes the nodes right after. Validated only
 * when its text changed. A bad edit keeps the nodes read before and says why at its line, once
 * per text: a node is never taken away by a mistake, nor silently by a good edit. A name another
 * worker of the team runs is tried again at each cycle (that worker may stop), said once; one
 * removed is given back to the team once no job runs there (name-release.ts). `mail:` follows
 * the file (the next mail sent uses it); `queue:` does not: the queue is open, jobs run on it,
 * and moving it under them is no edit's to make. Its change is said once, at its line.
 */
import { readFile } from 'node:fs/promises';
import type { NodeConfig, NodesConfig, QueueConfig } from '../config/nodes.js';
import type { NameRelease } from './name-release.js';
import type { NodePool } from './node-pool.js';

export interface NodesReloadDeps {
  pool: () => NodePool;
  log: (line: string, level: 'info' | 'warn') => void;
  /** A worker on a shared queue: the team's other workers must not hold a node name it adds. */
  claimNames?: (names: readonly string[]) => Promise<void>;
  /** The same worker: the names it drops are given back to the team once their jobs end. */
  names?: NameRelease;
}

/** What to run before each probe cycle. */
export function nodesReloader(d: NodesReloadDeps): () => Promise<void> {
  let lastText: string | undefined;
  let first = true;
  /** What a bad edit was said to be: its fix is said too, even one back to the nodes in force. */
  let failing: string | undefined;
  /** The queue a restart would open, last said to differ from the one in force. */
  let queueSaid: string | undefined;
  return async () => {
    const pool = d.pool();
    await d.names?.settle();
    const { file } = pool.config;
    const text = await readFile(file, 'utf8').catch(() => undefined);
    // The text at start is unknown (the config may come from the cache): validated once.
    if (!first && text === lastText) return;
    first = false;
    lastText = text;
    const fail = (why: string) => {
      if (why !== failing) d.log(`${why}\n  the nodes read before stay (${pool.names.join(', ')}); the file is read again before each probe`, 'warn');
      failing = why;
    };
    let next: NodesConfig;
    try {
      next = await (await import('../config/nodes.js')).loadNodesConfig(file);
    } catch (e) {
      return fail((e as Error).message);
    }
    const inForce = pool.config.queue;
    const queue = queueKey(next.queue, inForce);
    if (queue === queueKey(inForce, inForce)) queueSaid = undefined;
    else if (queue !== queueSaid) {
      queueSaid = queue;
      const where = next.queue ? await queueAt(file, text ?? '') : `${file}: queue: removed`;
      d.log(`${where}: the change takes a restart; until then this keeps the queue it opened (${inForce?.url ? inForce.url.masked : 'the journal in its state dir'})`, 'warn');
    }
    if (d.claimNames && next.nodes.some((n) => !pool.node(n.name))) {
      const kept = d.names?.keep(next.nodes.map((n) => n.name)) ?? [];
      const taken = await d.claimNames(next.nodes.map((n) => n.name)).then(() => undefined, (e: Error) => e.message);
      if (taken !== undefined) {
        d.names?.drop(kept);
        lastText = undefined;
        return fail(taken);
      }
    }
    const removed = pool.names.filter((n) => !next.nodes.some((m) => m.name === n));
    const said = changes(pool.config, next, removed);
    if (said.length) pool.replace(next);
    d.names?.drop(removed);
    if (said.length || failing) d.log(`${file} read again: ${said.length ? said.join('; ') : 'its nodes are those in force'}`, 'info');
    failing = undefined;
  };
}

/** What the new config changes, in words (empty: nothing); `removed`: the names it no longer has. */
function changes(before: NodesConfig, next: NodesConfig, removed: readonly string[]): string[] {
  const old = new Map(before.nodes.map((n) => [n.name, n]));
  const names = (ns: NodeConfig[]) => ns.map((n) => n.name).join(', ');
  const added = next.nodes.filter((n) => !old.has(n.name));
  const changed = next.nodes.filter((n) => old.has(n.name) && JSON.stringify(old.get(n.name)) !== JSON.stringify(n));
  const mail = JSON.stringify(before.mail ?? null) !== JSON.stringify(next.mail ?? null);
  const probe = before.probeIntervalMs !== next.probeIntervalMs || before.probeTimeoutMs !== next.probeTimeoutMs;
  return [
    added.length ? `added ${names(added)}` : '',
    changed.length ? `changed ${names(changed)} (probed again)` : '',
    removed.length ? `removed ${removed.join(', ')} (no job starts there; those running end as they would)` : '',
    mail ? `mail: the next report link goes via ${next.mail ? `${next.mail.host}:${next.mail.port}` : 'localhost:25 (the default)'}` : '',
    probe ? `probes every ${next.probeIntervalMs / 1000} s, ${next.probeTimeoutMs / 1000} s timeout` : '',
  ].filter(Boolean);
}

/** The queue a restart would open with this `queue:`, to compare: `--queue`'s url stays over the file's. */
function queueKey(q: QueueConfig | undefined, inForce: QueueConfig | undefined): string {
  const url = inForce?.urlFromFlag ? inForce.url : q?.url;
  return JSON.stringify([url?.url ?? null, q?.lostJobs ?? 'interrupt']);
}

/** Where `queue:` is in the text, as a mistake there would be pointed at. */
async function queueAt(file: string, text: string): Promise<string> {
  const { locate, parseYaml } = await import('../config/errors.js');
  // loadNodesConfig read the file again: a save in between may not parse. Then the file alone.
  const { line, col } = (() => {
    try {
      return locate(parseYaml(file, text), ['queue'], true);
    } catch {
      return {};
    }
  })();
  return `${file}${line ? `:${line}:${col}` : ''}: queue`;
}
