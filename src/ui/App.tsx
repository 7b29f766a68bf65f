/**
 * The control center: Queue, Nodes, Proxies, Behaviors and Output panes, a header of figures,
 * a message line, a footer of the focused pane's keys, overlays (help, messages) and dialogs.
 * Keys go to the controller; this file only reads stores and lays the views out.
 */
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useCallback, useEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore } from 'react';
import { isTerminal, type JobStatus } from '../core/jobs.js';
import type { JobRow, TuiBackend } from './backend.js';
import { ConfirmDialog, confirmKeys, PromptDialog } from './components/Dialog.js';
import { Footer, Header, MessageLine } from './components/Chrome.js';
import { HelpOverlay } from './components/HelpOverlay.js';
import { MessageLogOverlay } from './components/MessageLogOverlay.js';
import { PresetOverlay } from './components/PresetOverlay.js';
import { handleKey } from './controller.js';
import type { Ctx } from './ctx.js';
import { osc52 } from './desktop.js';
import { useTerminalSize } from './hooks.js';
import { splitKeys } from './keys.js';
import { layout, MIN_COLUMNS, MIN_ROWS } from './layout.js';
import { BehaviorsPane } from './panes/BehaviorsPane.js';
import { NodesPane } from './panes/NodesPane.js';
import { OutputPane } from './panes/OutputPane.js';
import { ProxiesPane } from './panes/ProxiesPane.js';
import { QueuePane } from './panes/QueuePane.js';
import { scheduleLine } from './schedule-line.js';
import { wrapText } from './text.js';
import { color } from './theme.js';
import { derive, INITIAL, type UiState } from './ui-state.js';
import { emptyProxies } from './empty-proxies.js';

export { MIN_COLUMNS, MIN_ROWS };

export function App(props: { backend: TuiBackend; title?: string; onQuit: (interrupt: boolean) => void }) {
  const { backend, onQuit } = props;
  const { exit } = useApp();
  const { stdout } = useStdout();
  const snap = useSyncExternalStore(backend.subscribe, backend.getSnapshot);
  const proxySnap = useSyncExternalStore(backend.proxies.subscribe, backend.proxies.getSnapshot);
  const messages = useSyncExternalStore(backend.messages.subscribe, backend.messages.getSnapshot);
  const size = useTerminalSize();
  const sizeRef = useRef(size);
  sizeRef.current = size;
  // Keys can arrive faster than React re-renders: the handler reads and writes this ref, never a
  // stale closure, and each change asks for a render.
  const ui = useRef<UiState>(INITIAL);
  const [, rerender] = useReducer((x: number) => x + 1, 0);
  const set = useCallback<Ctx['set']>((patch) => {
    ui.current = { ...ui.current, ...(typeof patch === 'function' ? patch(ui.current) : patch) };
    rerender();
  }, []);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  // One context and one handler for the app's life: Ink 6 subscribes again whenever the handler changes.
  const ctx = useMemo<Ctx>(
    () => ({
      backend,
      ui: () => ui.current,
      set,
      quit: (interrupt) => {
        onQuit(interrupt);
        exit();
      },
      copy: (text) => stdout.write(osc52(text)),
      size: () => sizeRef.current,
    }),
    [backend, set, onQuit, exit, stdout],
  );
  const onKey = useCallback<Parameters<typeof useInput>[0]>(
    (input, key) => {
      if (input.length > 1) for (const k of splitKeys(input)) handleKey(ctx, k.input, k.key);
      else handleKey(ctx, input, key);
    },
    [ctx],
  );
  useInput(onKey);

  const { columns, rows } = size;
  const s = ui.current;
  const { focus, modal } = s;
  if (columns < MIN_COLUMNS || rows < MIN_ROWS) {
    // Keys still work here: the question `q` asks while a job runs must show too.
    return (
      <Box flexDirection="column">
        {/* Wrapped here: Ink broke 'q quits.' across rows and began the question's second row with a space. */}
        <Text>{wrapText(`Terminal too small (${columns}×${rows}): marteau-tui needs ${MIN_COLUMNS}×${MIN_ROWS}.`, columns - 1).join('\n')}</Text>
        <Text>q quits.</Text>
        {modal?.kind === 'confirm' ? <Text bold color={color('warn')}>{wrapText(`${modal.question} ${confirmKeys(modal.yesKey)}`, columns - 1).join('\n')}</Text> : null}
      </Box>
    );
  }
  const d = derive(s, snap, proxySnap, backend);
  // The job first shown selected is pinned by its id, as if picked: a job enqueued above it must not take its place.
  if (s.jobId === undefined && d.job) ui.current = { ...s, jobId: d.job.id };
  const l = layout(columns, rows);
  // The selected proxy's chaos scenario; `s` says there is none when this is undefined.
  const view = snap.schedules.find((x) => x.proxy === d.proxy);
  const schedule = scheduleLine(view, now);
  const overlayW = Math.min(columns - 4, 100);

  return (
    <Box flexDirection="column" width={columns} height={l.height}>
      <Header title={props.title} snap={snap} proxies={d.proxies} width={columns - 1} />
      {modal?.kind === 'help' ? (
        <HelpOverlay focused={focus} top={modal.top} width={columns - 1} height={l.body} />
      ) : modal?.kind === 'preset' ? (
        <PresetOverlay proxy={modal.proxy} mix={backend.proxies.mixOf(modal.proxy)?.text} width={columns - 1} height={l.body} />
      ) : modal?.kind === 'messages' ? (
        <MessageLogOverlay messages={messages} top={modal.top} width={columns - 1} height={l.body} />
      ) : (
        <Box flexDirection="column" height={l.body}>
          <Box height={l.topH}>
            <QueuePane jobs={d.jobs} selected={d.jobIndex} top={s.queueTop} focused={focus === 'queue'} height={l.topH} width={l.left} filter={s.filter} now={now} empty={snap.starting ? STARTING : undefined} />
            <NodesPane nodes={snap.nodes} selected={s.sel.nodes} focused={focus === 'nodes'} height={l.topH} width={l.right} />
          </Box>
          <Box height={l.midH}>
            <ProxiesPane proxies={d.proxies} schedules={snap.schedules} empty={snap.starting ? STARTING : emptyProxies(d.job, snap.jobs.length > 0)} selected={d.proxyIndex} focused={focus === 'proxies'} height={l.midH} width={l.left} now={now} />
            <BehaviorsPane proxy={d.proxy} rows={d.behaviorRows} schedule={schedule} selected={d.behaviorIndex} focused={focus === 'behaviors'} height={l.midH} width={l.right} />
          </Box>
          {modal?.kind === 'confirm' ? (
            <ConfirmDialog question={modal.question} yesKey={modal.yesKey} width={overlayW} />
          ) : modal?.kind === 'prompt' ? (
            <PromptDialog label={modal.label} value={modal.value} hint={modal.hint} width={overlayW} />
          ) : (
            <OutputPane job={d.job?.name} empty={snap.starting ? STARTING : emptyOutput(d.job, snap.jobs.length > 0)} lines={d.lines} view={s.output} details={s.details && !!d.job} focused={focus === 'output'} height={l.outH} width={columns} rows={l.outRows} inner={l.outWidth} />
          )}
        </Box>
      )}
      <MessageLine messages={messages} width={columns - 1} />
      <Footer pane={focus} modal={modal} width={columns - 1} job={d.job?.state} proxy={d.proxy !== undefined} scenario={schedule !== undefined && (view?.paused ? 'paused' : true)} details={s.details && !!d.job} />
    </Box>
  );
}

/** What the empty panes say while the engine starts: not yet read, rather than none there. */
const STARTING = 'starting: reading the queue and the nodes…';

/** An empty Output pane: a job that ended before any line (failed to start, cancelled while queued) says how, and where its output file is. */
function emptyOutput(job: JobRow | undefined, anyJob: boolean): string {
  // No job selected means none to select: the queue is empty, or the filter lets none through.
  if (!job) return anyJob ? 'no job matches the filter (esc clears it)' : 'no job yet: e enqueues a .marteau.yml';
  if (job.elsewhere) return `no output here: ${job.name} runs in ${job.elsewhere}; its output goes to ${job.resultDir}/console.log`;
  if (!isTerminal(job.state as JobStatus)) return 'no output yet';
  // Its lines not kept here (run before this control center started, by another process, or too
  // long ago): its file has them.
  const file = job.outputFile ? ` · its output: ${job.outputFile}` : '';
  return `no output${file ? ' here' : ''}: ${job.state}${job.progress ? `: ${job.progress}` : ''}${file} · enter: details`;
}
