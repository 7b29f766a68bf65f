/** Key reference, per pane: the footer shows the focused pane's, `?` shows them all. */
export type PaneId = 'queue' | 'nodes' | 'proxies' | 'behaviors' | 'output';

export const PANE_ORDER: readonly PaneId[] = ['queue', 'nodes', 'proxies', 'behaviors', 'output'];

export interface KeyHelp {
  keys: string;
  does: string;
}

export const KEYS: Record<PaneId | 'global', readonly KeyHelp[]> = {
  global: [
    { keys: 'tab / shift-tab', does: 'next / previous pane' },
    { keys: '?', does: 'this help' },
    { keys: 'q', does: 'quit (asks when a job runs; q again or ctrl-c leaves)' },
    { keys: 'esc', does: 'close a dialog, clear the filter' },
  ],
  queue: [
    { keys: 'j/k ↑/↓', does: 'select job' },
    { keys: 'enter', does: 'details of the job' },
    { keys: 'e', does: 'enqueue a .marteau.yml (path or git URL)' },
    { keys: 'c', does: 'cancel the job (asks first)' },
    { keys: 'r', does: 'retry the job' },
    { keys: '/', does: 'filter jobs' },
  ],
  nodes: [
    { keys: 'j/k ↑/↓', does: 'select node' },
    { keys: 'space', does: 'enable / disable the node' },
  ],
  proxies: [
    { keys: 'j/k ↑/↓', does: 'select proxy (the Behaviors pane edits it)' },
    { keys: '0-9', does: 'apply a preset mix' },
    { keys: 'u', does: 'undo the last mix change' },
  ],
  behaviors: [
    { keys: 'j/k ↑/↓', does: 'select behavior' },
    { keys: '←/→  -/+', does: 'lower / raise its % by 5 (live)' },
    { keys: '0-9', does: 'preset: 0 normal … 8 down, 9 blackout' },
    { keys: 'x', does: 'set the selected behavior to 0 %' },
    { keys: 'u', does: 'undo the last mix change' },
  ],
  output: [
    { keys: 'j/k ↑/↓', does: 'scroll' },
    { keys: 'g / G', does: 'top / follow the tail' },
  ],
};

/** The footer line for a pane: its keys first, then the global ones that fit. */
export function footerHints(pane: PaneId): string {
  return [...KEYS[pane], { keys: 'tab', does: 'pane' }, { keys: '?', does: 'help' }, { keys: 'q', does: 'quit' }]
    .map((k) => `${k.keys.split(' ')[0]} ${k.does.split(' (')[0]}`)
    .join(' · ');
}
