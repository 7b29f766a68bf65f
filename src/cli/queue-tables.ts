/** The tables `queue` and `nodes` print: one row per job or node, then the reasons and errors. */
import { makeStyle } from '../ci/style.js';
import { isTerminal, type Job } from '../core/jobs.js';
import type { NodeView } from '../core/node-pool.js';
import { short } from '../core/queue.js';

export function formatQueue(jobs: readonly (Readonly<Job> & { resultDir: string })[], out: { isTTY?: boolean }, formatDuration: (ms: number) => string): string {
  if (!jobs.length) return 'the queue is empty\n';
  const s = makeStyle(out);
  const rows = jobs.map((j) => [
    short(j.id),
    j.status + (j.cancelRequested && j.status === 'running' ? ' (cancelling)' : ''),
    JSON.stringify(j.name).slice(1, -1).slice(0, 30),
    j.runner,
    j.nodesTaken.join(',') || `${j.nodes}`,
    new Date(j.enqueuedAt).toISOString().replace('T', ' ').slice(0, 19),
    j.startedAt !== undefined ? formatDuration(j.startedAt - j.enqueuedAt) : '-',
    j.durationMs !== undefined ? formatDuration(j.durationMs) : j.status === 'running' && j.startedAt ? `${formatDuration(Date.now() - j.startedAt)}…` : '-',
    // A job that never started has no results: its directory was never made.
    isTerminal(j.status) && j.startedAt !== undefined ? j.resultDir : '-',
  ]);
  const head = ['ID', 'STATUS', 'NAME', 'RUNNER', 'NODES', 'ENQUEUED (UTC)', 'WAIT', 'DURATION', 'RESULTS'];
  const lines = table([head, ...rows]).map((l, i) => (i === 0 ? s.bold(l) : l));
  const reasons = jobs.filter((j) => j.reason && j.status !== 'succeeded').map((j) => `  ${short(j.id)}: ${j.reason!.split('\n')[0]}`);
  return `${lines.join('\n')}\n${reasons.length ? `${reasons.join('\n')}\n` : ''}`;
}

export function formatNodes(nodes: readonly NodeView[], out: { isTTY?: boolean }): string {
  const s = makeStyle(out);
  const rows = nodes.map((n) => [
    n.name,
    n.type,
    n.address ?? '-',
    n.enabled ? 'yes' : 'no',
    n.health === 'up' && n.sftp === false ? 'up, no SFTP' : n.health,
    n.latencyMs !== undefined ? `${n.latencyMs}ms` : '-',
    `${n.running}/${n.maxJobs}`,
    n.tags.join(',') || '-',
  ]);
  const lines = table([['NAME', 'TYPE', 'ADDRESS', 'ENABLED', 'HEALTH', 'LATENCY', 'JOBS', 'TAGS'], ...rows]).map((l, i) => (i === 0 ? s.bold(l) : l));
  const errors = nodes.filter((n) => n.error).map((n) => `  ${n.name}: ${n.error}${n.hint ? `\n    hint: ${n.hint}` : ''}`);
  return `${lines.join('\n')}\n${errors.length ? `${errors.join('\n')}\n` : ''}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}
