/** The tables `queue` and `nodes` print: one row per job or node, then the reasons and errors. */
import { makeStyle } from '../ci/style.js';
import { isTerminal, type Job } from '../core/jobs.js';
import type { NodeView } from '../core/node-pool.js';
import { short } from '../core/queue.js';
import { figuresOf } from '../core/result-file.js';

/** `summary`: how a job that ended went (its result.json's line), whose figures are said under the table. */
export function formatQueue(jobs: readonly (Readonly<Job> & { resultDir: string; summary?: string })[], out: { isTTY?: boolean }, formatDuration: (ms: number) => string): string {
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
  // Under the table, too long for a column: why a job did not succeed, and its runner's figures.
  const ends = jobs.flatMap((j) => {
    const said = [j.status !== 'succeeded' ? j.reason?.split('\n')[0] : undefined, figuresOf(j.summary)].filter(Boolean);
    return said.length ? [`  ${short(j.id)}: ${said.join(' · ')}`] : [];
  });
  return `${lines.join('\n')}\n${ends.length ? `${ends.join('\n')}\n` : ''}`;
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
