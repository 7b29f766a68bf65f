/**
 * Every message the control center shows (an action's outcome, an error, a job's end), kept
 * whole for the message log: the message line shows the newest, cut to the width; `m` shows them
 * all. A small external store, read with useSyncExternalStore.
 */
import { wrapText } from './text.js';

export interface Message {
  at: number;
  level: 'info' | 'warn' | 'error';
  text: string;
  /** The same message again and again (a retry loop's warning) is one line, counted. */
  count: number;
}

const KEPT = 200;

export class MessageLog {
  private messages: readonly Message[] = [];
  private readonly listeners = new Set<() => void>();

  push(level: Message['level'], text: string, at = Date.now()): void {
    const last = this.messages.at(-1);
    this.messages =
      last?.text === text && last.level === level
        ? [...this.messages.slice(0, -1), { at, level, text, count: last.count + 1 }]
        : [...this.messages.slice(-(KEPT - 1)), { at, level, text, count: 1 }];
    for (const l of this.listeners) l();
  }

  getSnapshot = (): readonly Message[] => this.messages;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}

/** The log as screen lines of `width` cells, oldest first: each message whole, wrapped. */
export function messageLines(messages: readonly Message[], width: number): { text: string; level: Message['level']; first: boolean }[] {
  const indent = ' '.repeat(9);
  return messages.flatMap((m) =>
    wrapText(m.count > 1 ? `${m.text} (×${m.count})` : m.text, width - indent.length).map((text, i) => ({ text: `${i ? indent : `${clock(m.at)} `}${text}`, level: m.level, first: i === 0 })),
  );
}

/** hh:mm:ss, local time: when a message came. */
export function clock(at: number): string {
  const d = new Date(at);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
