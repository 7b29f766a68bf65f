/** A node as views and the shared queue show it: its config, health and load (NodePool keeps it). */
export type NodeHealth = 'unknown' | 'up' | 'down';

export interface NodeView {
  name: string;
  type: 'local' | 'ssh';
  address?: string;
  enabled: boolean;
  health: NodeHealth;
  latencyMs?: number;
  error?: string;
  /** What to do about `error` (the ssh-keyscan line for an unknown host key...), when known. */
  hint?: string;
  checkedAt?: number;
  running: number;
  maxJobs: number;
  tags: readonly string[];
}
