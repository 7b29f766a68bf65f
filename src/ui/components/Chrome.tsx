/** The lines around the panes: the header of figures, the message line, the footer of keys. */
import { Box, Text } from 'ink';
import { memo } from 'react';
import type { ProxyView } from '../../proxy/monitor.js';
import type { TuiSnapshot } from '../backend.js';
import { footerHints, type PaneId } from '../keys.js';
import { clock, type Message } from '../message-log.js';
import { cutAtWord, ellipsisItems, fitItems } from '../text.js';
import { color, messageLevelColor } from '../theme.js';
import type { Modal, PromptPurpose } from '../ui-state.js';

/** Figures only: notes never share its cells (they go to the message line). */
export const Header = memo(function Header(props: { title?: string; snap: TuiSnapshot; proxies: readonly ProxyView[]; width: number }) {
  const { snap, proxies } = props;
  const counts = snap.jobs.reduce<Record<string, number>>((a, j) => ({ ...a, [j.state]: (a[j.state] ?? 0) + 1 }), {});
  const faults = proxies.reduce((s, p) => s + Object.entries(p.stats.behaviors).reduce((t, [n, c]) => t + (n === 'dummy' ? 0 : c), 0), 0);
  const running = snap.starting ? 'starting' : counts.running ? 'running' : 'idle';
  // Early in the line: a narrow terminal cuts the end, and an offline queue must show.
  const team = snap.queue?.online === false ? 'queue offline (reconnecting)' : snap.queue?.label ? `team ${snap.queue.label}` : '';
  const head = ['marteau-tui', props.title ?? '', team, running].filter(Boolean);
  const tail = [`proxies ${proxies.length}`, `faults ${faults}`];
  // The history's counts grow with it: cut them to whole counts, live ones first, in the room the
  // figures after them leave, rather than let them push those figures off an 80-column line.
  const first = (state: string) => (state === 'running' ? 0 : state === 'queued' ? 1 : 2);
  const jobs = `jobs ${Object.entries(counts).sort(([a], [b]) => first(a) - first(b)).map(([st, n]) => `${n} ${st}`).join(', ') || '0'}`;
  const room = props.width - [...head, ...tail].join(' · ').length - ' · '.length;
  const shown = jobs.length <= room ? jobs : room >= jobs.split(', ')[0].length + 2 ? ellipsisItems(jobs, room) : '';
  return (
    <Text bold color={color('accent')}>
      {fitItems([...head, shown, ...tail].filter(Boolean), props.width)}
    </Text>
  );
});

/** The newest message, cut at the width with a pointer to the log. */
export const MessageLine = memo(function MessageLine(props: { messages: readonly Message[]; width: number }) {
  const { messages, width } = props;
  const m = messages.at(-1);
  if (!m) return <Text color={color('dim')}>no messages yet (m lists them)</Text>;
  const text = `${clock(m.at)} ${m.text.replace(/\n\s*/g, ' — ')}${m.count > 1 ? ` (×${m.count})` : ''}`;
  const more = ' … m: whole';
  const shown = text.length > width ? cutAtWord(text, width - more.length) + more : text;
  return <Text color={color(messageLevelColor[m.level])}>{shown}</Text>;
});

const PROMPT_KEYS: Record<PromptPurpose, string> = {
  enqueue: 'enter enqueue · tab complete the path · esc cancel',
  filter: 'enter filter (empty shows all) · esc cancel',
  search: 'enter find · esc cancel',
  command: 'enter run · esc cancel',
};

/**
 * An open dialog's keys, which stand in for the pane's in the footer: all it takes, ? and q
 * among them where they do something there (in a prompt they are typed).
 */
function modalKeys(modal: Modal): string {
  switch (modal.kind) {
    case 'help':
      return 'j/k PgUp/PgDn scroll · g/G top/bottom · esc / ? / q close';
    case 'messages':
      return 'j/k PgUp/PgDn scroll · g/G oldest/newest · esc / m / q close';
    case 'prompt':
      return PROMPT_KEYS[modal.purpose];
    case 'confirm':
      return `${modal.yesKey ? `y / ${modal.yesKey}` : 'y'} yes · n / esc no`;
    case 'preset':
      return '0-9 apply a preset · esc cancel';
  }
}

/** The focused pane's keys (those that do something for the job and proxy selected) and `? help · q quit` at the right; an open dialog's keys alone. */
export const Footer = memo(function Footer(props: { pane: PaneId; modal?: Modal; width: number; job?: string; proxy?: boolean; scenario?: boolean | 'paused'; details?: boolean }) {
  const { keys, always } = footerHints(props.pane, props.width, { job: props.job, proxy: props.proxy, scenario: props.scenario, details: props.details });
  return (
    <Box width={props.width} justifyContent="space-between">
      <Text color={color('key')} wrap="truncate-end">{props.modal ? modalKeys(props.modal) : keys}</Text>
      {props.modal ? null : <Text color={color('key')} bold>{` ${always}`}</Text>}
    </Box>
  );
});
