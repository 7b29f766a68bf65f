/** Key reference, per pane: the footer shows the focused pane's, `?` shows them all. */
import { isTerminal, type JobStatus } from '../core/jobs.js';
import { COMMAND_HELP } from './commands.js';
import { fitItems, wrapText } from './text.js';

export type PaneId = 'queue' | 'nodes' | 'proxies' | 'behaviors' | 'output';

export const PANE_ORDER: readonly PaneId[] = ['queue', 'nodes', 'proxies', 'behaviors', 'output'];

export interface KeyHelp {
  keys: string;
  does: string;
  /** The footer's words for it, when the pane's footer should name it (most used first). */
  foot?: string;
  /** The footer's words for it while the job's details show in the Output pane, when they differ. */
  footDetails?: string;
  /** The footer's words for it while the selected proxy's scenario is paused, when they differ. */
  footPaused?: string;
  /**
   * What must be selected for the key to do something (the footer names it only then): any job,
   * one queued or running, one that ended; a proxy, a proxy with a chaos scenario.
   */
  needs?: 'job' | 'live' | 'ended' | 'proxy' | 'scenario';
}

export const KEYS: Record<PaneId | 'global', readonly KeyHelp[]> = {
  global: [
    { keys: '1-5', does: 'focus a pane (its number is in its title)' },
    { keys: 'tab / shift-tab', does: 'next / previous pane' },
    { keys: '?', does: 'this help (j/k, PgUp/PgDn scroll it; g / G top / bottom)' },
    { keys: 'm', does: 'messages: every one, whole (errors with file:line); j/k, PgUp/PgDn scroll, g / G oldest / newest' },
    // The commands the prompt itself lists: one list, so that help names every one.
    { keys: ':', does: `command: ${COMMAND_HELP.replaceAll(' · ', ', ')}` },
    { keys: 'q', does: 'quit (asks when a job runs; q again or ctrl-c leaves)' },
    { keys: 'ctrl-c', does: 'leave at once, without asking (a job running here is marked interrupted)' },
    { keys: 'esc', does: 'close a dialog, the details; clear the filter' },
  ],
  queue: [
    { keys: 'j/k ↑/↓', does: 'select job', foot: 'j/k select' },
    { keys: 'PgUp/PgDn', does: 'a page of jobs up / down' },
    { keys: 'g / G', does: 'the newest / the oldest job (also Home / End)' },
    { keys: 'enter', does: 'details: seed, fault timeline, report', foot: 'enter details', footDetails: 'enter output', needs: 'job' },
    { keys: 'e', does: 'enqueue a directory, a .marteau.yml or a git URL (tab completes a path)', foot: 'e enqueue' },
    { keys: 'c', does: 'cancel the job (asks first)', foot: 'c cancel', needs: 'live' },
    { keys: 'r', does: 'retry the job (a new seed)', foot: 'r retry', needs: 'ended' },
    { keys: 'R', does: 'replay the job with its recorded seed', foot: 'R replay', needs: 'ended' },
    { keys: 'o', does: 'open its HTML report in the browser', foot: 'o report', needs: 'ended' },
    { keys: '/', does: 'filter jobs', foot: '/ filter' },
    { keys: 'y', does: 'copy the report path (OSC 52)', foot: 'y copy path', needs: 'job' },
  ],
  nodes: [
    { keys: 'j/k ↑/↓', does: 'select node', foot: 'j/k select' },
    { keys: 'space', does: 'enable / disable the node', foot: 'space enable/disable' },
  ],
  proxies: [
    { keys: 'j/k ↑/↓', does: 'select proxy (the Behaviors pane edits it)', foot: 'j/k select' },
    { keys: 'p', does: 'presets: pick a mix with 0-9 (1-9 ask first while a job runs)', foot: 'p presets', needs: 'proxy' },
    { keys: 'u', does: 'undo the last mix change', foot: 'u undo', needs: 'proxy' },
    { keys: 's', does: "pause / resume the proxy's chaos scenario", foot: 's pause scenario', footPaused: 's resume scenario', needs: 'scenario' },
  ],
  behaviors: [
    { keys: 'j/k ↑/↓', does: 'select behavior', foot: 'j/k select' },
    { keys: '←/→  -/+', does: 'lower / raise its % by 5 (live; = raises too: + unshifted)', foot: '←/→ -/+5%', needs: 'proxy' },
    { keys: 'p', does: 'presets: a menu of named mixes (0 normal … 9 blackout); a digit applies one', foot: 'p presets', needs: 'proxy' },
    { keys: 'x', does: 'set the selected behavior to 0 %', foot: 'x zero', needs: 'proxy' },
    { keys: 'u', does: 'undo the last mix change', foot: 'u undo', needs: 'proxy' },
    { keys: 's', does: 'pause / resume the chaos scenario (a change by hand pauses it)', foot: 's pause scenario', footPaused: 's resume scenario', needs: 'scenario' },
  ],
  output: [
    { keys: 'j/k ↑/↓', does: 'scroll a line', foot: 'j/k scroll' },
    { keys: 'f', does: 'follow the tail on / off', foot: 'f follow' },
    { keys: '/', does: 'search; n / N next / previous match', foot: '/ search' },
    { keys: 'w', does: 'wrap long lines on / off', foot: 'w wrap' },
    { keys: 'enter', does: "the job's details / back to its output", foot: 'enter details', footDetails: 'enter output', needs: 'job' },
    { keys: 'g / G', does: 'top / bottom, following the tail (also Home / End)', foot: 'g/G top/bottom' },
    { keys: 'PgUp/PgDn space', does: 'scroll a page', foot: 'PgUp/PgDn page' },
    { keys: 'o / y / R', does: "the job's report: open / copy path; replay", foot: 'o/y/R report', needs: 'ended' },
  ],
};

/** What the footer keeps whatever the width: help and quit. */
const ALWAYS = '? help · q quit';

/**
 * What is selected, for the footer: the job's state (none when no job is), a proxy, one with a
 * chaos scenario; and whether the job's details show.
 */
export interface Selected {
  job?: string;
  proxy?: boolean;
  /** `paused`: by s or by a change by hand, so that s resumes it. */
  scenario?: boolean | 'paused';
  details?: boolean;
}

/**
 * The footer line for a pane in `width` cells: its keys that do something for what is selected,
 * whole ones, most used first; `? help · q quit` always.
 */
export function footerHints(pane: PaneId, width: number, sel: Selected = {}): { keys: string; always: string } {
  const { job } = sel;
  const ended = job !== undefined && isTerminal(job as JobStatus);
  const works = (k: KeyHelp) => {
    if (k.needs === 'proxy' || k.needs === 'scenario') return !!sel[k.needs];
    return !k.needs || (job !== undefined && (k.needs === 'job' || (k.needs === 'ended') === ended));
  };
  const foot = (k: KeyHelp) => (sel.details && k.footDetails) || (sel.scenario === 'paused' && k.footPaused) || k.foot;
  const items = [...KEYS[pane].flatMap((k) => (k.foot && works(k) ? [foot(k)!] : [])), '1-5 pane', 'm messages'];
  return { keys: fitItems(items, Math.max(0, width - ALWAYS.length - 3)), always: ALWAYS };
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
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
}

const SEQUENCES: [string, KeyFlags][] = [
  ['\u001B[A', { upArrow: true }],
  ['\u001B[B', { downArrow: true }],
  ['\u001B[C', { rightArrow: true }],
  ['\u001B[D', { leftArrow: true }],
  ['\u001B[Z', { tab: true, shift: true }],
  ['\u001B[5~', { pageUp: true }],
  ['\u001B[6~', { pageDown: true }],
  ['\u001B[H', { home: true }],
  ['\u001B[F', { end: true }],
  ['\u001B[1~', { home: true }],
  ['\u001B[4~', { end: true }],
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
  let s = /^\[([A-DZHF]|[1456]~)/.test(chunk) ? `\u001B${chunk}` : chunk;
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

const TITLES: Record<PaneId | 'global', string> = {
  global: 'Everywhere',
  queue: '[1] Queue',
  nodes: '[2] Nodes',
  proxies: '[3] Proxies',
  behaviors: '[4] Behaviors',
  output: '[5] Output',
};

/** Cells of the help's key column: two of indent, the longest key, two of gap, so a key never runs into what it does. */
export const HELP_KEYS_WIDTH = 4 + Math.max(...Object.values(KEYS).flatMap((ks) => ks.map((k) => k.keys.length)));

/**
 * The help as lines of `width` cells: the focused pane's keys first, then those that work
 * everywhere, then the rest; a long description wraps under itself (keys '' on the lines after).
 */
export function helpLines(focused: PaneId, width: number): { head?: string; keys?: string; does?: string }[] {
  const order: (PaneId | 'global')[] = [focused, 'global', ...PANE_ORDER.filter((p) => p !== focused)];
  const lines: { head?: string; keys?: string; does?: string }[] = [];
  for (const id of order) {
    lines.push({ head: TITLES[id] });
    for (const k of KEYS[id]) wrapText(k.does, width - HELP_KEYS_WIDTH).forEach((does, i) => lines.push({ keys: i ? '' : k.keys, does }));
  }
  return lines;
}
