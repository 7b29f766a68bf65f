/**
 * The control center: Queue, Nodes, Proxies, Behaviors and Output panes, a header, a footer of
 * the focused pane's keys, a help overlay and dialogs. One key dispatcher, modal first; every
 * action is one backend (engine) call.
 */
import { Box, Text, useApp, useInput } from 'ink';
import { useCallback, useEffect, useReducer, useRef, useState, useSyncExternalStore } from 'react';
import type { MixSpec } from '../proxy/mix.js';
import { PRESETS } from '../proxy/presets.js';
import type { MonitorSnapshot } from '../proxy/monitor.js';
import type { TuiBackend, TuiSnapshot } from './backend.js';
import { ConfirmDialog, PromptDialog } from './components/Dialog.js';
import { HelpOverlay } from './components/HelpOverlay.js';
import { useTerminalSize } from './hooks.js';
import { footerHints, PANE_ORDER, splitKeys, type KeyFlags, type PaneId } from './keys.js';
import { adjust, mixRows, rowsToSpec, type MixRow } from './mix-editor.js';
import { BehaviorsPane } from './panes/BehaviorsPane.js';
import { NodesPane } from './panes/NodesPane.js';
import { OutputPane } from './panes/OutputPane.js';
import { ProxiesPane } from './panes/ProxiesPane.js';
import { QueuePane } from './panes/QueuePane.js';
import { scheduleLine } from './schedule-line.js';
import { color } from './theme.js';

type Modal =
  | { kind: 'help' }
  | { kind: 'confirm'; question: string; onYes: () => void }
  | { kind: 'prompt'; label: string; value: string; hint?: string; suggestion?: string; onSubmit: (v: string) => void };

const STEP = 5;
export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;

interface UiState {
  focus: PaneId;
  sel: { queue: number; nodes: number; proxies: number; behaviors: number };
  /** Output lines scrolled up from the tail (0: follow). */
  scroll: number;
  details: boolean;
  filter: string;
  modal?: Modal;
  undo: { proxy: string; spec: MixSpec }[];
  note?: { text: string; at: number };
  /**
   * The mix just asked for, shown and edited on until the proxy reports it (a mix change is
   * applied asynchronously; keys pressed meanwhile must build on it, not on the old mix).
   */
  pending?: { proxy: string; rows: MixRow[]; until: number };
}

const INITIAL: UiState = { focus: 'queue', sel: { queue: 0, nodes: 0, proxies: 0, behaviors: 0 }, scroll: 0, details: false, filter: '', undo: [] };

/** What the panes show, derived from the UI state and the latest snapshots. */
function derive(ui: UiState, snap: TuiSnapshot, proxySnap: MonitorSnapshot, backend: TuiBackend) {
  const jobs = ui.filter ? snap.jobs.filter((j) => `${j.id} ${j.name} ${j.state}`.toLowerCase().includes(ui.filter.toLowerCase())) : snap.jobs;
  const jobIndex = Math.min(ui.sel.queue, Math.max(0, jobs.length - 1));
  const proxies = proxySnap.proxies;
  const proxyIndex = Math.min(ui.sel.proxies, Math.max(0, proxies.length - 1));
  const proxy = proxies[proxyIndex]?.stats.name;
  const mix = proxy ? backend.proxies.mixOf(proxy) : undefined;
  const pending = ui.pending && ui.pending.proxy === proxy && ui.pending.until > Date.now() ? ui.pending.rows : undefined;
  const behaviorRows = pending ?? (mix ? mixRows(mix, backend.proxies.behaviorNames()) : []);
  const behaviorIndex = Math.min(ui.sel.behaviors, Math.max(0, behaviorRows.length - 1));
  return { jobs, jobIndex, job: jobs[jobIndex], proxies, proxyIndex, proxy, mix, behaviorRows, behaviorIndex };
}

export function App(props: { backend: TuiBackend; title?: string; onQuit: (interrupt: boolean) => void }) {
  const { backend, onQuit } = props;
  const { exit } = useApp();
  const snap = useSyncExternalStore(backend.subscribe, backend.getSnapshot);
  const proxySnap = useSyncExternalStore(backend.proxies.subscribe, backend.proxies.getSnapshot);
  const { columns, rows } = useTerminalSize();
  // Keys can arrive faster than React re-renders: the handler reads and writes this ref, never a
  // stale closure, and each change asks for a render.
  const ui = useRef<UiState>(INITIAL);
  const [, rerender] = useReducer((x: number) => x + 1, 0);
  const set = useCallback((patch: Partial<UiState> | ((s: UiState) => Partial<UiState>)) => {
    ui.current = { ...ui.current, ...(typeof patch === 'function' ? patch(ui.current) : patch) };
    rerender();
  }, []);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const report = useCallback((p: Promise<unknown>, done?: string) => {
    p.then(
      () => { if (done) set({ note: { text: done, at: Date.now() } }); },
      (e: Error) => set({ note: { text: `error: ${e.message}`, at: Date.now() } }),
    );
  }, [set]);

  const quit = (interrupt: boolean) => {
    onQuit(interrupt);
    exit();
  };

  useInput((input, key) => {
    if (input.length > 1) for (const k of splitKeys(input)) handleKey(k.input, k.key);
    else handleKey(input, key);
  });

  function handleKey(input: string, key: KeyFlags): void {
    const s = ui.current;
    const d = derive(s, backend.getSnapshot(), backend.proxies.getSnapshot(), backend);
    const modal = s.modal;
    if (key.ctrl && input === 'c') return quit(true);
    if (modal?.kind === 'help') {
      if (key.escape || input === '?' || input === 'q') set({ modal: undefined });
      return;
    }
    if (modal?.kind === 'confirm') {
      if (input === 'y' || input === 'q') {
        set({ modal: undefined });
        modal.onYes();
      } else if (input === 'n' || key.escape) set({ modal: undefined });
      return;
    }
    if (modal?.kind === 'prompt') {
      if (key.escape) set({ modal: undefined });
      else if (key.return) {
        set({ modal: undefined });
        modal.onSubmit(modal.value.trim());
      } else if (key.backspace || key.delete) set({ modal: { ...modal, value: modal.value.slice(0, -1) } });
      else if (key.tab && modal.suggestion) set({ modal: { ...modal, value: modal.suggestion } });
      else if (input && !key.ctrl && !key.meta) set({ modal: { ...modal, value: modal.value + input } });
      return;
    }
    if (input === '?') return set({ modal: { kind: 'help' } });
    if (input === 'q') {
      if (!backend.getSnapshot().jobs.some((j) => j.state === 'running')) return quit(false);
      return set({ modal: { kind: 'confirm', question: 'A job is running. Quit and mark it interrupted?', onYes: () => quit(true) } });
    }
    if (key.escape) return set({ filter: '', details: false });
    if (key.tab) {
      const i = PANE_ORDER.indexOf(s.focus);
      return set({ focus: PANE_ORDER[(i + (key.shift ? PANE_ORDER.length - 1 : 1)) % PANE_ORDER.length] });
    }
    const down = input === 'j' || key.downArrow;
    const up = input === 'k' || key.upArrow;
    const move = (pane: keyof UiState['sel'], current: number, length: number) =>
      set((x) => ({ sel: { ...x.sel, [pane]: Math.max(0, Math.min(length - 1, current + (down ? 1 : -1))) } }));
    const applyMix = (spec: MixSpec, label: string, rows?: MixRow[]) => {
      if (!d.proxy || !d.mix) return;
      const proxy = d.proxy;
      set((x) => ({
        undo: [...x.undo.slice(-49), { proxy, spec: rowsToSpec(d.behaviorRows) }],
        pending: rows ? { proxy, rows, until: Date.now() + 2000 } : undefined,
      }));
      report(backend.proxies.setMix(proxy, spec), `${proxy}: ${label}`);
    };
    const job = d.job;
    switch (s.focus) {
      case 'queue':
        if (down || up) {
          move('queue', d.jobIndex, d.jobs.length);
          set({ scroll: 0 });
        } else if (key.return) set({ details: !s.details });
        else if (input === 'e') {
          const suggestions = backend.enqueueSuggestions();
          set({
            modal: {
              kind: 'prompt',
              label: 'enqueue:',
              value: '',
              suggestion: suggestions[0],
              hint: suggestions.length ? `tab: ${suggestions[0]}${suggestions.length > 1 ? ` (also ${suggestions.slice(1, 4).join(', ')})` : ''}` : 'a directory, a .marteau.yml or a git URL',
              onSubmit: (v) => { if (v) report(backend.enqueue(v), `enqueued ${v}`); },
            },
          });
        } else if (input === 'c' && job) {
          if (job.state === 'queued' || job.state === 'running') {
            set({ modal: { kind: 'confirm', question: `Cancel job ${job.id.slice(0, 8)} (${job.name}, ${job.state})?`, onYes: () => report(backend.cancel(job.id), `cancelled ${job.id.slice(0, 8)}`) } });
          } else set({ note: { text: `job ${job.id.slice(0, 8)} is ${job.state}: nothing to cancel`, at: Date.now() } });
        } else if (input === 'r' && job) report(backend.retry(job.id), `retrying ${job.name}`);
        else if (input === '/') set({ modal: { kind: 'prompt', label: 'filter:', value: s.filter, onSubmit: (v) => set((x) => ({ filter: v, sel: { ...x.sel, queue: 0 } })) } });
        break;
      case 'nodes': {
        const nodes = backend.getSnapshot().nodes;
        const node = nodes[s.sel.nodes];
        if (down || up) move('nodes', s.sel.nodes, nodes.length);
        else if (input === ' ' && node) {
          const enable = node.state === 'disabled';
          report(backend.setNodeEnabled(node.name, enable), `${node.name} ${enable ? 'enabled' : 'disabled'}`);
        }
        break;
      }
      case 'proxies':
      case 'behaviors': {
        if (down || up) {
          if (s.focus === 'proxies') move('proxies', d.proxyIndex, d.proxies.length);
          else move('behaviors', d.behaviorIndex, d.behaviorRows.length);
          break;
        }
        const preset = PRESETS.find((p) => p.key === input);
        if (preset) {
          applyMix(preset.mix, `preset ${preset.name}`);
          break;
        }
        if (input === 'p' && d.proxy) {
          const schedule = backend.getSnapshot().schedules.find((x) => x.proxy === d.proxy);
          if (!scheduleLine(schedule, Date.now())) set({ note: { text: `${d.proxy}: no chaos scenario runs on it`, at: Date.now() } });
          else if (!schedule) break;
          else if (schedule.paused) report(backend.proxies.resumeChaos(d.proxy), `${d.proxy}: scenario resumed`);
          else report(backend.proxies.pauseChaos(d.proxy), `${d.proxy}: scenario paused`);
          break;
        }
        if (input === 'u') {
          const last = s.undo[s.undo.length - 1];
          if (!last) {
            set({ note: { text: 'nothing to undo', at: Date.now() } });
            break;
          }
          set((x) => ({ undo: x.undo.slice(0, -1), pending: undefined }));
          report(backend.proxies.setMix(last.proxy, last.spec), `${last.proxy}: undone`);
          break;
        }
        const row = d.behaviorRows[d.behaviorIndex];
        if (s.focus === 'behaviors' && row) {
          let delta = 0;
          if (key.rightArrow || input === '+' || input === '=') delta = STEP;
          else if (key.leftArrow || input === '-') delta = -STEP;
          else if (input === 'x') delta = -row.percent;
          if (delta) {
            const next = adjust(d.behaviorRows, row.name, delta);
            const pct = next.find((r) => r.name === row.name)!.percent;
            if (pct !== row.percent) applyMix(rowsToSpec(next), `${row.name} ${pct}%`, next);
          }
        }
        break;
      }
      case 'output': {
        const lines = job ? backend.getSnapshot().output(job.id) : [];
        if (up) set((x) => ({ scroll: Math.min(Math.max(0, lines.length - 1), x.scroll + 1) }));
        else if (down) set((x) => ({ scroll: Math.max(0, x.scroll - 1) }));
        else if (input === 'G') set({ scroll: 0 });
        else if (input === 'g') set({ scroll: Math.max(0, lines.length - 1) });
        break;
      }
    }
  }

  const { focus, scroll, details, filter, modal, note } = ui.current;
  const { jobs, jobIndex, job, proxies, proxyIndex, proxy, behaviorRows, behaviorIndex } = derive(ui.current, snap, proxySnap, backend);
  const running = snap.jobs.some((j) => j.state === 'running');

  if (columns < MIN_COLUMNS || rows < MIN_ROWS) {
    return <Text>Terminal too small ({columns}×{rows}): marteau-tui needs {MIN_COLUMNS}×{MIN_ROWS}. q quits.</Text>;
  }

  // Never let the frame reach the terminal's height (Ink repaints everything then, and flickers).
  const height = rows - 1;
  const body = height - 2;
  const topH = Math.max(6, Math.floor(body * 0.3));
  const midH = Math.max(8, Math.floor(body * 0.36));
  const outH = body - topH - midH;
  const left = Math.floor(columns * 0.58);
  const right = columns - left;
  const counts = snap.jobs.reduce<Record<string, number>>((a, j) => ({ ...a, [j.state]: (a[j.state] ?? 0) + 1 }), {});
  const faults = proxies.reduce((s, p) => s + Object.entries(p.stats.behaviors).reduce((t, [n, c]) => t + (n === 'dummy' ? 0 : c), 0), 0);
  // Early in the line: a narrow terminal truncates the end, and an offline queue must show.
  const team = snap.queue?.online === false ? ' · queue offline (reconnecting)' : snap.queue?.label ? ` · team ${snap.queue.label}` : '';
  const header = `marteau-tui${props.title ? ` · ${props.title}` : ''}${team} · ${running ? 'running' : 'idle'} · jobs ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' ') || '0'} · proxies ${proxies.length} · faults ${faults}`;
  const overlayW = Math.min(columns - 4, 90);
  // The newest of the last action's result and the engine's news (a job's end and its report).
  const news = note && (!snap.message || note.at >= snap.message.at) ? note : snap.message;

  return (
    <Box flexDirection="column" width={columns} height={height}>
      <Box justifyContent="space-between" width={columns - 1}>
        <Text bold color={color('accent')} wrap="truncate-end">{header}</Text>
        <Text color={news?.text.startsWith('error') ? color('fault') : color('dim')} wrap="truncate-start">{news?.text ?? ''}</Text>
      </Box>
      {modal?.kind === 'help' ? (
        <HelpOverlay focused={focus} width={columns - 1} height={body} />
      ) : (
        <Box flexDirection="column" height={body}>
          <Box height={topH}>
            <QueuePane jobs={jobs} selected={jobIndex} focused={focus === 'queue'} height={topH} width={left} filter={filter} now={now} />
            <NodesPane nodes={snap.nodes} selected={ui.current.sel.nodes} focused={focus === 'nodes'} height={topH} width={right} />
          </Box>
          <Box height={midH}>
            <ProxiesPane proxies={proxies} selected={proxyIndex} focused={focus === 'proxies'} height={midH} width={left} />
            <BehaviorsPane proxy={proxy} rows={behaviorRows} schedule={scheduleLine(snap.schedules.find((x) => x.proxy === proxy), now)} selected={behaviorIndex} focused={focus === 'behaviors'} height={midH} width={right} />
          </Box>
          {modal?.kind === 'confirm' ? (
            <ConfirmDialog question={modal.question} width={overlayW} />
          ) : modal?.kind === 'prompt' ? (
            <PromptDialog label={modal.label} value={modal.value} hint={modal.hint} width={overlayW} />
          ) : (
            <OutputPane job={job?.name} lines={job ? (details ? job.details : snap.output(job.id)) : []} scroll={details ? 0 : scroll} details={details && !!job} focused={focus === 'output'} height={outH} width={columns} />
          )}
        </Box>
      )}
      <Text color={color('key')} wrap="truncate-end">{footerHints(focus).slice(0, columns - 1)}</Text>
    </Box>
  );
}
