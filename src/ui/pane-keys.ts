/**
 * The focused pane's keys: Queue (jobs), Nodes, Proxies and Behaviors (live tuning), Output
 * (scroll, search, wrap, follow). Each action is one backend call; outcomes go to the messages.
 */
import { nothingToCancel } from '../core/queue-types.js';
import type { JobRow } from './backend.js';
import type { MixSpec } from '../proxy/mix.js';
import { emptyProxies } from './empty-proxies.js';
import { scheduleLine } from './schedule-line.js';
import type { KeyFlags } from './keys.js';
import { layout, queueRows } from './layout.js';
import { adjust, rowsToSpec, type MixRow } from './mix-editor.js';
import { findNext, OUTPUT_START, scroll, tailTop } from './output-view.js';
import { listWindow } from './queue-row.js';
import { note, outcome, type Ctx } from './ctx.js';
import { applyFilter, closeDetails, openDetails, type Derived } from './ui-state.js';

const STEP = 5;

export function paneKey(ctx: Ctx, d: Derived, input: string, key: KeyFlags): void {
  const down = input === 'j' || !!key.downArrow;
  const up = input === 'k' || !!key.upArrow;
  switch (ctx.ui().focus) {
    case 'queue':
      if (down || up) return selectJob(ctx, d, down ? 1 : -1);
      // A long history (jobs stay listed once ended): a page, the newest or the oldest in one key.
      if (key.pageDown || key.pageUp) return selectJob(ctx, d, (key.pageDown ? 1 : -1) * Math.max(1, queueRows(layout(ctx.size().columns, ctx.size().rows).topH) - 1));
      if (input === 'g' || key.home) return selectJob(ctx, d, -d.jobs.length);
      if (input === 'G' || key.end) return selectJob(ctx, d, d.jobs.length);
      if (key.return) return toggleDetails(ctx);
      if (input === 'e') return askEnqueue(ctx);
      if (input === 'c') return askCancel(ctx, d.job);
      if (input === 'r' && d.job) return retryJob(ctx, d.job);
      if (input === '/') {
        return ctx.set({ modal: { kind: 'prompt', purpose: 'filter', label: 'filter:', value: ctx.ui().filter, onSubmit: (v) => ctx.set((x) => applyFilter(x, v, ctx.backend.getSnapshot().jobs)) } });
      }
      return jobKey(ctx, d, input);
    case 'nodes':
      return nodeKey(ctx, down, up, input);
    case 'proxies':
    case 'behaviors':
      return proxyKey(ctx, d, down, up, input, key);
    case 'output':
      return outputKey(ctx, d, down, up, input, key);
  }
}

/** Another job: its output from the tail, wrapped as the user last chose for output (not as details are). */
function selectJob(ctx: Ctx, d: Derived, by: number): void {
  const at = Math.max(0, Math.min(d.jobs.length - 1, d.jobIndex + by));
  const next = d.jobs[at];
  const ui = ctx.ui();
  const wrap = (ui.details ? ui.beforeDetails?.wrap : ui.output.wrap) ?? false;
  const visible = queueRows(layout(ctx.size().columns, ctx.size().rows).topH);
  const queueTop = listWindow(listWindow(ui.queueTop, d.jobIndex, d.jobs.length, visible), at, d.jobs.length, visible);
  if (next && next.id !== d.job?.id) ctx.set({ jobId: next.id, queueTop, output: { ...OUTPUT_START, wrap }, details: false, beforeDetails: undefined });
}

function toggleDetails(ctx: Ctx): void {
  const ui = ctx.ui();
  ctx.set(ui.details ? closeDetails(ui) : openDetails(ui));
}

function askEnqueue(ctx: Ctx): void {
  const suggestions = ctx.backend.enqueueSuggestions();
  // What tab gives with nothing typed; once something is, tab completes that instead.
  const hintFor = (value: string) => `tab completes a path from ${ctx.backend.cwd}${suggestions.length && !value ? `; tab now: ${suggestions[0]}` : ''} · or a git URL`;
  ctx.set({
    modal: {
      kind: 'prompt',
      purpose: 'enqueue',
      label: 'enqueue:',
      value: '',
      hint: hintFor(''),
      hintFor,
      onSubmit: (v) => {
        if (v) outcome(ctx, ctx.backend.enqueue(v), `enqueued ${v}`);
      },
    },
  });
}

/** Cancel after a y, from the Queue's c and from :cancel ID alike: a typed prefix may name another job than meant. */
export function askCancel(ctx: Ctx, job: JobRow | undefined): void {
  if (!job) return;
  if (job.state !== 'queued' && job.state !== 'running') return note(ctx, nothingToCancel(job.id, job.state));
  ctx.set({ modal: { kind: 'confirm', question: `Cancel job ${job.id.slice(0, 8)} (${job.name}, ${job.state})?`, onYes: () => outcome(ctx, ctx.backend.cancel(job.id), `cancelled ${job.id.slice(0, 8)} ${job.name}`) } });
}

/** Retry with a new seed, from the Queue's r and from :retry ID alike, naming the job retried and the new one. */
export function retryJob(ctx: Ctx, job: JobRow): void {
  outcome(ctx, ctx.backend.retry(job.id), (r) => `retrying ${job.name} (${job.id.slice(0, 8)}) with a new seed as job ${r.id.slice(0, 8)}`);
}

/** Replay with the recorded seed, from R and from :replay ID alike. */
export function replayJob(ctx: Ctx, job: JobRow): void {
  outcome(ctx, ctx.backend.replay(job.id), (r) => `replaying ${job.name} (${job.id.slice(0, 8)}) with seed ${r.seed} as job ${r.id.slice(0, 8)}`);
}

/** Keys on the selected job that work from the Queue and the Output pane: report, copy, replay. */
function jobKey(ctx: Ctx, d: Derived, input: string): void {
  const job = d.job;
  if (!job || !['o', 'y', 'R'].includes(input)) return;
  if (input === 'R') return replayJob(ctx, job);
  const report = ctx.backend.reportOf(job.id);
  if ('none' in report) {
    if (input === 'y') {
      ctx.copy(job.resultDir);
      // What was copied first: the message line cuts at its width, and the reason is the lesser news.
      return note(ctx, `copied the results directory ${job.resultDir} (${report.none})`, 'warn');
    }
    return note(ctx, report.none, 'warn');
  }
  if (input === 'y') {
    ctx.copy(report.path);
    return note(ctx, `copied ${report.path} (OSC 52: your terminal puts it on the clipboard)`);
  }
  outcome(ctx, ctx.backend.openInBrowser(report.path), `opened ${report.path}`);
}

function nodeKey(ctx: Ctx, down: boolean, up: boolean, input: string): void {
  const nodes = ctx.backend.getSnapshot().nodes;
  const i = ctx.ui().sel.nodes;
  const node = nodes[i];
  if (down || up) ctx.set((x) => ({ sel: { ...x.sel, nodes: Math.max(0, Math.min(nodes.length - 1, i + (down ? 1 : -1))) } }));
  else if (input === ' ' && node) {
    const enable = node.state === 'disabled';
    outcome(ctx, ctx.backend.setNodeEnabled(node.name, enable), `${node.name} ${enable ? 'enabled' : 'disabled'}`);
  }
}

function proxyKey(ctx: Ctx, d: Derived, down: boolean, up: boolean, input: string, key: KeyFlags): void {
  const focus = ctx.ui().focus;
  if (down || up) {
    const [pane, at, length] = focus === 'proxies' ? (['proxies', d.proxyIndex, d.proxies.length] as const) : (['behaviors', d.behaviorIndex, d.behaviorRows.length] as const);
    return ctx.set((x) => ({ sel: { ...x.sel, [pane]: Math.max(0, Math.min(length - 1, at + (down ? 1 : -1))) } }));
  }
  if (!d.proxy) {
    if (['p', 's', 'u', 'x', '+', '-', '='].includes(input) || key.leftArrow || key.rightArrow) note(ctx, emptyProxies(d.job, d.jobs.length > 0), 'warn');
    return;
  }
  const proxy = d.proxy;
  if (input === 'p') return ctx.set({ modal: { kind: 'preset', proxy } });
  if (input === 's') return toggleSchedule(ctx, proxy);
  if (input === 'u') return undo(ctx);
  const row = d.behaviorRows[d.behaviorIndex];
  if (focus !== 'behaviors' || !row || !d.mix) return;
  const raise = !!key.rightArrow || input === '+' || input === '=';
  if (!raise && !key.leftArrow && input !== '-' && input !== 'x') return;
  const delta = raise ? STEP : input === 'x' ? -row.percent : -STEP;
  const next = adjust(d.behaviorRows, row.name, delta);
  const pct = next.find((r) => r.name === row.name)!.percent;
  if (pct !== row.percent) return applyRows(ctx, d, proxy, rowsToSpec(next), `${row.name} ${pct}%`, next);
  // A key that changes nothing says why, as undo with nothing to undo does: a silent key reads as a broken one.
  note(ctx, raise ? `${proxy}: ${row.name} stays ${pct}%: nothing passes through to take from (pass 0%); lower another behavior first` : `${proxy}: ${row.name} is already 0%`);
}

function applyRows(ctx: Ctx, d: Derived, proxy: string, spec: MixSpec, label: string, rows: MixRow[]): void {
  ctx.set((x) => ({ undo: [...x.undo.slice(-49), { proxy, spec: rowsToSpec(d.behaviorRows) }], pending: { proxy, rows, until: Date.now() + 2000 } }));
  outcome(ctx, ctx.backend.proxies.setMix(proxy, spec), `${proxy}: ${label}`);
}

function toggleSchedule(ctx: Ctx, proxy: string): void {
  const schedule = ctx.backend.getSnapshot().schedules.find((x) => x.proxy === proxy);
  if (!schedule || !scheduleLine(schedule, Date.now())) return note(ctx, `${proxy}: no chaos scenario runs on it`);
  if (schedule.paused) outcome(ctx, ctx.backend.proxies.resumeChaos(proxy), `${proxy}: scenario resumed`);
  else outcome(ctx, ctx.backend.proxies.pauseChaos(proxy), `${proxy}: scenario paused`);
}

function undo(ctx: Ctx): void {
  const last = ctx.ui().undo.at(-1);
  if (!last) return note(ctx, 'nothing to undo');
  ctx.set((x) => ({ undo: x.undo.slice(0, -1), pending: undefined }));
  outcome(ctx, ctx.backend.proxies.setMix(last.proxy, last.spec), `${last.proxy}: undone`);
}

function outputKey(ctx: Ctx, d: Derived, down: boolean, up: boolean, input: string, key: KeyFlags): void {
  const { outRows, outWidth } = layout(ctx.size().columns, ctx.size().rows);
  const view = ctx.ui().output;
  const move = (by: number) => ctx.set({ output: scroll(d.lines, view, by, outRows, outWidth) });
  if (down || up) return move(down ? 1 : -1);
  if (key.pageDown || input === ' ') return move(outRows - 1);
  if (key.pageUp) return move(-(outRows - 1));
  if (input === 'g' || key.home) return ctx.set({ output: { ...view, top: 0 } });
  if (input === 'G' || key.end) return ctx.set({ output: { ...view, top: undefined } });
  if (input === 'f') return ctx.set({ output: { ...view, top: view.top === undefined ? tailTop(d.lines, outRows, outWidth, view.wrap) : undefined } });
  if (input === 'w') return ctx.set({ output: { ...view, wrap: !view.wrap } });
  if (input === 'n' || input === 'N') {
    if (!view.search) return note(ctx, 'no search yet: / then the text');
    const next = findNext(d.lines, view, input === 'n' ? 1 : -1, outRows, outWidth);
    if (next.match === undefined) note(ctx, `"${view.search}" is not in the output`, 'warn');
    return ctx.set({ output: next });
  }
  if (input === '/') {
    return ctx.set({
      modal: {
        kind: 'prompt',
        purpose: 'search',
        label: 'search:',
        value: '',
        hint: 'enter finds the next match; n / N then move between matches',
        onSubmit: (v) => {
          const cur = ctx.ui().output;
          const next = findNext(d.lines, { ...cur, search: v, match: undefined }, 1, outRows, outWidth);
          if (v && next.match === undefined) note(ctx, `"${v}" is not in the output`, 'warn');
          ctx.set({ output: next });
        },
      },
    });
  }
  if (key.return) return toggleDetails(ctx);
  jobKey(ctx, d, input);
}
