/**
 * A queue row fitted to a width, as text segments (the pane colours them): columns of least
 * value go first as the pane narrows (nodes, id, progress, elapsed), and a running load's live
 * figures (req/s, error %, p95) stay as long as the name and state fit. Pure.
 */
import type { JobRow } from './backend.js';
import { cell, ellipsisItems, ellipsisPair } from './text.js';

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

type Key = 'id' | 'name' | 'state' | 'elapsed' | 'nodes' | 'figures' | 'progress';

/** The pane's columns: chosen once for all rows, so they line up. */
export interface QueueLayout {
  cols: { key: Key; width: number }[];
}

const FIGURES = 21;

/** The cells an ended row's reason and first figure take side by side, at most: a longer reason is cut (ellipsisPair). */
const OUTCOME_MAX = 36;

/**
 * The cells a row needs to say why it ended beside its first figure ('by a user · 130 requests
 * …'), up to OUTCOME_MAX; 0 for a row with only one of them.
 */
export function outcomeWidth(job: JobRow): number {
  const o = job.outcome;
  if (!o?.reason || !o.figures) return 0;
  const item = o.figures.split(', ')[0];
  return Math.min(OUTCOME_MAX, o.reason.length + 3 + item.length + (item.length < o.figures.length ? 2 : 0));
}

/**
 * Columns for a pane `width` cells wide whose longest name and state are given (and whether
 * any row has live figures, or a progress or outcome, to show, and how wide the widest
 * outcome with a reason is: outcomeWidth): the most valuable first, each only if it fits whole.
 * The name gets more room once the live figures are in; the progress (last) takes what is left.
 */
export function queueLayout(width: number, longestName: number, longestState: number, anyFigures = true, anyProgress = true, widestOutcome = 0): QueueLayout {
  // With no live figures, how a finished job went is the row's news: it comes before a longer
  // name and the elapsed time, wide enough for a whole figure ("4539 requests …"), or for why it
  // ended beside one where that fits ("by a user · 130 requests …").
  const outcomeFirst = !anyFigures && anyProgress;
  const named = Math.min(NAME_MIN, Math.max(4, longestName));
  const state = Math.max(9, longestState);
  const outcome = Math.max(16, Math.min(widestOutcome, width - named - state - 2));
  const widths: Record<Key, number> = { id: 8, name: named, state, elapsed: 6, nodes: 8, figures: FIGURES, progress: outcomeFirst ? outcome : 10 };
  const priority: (Key | 'grow-name')[] = outcomeFirst
    ? ['name', 'state', 'progress', 'grow-name', 'elapsed', 'id', 'nodes']
    : ['name', 'state', 'figures', 'grow-name', 'elapsed', 'progress', 'id', 'nodes'];
  const kept = new Set<Key>();
  let used = -1;
  const growName = (max: number) => {
    const grow = Math.min(Math.max(0, width - used), Math.max(0, Math.min(max, longestName) - widths.name));
    widths.name += grow;
    used += grow;
  };
  for (const key of priority) {
    if (key === 'grow-name') growName(NAME_FIRST);
    else if (used + 1 + widths[key] <= width && (key !== 'figures' || anyFigures)) {
      kept.add(key);
      used += 1 + widths[key];
    }
  }
  growName(NAME_MAX);
  if (kept.has('progress')) widths.progress += Math.max(0, width - used);
  const order: Key[] = ['id', 'name', 'state', 'elapsed', 'nodes', 'figures', 'progress'];
  return { cols: order.filter((k) => kept.has(k)).map((key) => ({ key, width: widths[key] })) };
}

/**
 * The first row a list of `length` rows shows in `visible` rows, given the one it showed first
 * (`top`): it moves only as far as the selection needs to stay in sight, as k9s's and lazygit's
 * lists do (one that kept the selection on its last row scrolled at every key going up).
 */
export function listWindow(top: number | undefined, selected: number, length: number, visible: number): number {
  const from = Math.min(Math.max(top ?? 0, selected - visible + 1), selected);
  return Math.max(0, Math.min(from, length - visible));
}

/**
 * The progress column: an ended job's reason and figures each get room (ellipsisPair). Where its
 * first figure does not fit whole beside the reason (80×24), it goes in short ('5267 req') beside
 * as much of the reason as fits: the reason is whole in the details, the figures in the Output.
 */
function fitProgress(job: JobRow, width: number): string {
  const o = job.outcome;
  if (!o?.reason || !o.figures) return ellipsisItems(job.progress ?? '', width);
  const first = o.figures.split(', ')[0];
  return ellipsisPair(o.reason, o.figures, width, ' · ', first.replace(/ requests?$/, ' req'));
}

/** One job's row in the pane's columns; a row without live figures gives their cells to its progress. */
export function queueRow(job: JobRow, layout: QueueLayout, now: number): Segment[] {
  const figures = liveFigures(job);
  const text: Record<Key, string> = { id: job.id.slice(0, 8), name: job.name, state: job.state, elapsed: elapsed(job, now), nodes: job.nodes.join(','), figures: figures ?? '', progress: job.progress ?? '' };
  const tone: Partial<Record<Key, Segment['tone']>> = { id: 'dim', state: 'state', elapsed: 'dim', nodes: 'dim', figures: 'accent' };
  const out: Segment[] = [];
  const cols = layout.cols;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i];
    const sep = i ? ' ' : '';
    if (c.key === 'figures' && !figures) {
      const next = cols[i + 1]?.key === 'progress' ? cols[++i].width + 1 : 0;
      out.push({ text: sep + fitProgress(job, c.width + next) });
      continue;
    }
    const t = c.key === 'progress' ? fitProgress(job, c.width) : cell(text[c.key], c.width, c.key === 'elapsed' ? 'right' : 'left');
    out.push({ text: sep + t, tone: tone[c.key] });
  }
  return out;
}
