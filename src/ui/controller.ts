/**
 * One key dispatcher for the control center: the open dialog first, then the keys that work
 * everywhere, then the focused pane's (pane-keys.ts). Every action is one backend call; its
 * outcome goes to the message log. No React here: App feeds keys in and renders the state.
 */
import { resolveJobId } from '../core/queue-types.js';
import { PRESETS } from '../proxy/presets.js';
import type { JobRow } from './backend.js';
import { note, outcome, type Ctx } from './ctx.js';
import { parseCommand, COMMAND_HELP, type Command } from './commands.js';
import { helpLines, PANE_ORDER, type KeyFlags } from './keys.js';
import { layout, overlayRows, overlayWidth } from './layout.js';
import { messageLines } from './message-log.js';
import { rowsToSpec } from './mix-editor.js';
import { completePath } from './path-complete.js';
import { askCancel, paneKey, replayJob, retryJob } from './pane-keys.js';
import { closeDetails, derive, type Derived, type Modal, type UiState } from './ui-state.js';

export function handleKey(ctx: Ctx, input: string, key: KeyFlags): void {
  const s = ctx.ui();
  const d = derive(s, ctx.backend.getSnapshot(), ctx.backend.proxies.getSnapshot(), ctx.backend);
  if (key.ctrl && input === 'c') return ctx.quit(true);
  if (s.modal) return modalKey(ctx, s.modal, d, input, key);
  if (input === '?') return ctx.set({ modal: { kind: 'help', top: 0 } });
  if (input === 'm') return ctx.set({ modal: { kind: 'messages' } });
  if (input === ':') return ctx.set({ modal: { kind: 'prompt', purpose: 'command', label: ':', value: '', hint: COMMAND_HELP, onSubmit: (v) => runCommand(ctx, v) } });
  if (input === 'q') return askQuit(ctx);
  if (/^[1-5]$/.test(input)) return ctx.set({ focus: PANE_ORDER[Number(input) - 1] });
  if (key.escape) return ctx.set({ filter: '', queueTop: s.filter ? undefined : s.queueTop, ...closeDetails(s) });
  if (key.tab) {
    const i = PANE_ORDER.indexOf(s.focus);
    return ctx.set({ focus: PANE_ORDER[(i + (key.shift ? PANE_ORDER.length - 1 : 1)) % PANE_ORDER.length] });
  }
  paneKey(ctx, d, input, key);
}

function askQuit(ctx: Ctx): void {
  // Only this process's jobs: one another process runs (a worker, a first control center, a team
  // queue's other worker) goes on without it, and a second control center asked to interrupt it.
  const runningHere = () => ctx.backend.getSnapshot().jobs.some((j) => j.runsHere);
  if (!runningHere()) return ctx.quit(false);
  // Asked again at the answer: a job that ended while the question was open was not interrupted (exit 0, not 130).
  ctx.set({ modal: { kind: 'confirm', question: 'A job is running. Quit and mark it interrupted?', onYes: () => ctx.quit(runningHere()), yesKey: 'q' } });
}

/** Lines a help or message list scrolls by with PgUp/PgDn. */
const page = (ctx: Ctx) => Math.max(1, layout(ctx.size().columns, ctx.size().rows).body - 5);

function scrollKey(ctx: Ctx, input: string, key: KeyFlags): number | 'top' | 'bottom' | undefined {
  if (input === 'j' || key.downArrow) return 1;
  if (input === 'k' || key.upArrow) return -1;
  if (key.pageDown || input === ' ') return page(ctx);
  if (key.pageUp) return -page(ctx);
  if (input === 'g' || key.home) return 'top';
  if (input === 'G' || key.end) return 'bottom';
  return undefined;
}

function modalKey(ctx: Ctx, modal: Modal, d: Derived, input: string, key: KeyFlags): void {
  const close = () => ctx.set({ modal: undefined });
  switch (modal.kind) {
    case 'help':
    case 'messages': {
      if (key.escape || input === 'q' || (modal.kind === 'help' && input === '?') || (modal.kind === 'messages' && input === 'm')) return close();
      const by = scrollKey(ctx, input, key);
      if (by === undefined) return;
      const l = layout(ctx.size().columns, ctx.size().rows);
      const total = modal.kind === 'help' ? helpLines(ctx.ui().focus, overlayWidth(l.columns)).length : messageLines(ctx.backend.messages.getSnapshot(), overlayWidth(l.columns)).length;
      const max = Math.max(0, total - overlayRows(l.body));
      const from = modal.top ?? max;
      const top = by === 'top' ? 0 : by === 'bottom' ? max : Math.max(0, Math.min(max, from + by));
      // The message log follows its newest end while it is there.
      return ctx.set({ modal: modal.kind === 'help' ? { kind: 'help', top } : { kind: 'messages', top: top >= max ? undefined : top } });
    }
    case 'confirm':
      // Only the question's own keys: a q meant to leave must not cancel a job or break a proxy.
      if (input === 'y' || (modal.yesKey !== undefined && input === modal.yesKey)) {
        close();
        modal.onYes();
      } else if (input === 'n' || key.escape) close();
      return;
    case 'preset': {
      close();
      const preset = PRESETS.find((p) => p.key === input);
      if (preset) applyPreset(ctx, d, modal.proxy, preset.name);
      else if (!key.escape) note(ctx, `no preset on "${input}": p then a digit 0-9`, 'warn');
      return;
    }
    case 'prompt': {
      if (key.escape) return close();
      if (key.return) {
        close();
        return modal.onSubmit(modal.value.trim());
      }
      const typed = (value: string) => ctx.set({ modal: { ...modal, value, hint: modal.hintFor?.(value) ?? modal.hint } });
      if (key.backspace || key.delete) return typed(modal.value.slice(0, -1));
      if (key.tab && modal.purpose === 'enqueue') {
        const c = completePath(modal.value, ctx.backend.cwd, ctx.backend.enqueueSuggestions());
        const hint = c.candidates.length ? c.candidates.slice(0, 8).join('  ') + (c.candidates.length > 8 ? `  … ${c.candidates.length - 8} more` : '') : (modal.hintFor?.(c.value) ?? modal.hint);
        return ctx.set({ modal: { ...modal, value: c.value, hint } });
      }
      if (input && !key.ctrl && !key.meta && !key.tab) typed(modal.value + input);
      return;
    }
  }
}

/** A preset on a proxy; one that breaks things asks first when the proxy carries a running job. */
export function applyPreset(ctx: Ctx, d: Derived, proxy: string, name: string): void {
  const preset = PRESETS.find((p) => p.name === name)!;
  const apply = () => {
    const mix = proxy === d.proxy ? d.behaviorRows : undefined;
    ctx.set((x) => ({ undo: mix ? [...x.undo.slice(-49), { proxy, spec: rowsToSpec(mix) }] : x.undo, pending: undefined }));
    outcome(ctx, ctx.backend.proxies.setMix(proxy, preset.mix), `${proxy}: preset ${preset.name} (${preset.description})`);
  };
  const job = ctx.backend.proxies.carrier(proxy);
  if (preset.name === 'normal' || !job) return apply();
  ctx.set({ modal: { kind: 'confirm', question: `Apply preset ${preset.name} (${preset.description}) to ${proxy}, under running job ${job}?`, onYes: apply } });
}

/** A typed id or prefix, resolved as the queue resolves it among the jobs shown: the job named as the Queue's keys name it. */
function typedJob(ctx: Ctx, typed: string): JobRow | undefined {
  const jobs = ctx.backend.getSnapshot().jobs;
  try {
    const id = resolveJobId(typed, new Set(jobs.map((j) => j.id)));
    return jobs.find((j) => j.id === id);
  } catch (e) {
    note(ctx, `error: ${(e as Error).message}`, 'error');
    return undefined;
  }
}

function runCommand(ctx: Ctx, line: string): void {
  if (!line) return;
  const c: Command | { error: string } = parseCommand(line);
  if ('error' in c) return note(ctx, c.error, 'error');
  const d = derive(ctx.ui(), ctx.backend.getSnapshot(), ctx.backend.proxies.getSnapshot(), ctx.backend);
  switch (c.kind) {
    case 'enqueue':
      return outcome(ctx, ctx.backend.enqueue(c.target), `enqueued ${c.target}`);
    case 'cancel':
    case 'retry':
    case 'replay': {
      // The job the engine would act on, named as the Queue's keys name it; a bad id, said as the engine says it.
      const job = typedJob(ctx, c.job);
      if (!job) return;
      return c.kind === 'cancel' ? askCancel(ctx, job) : c.kind === 'retry' ? retryJob(ctx, job) : replayJob(ctx, job);
    }
    case 'preset':
      if (!d.proxy) return note(ctx, 'no proxy running: a preset needs one', 'error');
      return applyPreset(ctx, d, d.proxy, c.name);
    case 'messages':
      return ctx.set({ modal: { kind: 'messages' } });
    case 'help':
      return ctx.set({ modal: { kind: 'help', top: 0 } });
    case 'quit':
      return askQuit(ctx);
  }
}
