/**
 * The nodes jobs can take: which are enabled (config, then overrides recorded in the journal so
 * every process agrees), which answer (probes: SSH connect + a trivial command, with a timeout),
 * their latency, and how many jobs each runs now (from the journal, across processes).
 */
import type { NodeConfig, NodesConfig } from '../config/nodes.js';
import { NodeConfigError, NodeError, NodeUntrusted, type Executor, type NodeNotice } from '../exec/executor.js';
import { removedLine } from '../exec/ssh-job-dirs.js';
import type { EventBus } from './events.js';
import { nodeEnabled, nodeView, unprobed, type Health, type NodeView } from './node-view.js';
import type { JobQueue } from './queue.js';

export type { NodeHealth, NodeView } from './node-view.js';

export type ExecutorFactory = (node: NodeConfig, notice?: NodeNotice) => Executor;

export class NodePool {
  private readonly health = new Map<string, Health>();
  private timer?: NodeJS.Timeout;
  private probing?: Promise<void>;
  private stopped = false;
  private readonly changeListeners = new Set<() => void>();
  /** What probes' connections told of a node (a host key recorded) that no job on it has kept yet. */
  private readonly untold = new Map<string, string[]>();

  constructor(
    private current: NodesConfig,
    private readonly queue: JobQueue,
    private readonly makeExecutor: ExecutorFactory,
    private readonly bus: EventBus,
    /** Run before each probe cycle: reads the nodes file again when it changed (nodes-reload.ts). */
    private readonly refresh?: () => Promise<void>,
  ) {
    for (const n of current.nodes) this.health.set(n.name, unprobed(n));
  }

  get config(): NodesConfig {
    return this.current;
  }

  /**
   * The nodes file read again: its nodes, probe and mail settings replace these (the queue stays:
   * it is open, and `--queue` may have named it). A node new or changed is probed afresh; one
   * gone is no longer offered, its running jobs keep the config they started with.
   */
  replace(next: NodesConfig): void {
    const before = new Map(this.current.nodes.map((n) => [n.name, JSON.stringify(n)]));
    this.current = { ...next, queue: this.current.queue };
    for (const name of before.keys()) if (!this.node(name)) this.health.delete(name);
    for (const n of next.nodes) if (before.get(n.name) !== JSON.stringify(n)) this.health.set(n.name, unprobed(n));
    this.changed();
  }

  get names(): string[] {
    return this.config.nodes.map((n) => n.name);
  }

  node(name: string): NodeConfig | undefined {
    return this.config.nodes.find((n) => n.name === name);
  }

  isEnabled(name: string): boolean {
    const n = this.node(name);
    return !!n && nodeEnabled(this.queue, n);
  }

  list(): NodeView[] {
    return this.config.nodes.map((n) => nodeView(n, this.health.get(n.name)!, this.queue));
  }

  onChange(fn: () => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** Whether its last probe (or a job's failure on it) says it answers. */
  isUp(name: string): boolean {
    return this.health.get(name)?.health === 'up';
  }

  /** Nodes with every tag, enabled or not: could a job ever run here? */
  tagged(tags: readonly string[]): NodeConfig[] {
    return this.config.nodes.filter((n) => tags.every((t) => n.tags.includes(t)));
  }

  /** Enabled nodes with every tag, however busy or healthy: can a job run here until one is enabled? */
  eligible(tags: readonly string[]): NodeConfig[] {
    return this.tagged(tags).filter((n) => this.isEnabled(n.name));
  }

  /** Whether the node can move files: false only for one up whose SFTP fails (see `pick`). */
  hasSftp(name: string): boolean {
    return this.health.get(name)?.sftp !== false;
  }

  /**
   * `count` nodes free now (enabled, up, below max_jobs, with the tags; with SFTP unless the job
   * copies no `files`): least busy, then fastest.
   */
  pick(count: number, tags: readonly string[], files = true): NodeConfig[] | undefined {
    const free = this.eligible(tags)
      .filter((n) => this.health.get(n.name)?.health === 'up' && (!files || this.hasSftp(n.name)) && this.queue.nodeUse(n.name) < n.maxJobs)
      .sort(
        (a, b) =>
          this.queue.nodeUse(a.name) - this.queue.nodeUse(b.name) ||
          (this.health.get(a.name)?.latencyMs ?? 0) - (this.health.get(b.name)?.latencyMs ?? 0) ||
          a.name.localeCompare(b.name),
      );
    return free.length >= count ? free.slice(0, count) : undefined;
  }

  executor(name: string, notice?: NodeNotice): Executor {
    const n = this.node(name);
    if (!n) throw new Error(`no node "${name}" in ${this.config.file}`);
    return this.makeExecutor(n, notice);
  }

  /**
   * What probes told of the node since a job last took it: a probe connects before any job does,
   * so a host key it recorded belongs in the next job's console.log too. Given once.
   */
  takeNotices(name: string): string[] {
    const told = this.untold.get(name) ?? [];
    this.untold.delete(name);
    return told;
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    if (!this.node(name)) throw new Error(`no node "${name}" in ${this.config.file} (nodes: ${this.names.join(', ')})`);
    await this.queue.setNodeEnabled(name, enabled);
    this.bus.emit({ type: 'node.enabled', at: Date.now(), node: name, enabled });
    this.changed();
  }

  /** Probe every SSH node now (in parallel, each bounded by the probe timeout). */
  probeAll(): Promise<void> {
    this.probing ??= Promise.all(this.config.nodes.filter((n) => n.type === 'ssh').map((n) => this.probe(n))).then(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  /** Probe now and then every `probeIntervalMs` until stop(). */
  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      void (this.refresh?.() ?? Promise.resolve()).then(() => (this.stopped ? undefined : this.probeAll())).finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.config.probeIntervalMs);
        this.timer?.unref();
      });
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** A node failed during a job: mark it down now rather than at the next probe. */
  markDown(name: string, error: string, why: Pick<Health, 'mistake' | 'untrusted'> = {}): void {
    this.set(name, { health: 'down', error, ...why, checkedAt: Date.now() });
  }

  private async probe(n: NodeConfig): Promise<void> {
    const exec = this.makeExecutor(n, (detail) => {
      this.untold.set(n.name, [...(this.untold.get(n.name) ?? []), detail]);
      this.bus.emit({ type: 'log.line', at: Date.now(), stream: 'engine', level: 'warn', line: `node "${n.name}": ${detail}` });
    });
    try {
      const { latencyMs, removed, noSftp } = await exec.probe(this.config.probeTimeoutMs);
      const files = noSftp ? { sftp: false, error: noSftp.error, hint: `${noSftp.hint ? `${noSftp.hint}; ` : ''}until then it takes only jobs that copy no files (runner: command with upload: false, no artifacts: nor xml:)` } : { sftp: true };
      this.found(n, { health: 'up', latencyMs, ...files, checkedAt: Date.now() });
      if (removed.length) this.bus.emit({ type: 'log.line', at: Date.now(), node: n.name, stream: 'engine', level: 'info', line: removedLine(removed) });
    } catch (e) {
      this.found(n, { health: 'down', error: (e as Error).message, hint: e instanceof NodeError ? e.hint : undefined, ...downFor(e), checkedAt: Date.now() });
    } finally {
      await exec.close().catch(() => {});
    }
  }

  /** A probe's finding, unless the node was replaced meanwhile (the file read again): it is of the old config. */
  private found(n: NodeConfig, h: Health): void {
    if (this.node(n.name) === n) this.set(n.name, h);
  }

  private set(name: string, h: Health): void {
    const before = this.health.get(name);
    this.health.set(name, h);
    if (before?.health !== h.health || before?.latencyMs !== h.latencyMs || before?.error !== h.error || before?.sftp !== h.sftp) {
      if (before?.health !== h.health) {
        this.bus.emit({ type: 'node.status', at: Date.now(), node: name, status: h.health === 'up' ? 'up' : 'down', latencyMs: h.latencyMs, error: h.error });
      }
      this.changed();
    }
  }

  private changed(): void {
    for (const fn of [...this.changeListeners]) fn();
  }
}

/** Why a node that failed so is down, as far as waiting for it goes: the user's mistake, a machine not to trust, or neither. */
export function downFor(e: unknown): Pick<Health, 'mistake' | 'untrusted'> {
  return { mistake: e instanceof NodeConfigError, untrusted: e instanceof NodeUntrusted };
}
