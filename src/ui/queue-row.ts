/**
 * A queue row fitted to a width, as text segments (the pane colours them): columns of least
 * value go first as the pane narrows (nodes, id, progress, elapsed), and a running load's live
 * figures (req/s, error %, p95) stay as long as the name and state fit. Pure.
 */
import type { JobRow } from './backend.js';
import { cell, ellipsis } from './text.js';

export interface Segment {
  text: string;
  /** A theme colour name, or `state` for the job state's colour. */
  tone?: 'state' | 'dim' | 'accent';
}

const NAME_MIN = 8;
/** A name grows to this before the columns of less value get room. */
const NAME_FIRST = 16;
const NAME_MAX = 24;

export function elapsed(job: JobRow, now: number): string {
  if (!job.startedAt) return '';
  const s = Math.max(0, Math.round(((job.endedAt ?? now) - job.startedAt) / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** "  58/s 2.1% p95  12ms": fixed widths, so digits do not jitter. */
export function liveFigures(job: JobRow): string | undefined {
  if (job.rate === undefined) return undefined;
  const rate = job.rate >= 10_000 ? `${(job.rate / 1000).toFixed(0)}k` : job.rate.toFixed(0);
  const err = job.errorPercent === undefined ? '-' : `${job.errorPercent >= 9.95 ? job.errorPercent.toFixed(0) : job.errorPercent.toFixed(1)}%`;
  const p95 = job.p95Ms === undefined ? '-' : job.p95Ms >= 1000 ? `${(job.p95Ms / 1000).toFixed(1)}s` : `${job.p95Ms.toFixed(0)}ms`;
  return `${rate.padStart(4)}/s ${err.padStart(4)} p95 ${p95.padStart(5)}`;
}

interface Column {
  key: 'id' | 'name' | 'state' | 'elapsed' | 'figures' | 'nodes' | 'progress';
  text: string;
  width: number;
  tone?: Segment['tone'];
}

/** The row's columns in display order, fitted to `width` cells. */
export function queueRow(job: JobRow, width: number, now: number): Segment[] {
  const figures = liveFigures(job);
  const progress = job.progress ?? '';
  const all: Column[] = [
    { key: 'id', text: job.id.slice(0, 8), width: 8, tone: 'dim' },
    { key: 'name', text: job.name, width: NAME_MIN },
    { key: 'state', text: job.state, width: Math.max(9, job.state.length), tone: 'state' },
    ...(job.startedAt ? [{ key: 'elapsed', text: elapsed(job, now), width: 6, tone: 'dim' } as Column] : []),
    ...(figures ? [{ key: 'figures', text: figures, width: figures.length, tone: 'accent' } as Column] : []),
    { key: 'nodes', text: job.nodes.join(','), width: 8, tone: 'dim' },
    ...(progress ? [{ key: 'progress', text: progress, width: 10 } as Column] : []),
  ];
  // Most valuable first; a column is shown only if it fits whole. The name gets more room once
  // the figures are in, the rest (progress last) takes what is left.
  const priority: (Column['key'] | 'grow-name')[] = ['name', 'state', 'figures', 'grow-name', 'elapsed', 'progress', 'id', 'nodes'];
  const kept = new Set<Column['key']>();
  const name = all.find((x) => x.key === 'name')!;
  let used = -1;
  const growName = (max: number) => {
    const grow = Math.min(Math.max(0, width - used), Math.max(0, Math.min(max, job.name.length) - name.width));
    name.width += grow;
    used += grow;
  };
  for (const key of priority) {
    if (key === 'grow-name') {
      growName(NAME_FIRST);
      continue;
    }
    const c = all.find((x) => x.key === key);
    if (!c || used + 1 + c.width > width) continue;
    kept.add(key);
    used += 1 + c.width;
  }
  const shown = all.filter((c) => kept.has(c.key));
  growName(NAME_MAX);
  const spare = Math.max(0, width - used);
  const last = shown.find((c) => c.key === 'progress');
  if (last) last.width += spare;
  return shown.map((c, i) => ({
    text: (i ? ' ' : '') + (c.key === 'progress' ? ellipsis(c.text, c.width) : cell(c.text, c.width, c.key === 'elapsed' ? 'right' : 'left')),
    tone: c.tone,
  }));
}
