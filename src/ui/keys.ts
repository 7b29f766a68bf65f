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
    { keys: 'p', does: "pause / resume the proxy's chaos scenario" },
  ],
  behaviors: [
    { keys: 'j/k ↑/↓', does: 'select behavior' },
    { keys: '←/→  -/+', does: 'lower / raise its % by 5 (live)' },
    { keys: '0-9', does: 'preset: 0 normal … 8 down, 9 blackout' },
    { keys: 'x', does: 'set the selected behavior to 0 %' },
    { keys: 'u', does: 'undo the last mix change' },
    { keys: 'p', does: 'pause / resume the chaos scenario (a change by hand pauses it)' },
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

/** The parts of Ink's Key that the dispatcher reads. */
export interface KeyFlags {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  shift?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

const SEQUENCES: [string, KeyFlags][] = [
  ['\u001B[A', { upArrow: true }],
  ['\u001B[B', { downArrow: true }],
  ['\u001B[C', { rightArrow: true }],
  ['\u001B[D', { leftArrow: true }],
  ['\u001B[Z', { tab: true, shift: true }],
  ['\t', { tab: true }],
  ['\r', { return: true }],
  ['\n', { return: true }],
  ['\u007F', { backspace: true }],
  ['\b', { backspace: true }],
];

/**
 * Ink 6 hands several keys that arrive in one read (fast typing, a terminal multiplexer, a
 * paste) to the handler as one string: split it back into single keys. Ink strips the first
 * ESC of such a chunk, so a leading "[C" is an arrow too.
 */
export function splitKeys(chunk: string): { input: string; key: KeyFlags }[] {
  let s = /^\[[A-DZ]/.test(chunk) ? `\u001B${chunk}` : chunk;
  const out: { input: string; key: KeyFlags }[] = [];
  while (s.length) {
    const seq = SEQUENCES.find(([k]) => s.startsWith(k));
    if (seq) {
      out.push({ input: '', key: { ...seq[1] } });
      s = s.slice(seq[0].length);
    } else if (s[0] === '\u001B') {
      out.push({ input: '', key: { escape: true, meta: true } });
      s = s.slice(1);
    } else {
      const ch = String.fromCodePoint(s.codePointAt(0)!);
      out.push({ input: ch, key: /[A-Z]/.test(ch) ? { shift: true } : {} });
      s = s.slice(ch.length);
    }
  }
  return out;
}
