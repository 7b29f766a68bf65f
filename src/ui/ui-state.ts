/**
 * The control center's own state (focus, selections, scroll positions, the open dialog) and
 * what the panes show, derived from it and the latest snapshots. No React here.
 */
import type { MixSpec } from '../proxy/mix.js';
import type { MonitorSnapshot } from '../proxy/monitor.js';
import type { JobRow, TuiBackend, TuiSnapshot } from './backend.js';
import type { PaneId } from './keys.js';
import { mixRows, type MixRow } from './mix-editor.js';
import { OUTPUT_START, type OutputView } from './output-view.js';

export type PromptPurpose = 'enqueue' | 'filter' | 'search' | 'command';

export type Modal =
  | { kind: 'help'; top: number }
  /** The message log; `top` undefined: the newest at the bottom. */
  | { kind: 'messages'; top?: number }
  /** `yesKey`: a key that confirms besides y (the quit question's second q), shown in the dialog. */
  | { kind: 'confirm'; question: string; onYes: () => void; yesKey?: string }
  | { kind: 'prompt'; purpose: PromptPurpose; label: string; value: string; hint?: string; hintFor?: (value: string) => string; onSubmit: (v: string) => void }
  /** `p` was pressed: the next digit picks a preset for this proxy. */
  | { kind: 'preset'; proxy: string };

export interface UiState {
  focus: PaneId;
  /** The selected job, by id: new jobs coming in above it do not move the selection. */
  jobId?: string;
  sel: { nodes: number; proxies: number; behaviors: number };
  /** The job the Queue pane showed first (listWindow): it scrolls only when the selection leaves it. */
  queueTop?: number;
  output: OutputView;
  details: boolean;
  /** How the Output pane was when details replaced it: leaving details goes back to it. */
  beforeDetails?: OutputView;
  filter: string;
  modal?: Modal;
  undo: { proxy: string; spec: MixSpec }[];
  /**
   * The mix just asked for, shown and edited on until the proxy reports it (a mix change is
   * applied asynchronously; keys pressed meanwhile must build on it, not on the old mix).
   */
  pending?: { proxy: string; rows: MixRow[]; until: number };
}

export const INITIAL: UiState = { focus: 'queue', sel: { nodes: 0, proxies: 0, behaviors: 0 }, output: OUTPUT_START, details: false, filter: '', undo: [] };

/** Details read from the top, wrapped; the output view is kept for the way back. */
export function openDetails(ui: UiState): Partial<UiState> {
  return { details: true, beforeDetails: ui.details ? ui.beforeDetails : ui.output, output: { ...OUTPUT_START, top: 0, wrap: true } };
}

/** Back to the output as it was (scroll, wrap, search), or following its tail when there was none. */
export function closeDetails(ui: UiState): Partial<UiState> {
  if (!ui.details) return {};
  return { details: false, beforeDetails: undefined, output: ui.beforeDetails ?? OUTPUT_START };
}

/** The jobs a filter lets through: its text in their id, name or state, case aside. */
export function filterJobs(jobs: readonly JobRow[], filter: string): readonly JobRow[] {
  return filter ? jobs.filter((j) => `${j.id} ${j.name} ${j.state}`.toLowerCase().includes(filter.toLowerCase())) : jobs;
}

/**
 * A filter applied: the job selected stays so when it matches, else the first match is, as the
 * pane shows it selected (keys act on it, and esc clearing the filter must not bring back
 * the job it hid).
 */
export function applyFilter(ui: UiState, filter: string, jobs: readonly JobRow[]): Partial<UiState> {
  const shown = filterJobs(jobs, filter);
  const keep = shown.some((j) => j.id === ui.jobId);
  return { filter, queueTop: undefined, jobId: keep ? ui.jobId : (shown[0]?.id ?? ui.jobId) };
}

export function derive(ui: UiState, snap: TuiSnapshot, proxySnap: MonitorSnapshot, backend: TuiBackend) {
  const jobs = filterJobs(snap.jobs, ui.filter);
  const found = ui.jobId === undefined ? -1 : jobs.findIndex((j) => j.id === ui.jobId);
  const jobIndex = found >= 0 ? found : 0;
  const job = jobs[jobIndex];
  const proxies = proxySnap.proxies;
  const proxyIndex = Math.min(ui.sel.proxies, Math.max(0, proxies.length - 1));
  const proxy = proxies[proxyIndex]?.stats.name;
  const mix = proxy ? backend.proxies.mixOf(proxy) : undefined;
  const pending = ui.pending && ui.pending.proxy === proxy && ui.pending.until > Date.now() ? ui.pending.rows : undefined;
  const behaviorRows = pending ?? (mix ? mixRows(mix, backend.proxies.behaviorNames()) : []);
  const behaviorIndex = Math.min(ui.sel.behaviors, Math.max(0, behaviorRows.length - 1));
  const lines = job ? (ui.details ? job.details : snap.output(job.id)) : [];
  return { jobs, jobIndex, job, proxies, proxyIndex, proxy, mix, behaviorRows, behaviorIndex, lines };
}

export type Derived = ReturnType<typeof derive>;
