/**
 * The control center: Queue, Nodes, Proxies, Behaviors and Output panes, a header, a footer of
 * the focused pane's keys, a help overlay and dialogs. One key dispatcher, modal first; every
 * action is one backend (engine) call.
 */
import { Box, Text, useApp, useInput } from 'ink';
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import type { MixSpec } from '../proxy/mix.js';
import { PRESETS } from '../proxy/presets.js';
import type { TuiBackend } from './backend.js';
import { ConfirmDialog, PromptDialog } from './components/Dialog.js';
import { HelpOverlay } from './components/HelpOverlay.js';
import { useTerminalSize } from './hooks.js';
import { footerHints, PANE_ORDER, type PaneId } from './keys.js';
import { adjust, mixRows, rowsToSpec } from './mix-editor.js';
import { BehaviorsPane } from './panes/BehaviorsPane.js';
import { NodesPane } from './panes/NodesPane.js';
import { OutputPane } from './panes/OutputPane.js';
import { ProxiesPane } from './panes/ProxiesPane.js';
import { QueuePane } from './panes/QueuePane.js';
import { color } from './theme.js';

type Modal =
  | { kind: 'help' }
  | { kind: 'confirm'; question: string; onYes: () => void }
  | { kind: 'prompt'; label: string; value: string; hint?: string; onSubmit: (v: string) => void };

const STEP = 5;
export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;

export function App(props: { backend: TuiBackend; title?: string; onQuit: (interrupt: boolean) => void }) {
  const { backend, onQuit } = props;
  const { exit } = useApp();
  const snap = useSyncExternalStore(backend.subscribe, backend.getSnapshot);
  const proxySnap = useSyncExternalStore(backend.proxies.subscribe, backend.proxies.getSnapshot);
  const { columns, rows } = useTerminalSize();
  const [focus, setFocus] = useState<PaneId>('queue');
  const [sel, setSel] = useState({ queue: 0, nodes: 0, proxies: 0, behaviors: 0 });
  const [scroll, setScroll] = useState(0);
  const [details, setDetails] = useState(false);
  const [filter, setFilter] = useState('');
  const [modal, setModal] = useState<Modal | undefined>();
  const [undo, setUndo] = useState<{ proxy: string; spec: MixSpec }[]>([]);
  const [note, setNote] = useState<string | undefined>();
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const jobs = useMemo(
    () => (filter ? snap.jobs.filter((j) => `${j.id} ${j.name} ${j.state}`.toLowerCase().includes(filter.toLowerCase())) : snap.jobs),
    [snap.jobs, filter],
  );
  const job = jobs[Math.min(sel.queue, jobs.length - 1)];
  const proxies = proxySnap.proxies;
  const proxy = proxies[Math.min(sel.proxies, proxies.length - 1)]?.stats.name;
  const mix = proxy ? backend.proxies.mixOf(proxy) : undefined;
  const behaviorRows = useMemo(() => (mix ? mixRows(mix, backend.proxies.behaviorNames()) : []), [mix, backend]);
  const running = snap.jobs.some((j) => j.state === 'running');

  const report = useCallback((p: Promise<unknown>, done?: string) => {
    p.then(
      () => { if (done) setNote(done); },
      (e: Error) => setNote(`error: ${e.message}`),
    );
  }, []);

  const applyMix = useCallback(
    (spec: MixSpec, label: string) => {
      if (!proxy || !mix) return;
      setUndo((u) => [...u.slice(-49), { proxy, spec: rowsToSpec(mixRows(mix, backend.proxies.behaviorNames())) }]);
      report(backend.proxies.setMix(proxy, spec), `${proxy}: ${label}`);
    },
    [proxy, mix, backend, report],
  );

  const move = (pane: keyof typeof sel, delta: number, length: number) =>
    setSel((s) => ({ ...s, [pane]: Math.max(0, Math.min(length - 1, s[pane] + delta)) }));

  const quit = (interrupt: boolean) => {
    onQuit(interrupt);
    exit();
  };

  useInput((input, key) => {
    if (key.ctrl && input === 'c') return quit(true);
    if (modal?.kind === 'help') {
      if (key.escape || input === '?' || input === 'q') setModal(undefined);
      return;
    }
    if (modal?.kind === 'confirm') {
      if (input === 'y' || input === 'q') {
        setModal(undefined);
        modal.onYes();
      } else if (input === 'n' || key.escape) setModal(undefined);
      return;
    }
    if (modal?.kind === 'prompt') {
      if (key.escape) setModal(undefined);
      else if (key.return) {
        setModal(undefined);
        modal.onSubmit(modal.value.trim());
      } else if (key.backspace || key.delete) setModal({ ...modal, value: modal.value.slice(0, -1) });
      else if (key.tab && modal.hint) setModal({ ...modal, value: modal.hint.replace(/^suggest: /, '').split(' · ')[0] ?? modal.value });
      else if (input && !key.ctrl && !key.meta) setModal({ ...modal, value: modal.value + input });
      return;
    }
    if (input === '?') return setModal({ kind: 'help' });
    if (input === 'q') {
      if (!running) return quit(false);
      return setModal({ kind: 'confirm', question: 'A job is running. Quit and mark it interrupted?', onYes: () => quit(true) });
    }
    if (key.escape) {
      setFilter('');
      setDetails(false);
      return;
    }
    if (key.tab) {
      const i = PANE_ORDER.indexOf(focus);
      setFocus(PANE_ORDER[(i + (key.shift ? PANE_ORDER.length - 1 : 1)) % PANE_ORDER.length]);
      return;
    }
    const down = input === 'j' || key.downArrow;
    const up = input === 'k' || key.upArrow;
    switch (focus) {
      case 'queue':
        if (down || up) {
          move('queue', down ? 1 : -1, jobs.length);
          setScroll(0);
        } else if (key.return) setDetails((d) => !d);
        else if (input === 'e') {
          const suggestions = backend.enqueueSuggestions();
          setModal({
            kind: 'prompt',
            label: 'enqueue:',
            value: '',
            hint: suggestions.length ? `suggest: ${suggestions.slice(0, 4).join(' · ')} (tab takes the first)` : 'a directory, a .marteau.yml or a git URL',
            onSubmit: (v) => { if (v) report(backend.enqueue(v), `enqueued ${v}`); },
          });
        } else if (input === 'c' && job) {
          if (job.state === 'queued' || job.state === 'running') {
            setModal({ kind: 'confirm', question: `Cancel job ${job.id.slice(0, 8)} (${job.name}, ${job.state})?`, onYes: () => report(backend.cancel(job.id), `cancelled ${job.id.slice(0, 8)}`) });
          } else setNote(`job ${job.id.slice(0, 8)} is ${job.state}: nothing to cancel`);
        } else if (input === 'r' && job) report(backend.retry(job.id), `retrying ${job.name}`);
        else if (input === '/') setModal({ kind: 'prompt', label: 'filter:', value: filter, onSubmit: (v) => { setFilter(v); setSel((s) => ({ ...s, queue: 0 })); } });
        break;
      case 'nodes': {
        const node = snap.nodes[sel.nodes];
        if (down || up) move('nodes', down ? 1 : -1, snap.nodes.length);
        else if (input === ' ' && node) {
          const enable = node.state === 'disabled';
          report(backend.setNodeEnabled(node.name, enable), `${node.name} ${enable ? 'enabled' : 'disabled'}`);
        }
        break;
      }
      case 'proxies':
      case 'behaviors': {
        if (focus === 'proxies' && (down || up)) {
          move('proxies', down ? 1 : -1, proxies.length);
          break;
        }
        if (down || up) {
          move('behaviors', down ? 1 : -1, behaviorRows.length);
          break;
        }
        const preset = PRESETS.find((p) => p.key === input);
        if (preset) {
          applyMix(preset.mix, `preset ${preset.name}`);
          break;
        }
        if (input === 'u') {
          const last = undo[undo.length - 1];
          if (!last) {
            setNote('nothing to undo');
            break;
          }
          setUndo((u) => u.slice(0, -1));
          report(backend.proxies.setMix(last.proxy, last.spec), `${last.proxy}: undone`);
          break;
        }
        const row = behaviorRows[sel.behaviors];
        if (focus === 'behaviors' && row) {
          let delta = 0;
          if (key.rightArrow || input === '+' || input === '=') delta = STEP;
          else if (key.leftArrow || input === '-') delta = -STEP;
          else if (input === 'x') delta = -row.percent;
          if (delta) {
            const next = adjust(behaviorRows, row.name, delta);
            const pct = next.find((r) => r.name === row.name)!.percent;
            if (pct !== row.percent) applyMix(rowsToSpec(next), `${row.name} ${pct}%`);
          }
        }
        break;
      }
      case 'output': {
        const lines = job ? snap.output(job.id) : [];
        if (up) setScroll((s) => Math.min(Math.max(0, lines.length - 1), s + 1));
        else if (down) setScroll((s) => Math.max(0, s - 1));
        else if (input === 'G') setScroll(0);
        else if (input === 'g') setScroll(Math.max(0, lines.length - 1));
        break;
      }
    }
  });

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
  const header = `marteau-tui${props.title ? ` · ${props.title}` : ''} · ${running ? 'running' : 'idle'} · jobs ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' ') || '0'} · proxies ${proxies.length} · faults ${faults}`;
  const overlayW = Math.min(columns - 4, 90);

  return (
    <Box flexDirection="column" width={columns} height={height}>
      <Box justifyContent="space-between" width={columns - 1}>
        <Text bold color={color('accent')} wrap="truncate-end">{header}</Text>
        <Text color={note?.startsWith('error') ? color('fault') : color('dim')} wrap="truncate-start">{note ?? snap.message ?? ''}</Text>
      </Box>
      {modal?.kind === 'help' ? (
        <HelpOverlay focused={focus} width={columns - 1} height={body} />
      ) : (
        <Box flexDirection="column" height={body}>
          <Box height={topH}>
            <QueuePane jobs={jobs} selected={Math.min(sel.queue, Math.max(0, jobs.length - 1))} focused={focus === 'queue'} height={topH} width={left} filter={filter} details={details} now={now} />
            <NodesPane nodes={snap.nodes} selected={sel.nodes} focused={focus === 'nodes'} height={topH} width={right} />
          </Box>
          <Box height={midH}>
            <ProxiesPane proxies={proxies} selected={Math.min(sel.proxies, Math.max(0, proxies.length - 1))} focused={focus === 'proxies'} height={midH} width={left} />
            <BehaviorsPane proxy={proxy} rows={behaviorRows} selected={Math.min(sel.behaviors, Math.max(0, behaviorRows.length - 1))} focused={focus === 'behaviors'} height={midH} width={right} />
          </Box>
          {modal?.kind === 'confirm' ? (
            <ConfirmDialog question={modal.question} width={overlayW} />
          ) : modal?.kind === 'prompt' ? (
            <PromptDialog label={modal.label} value={modal.value} hint={modal.hint} width={overlayW} />
          ) : (
            <OutputPane job={job?.name} lines={job ? snap.output(job.id) : []} scroll={scroll} focused={focus === 'output'} height={outH} width={columns} />
          )}
        </Box>
      )}
      <Text color={color('key')} wrap="truncate-end">{footerHints(focus).slice(0, columns - 1)}</Text>
    </Box>
  );
}
