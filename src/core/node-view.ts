/**
 * A node as views and the shared queue show it: its config, health and load. NodePool keeps it for
 * an engine; a listing with no engine (queue-look.ts) shows a node as it stands before any probe.
 */
import type { NodeConfig } from '../config/nodes.js';

/** What the queue (journal or shared) records of nodes across processes. */
interface NodeRecords {
  nodeEnabled(name: string): boolean | undefined;
  nodeUse(name: string): number;
}

export type NodeHealth = 'unknown' | 'up' | 'down';

/** What the last probe found (or, before any, what is known). */
export interface Health {
  health: NodeHealth;
  latencyMs?: number;
  error?: string;
  /** What to do about `error` (the ssh-keyscan line for an unknown host key...), when known. */
  hint?: string;
  /** Down for what the user gave for it (its key: NodeConfigError), not for the machine: a job that waited for it in vain is a config error. */
  mistake?: boolean;
  /** Down for a host key that changed or is revoked (NodeUntrusted): the machine's fault, but no wait brings it up. */
  untrusted?: boolean;
  /** An SSH node that is up: whether it can move files (SFTP); without, it takes only jobs that copy none and `error` says why. */
  sftp?: boolean;
  checkedAt?: number;
}

export interface NodeView extends Health {
  name: string;
  type: 'local' | 'ssh';
  address?: string;
  enabled: boolean;
  running: number;
  maxJobs: number;
  tags: readonly string[];
}

/** Before any probe: this machine needs none to be reachable, another node is not known yet. */
export function unprobed(n: NodeConfig): Health {
  return n.type === 'local' ? { health: 'up', latencyMs: 0, checkedAt: Date.now() } : { health: 'unknown' };
}

/** Its config, unless a switch recorded in the queue (which every process reads) says otherwise. */
export function nodeEnabled(queue: Pick<NodeRecords, 'nodeEnabled'>, n: NodeConfig): boolean {
  return queue.nodeEnabled(n.name) ?? n.enabled;
}

/** The node with its health, and what the queue says of it across processes: enabled, jobs running. */
export function nodeView(n: NodeConfig, h: Health, queue: NodeRecords): NodeView {
  return {
    name: n.name,
    type: n.type,
    address: n.type === 'ssh' ? `${n.user}@${n.host}:${n.port}` : undefined,
    enabled: nodeEnabled(queue, n),
    health: h.health,
    latencyMs: h.latencyMs,
    error: h.error,
    hint: h.hint,
    mistake: h.mistake,
    untrusted: h.untrusted,
    sftp: h.sftp,
    checkedAt: h.checkedAt,
    running: queue.nodeUse(n.name),
    maxJobs: n.maxJobs,
    tags: n.tags,
  };
}
