/**
 * Every colour of the TUI, defined once. Colour carries lifecycle (k9s habit): queued dim,
 * running blue, succeeded green, failed red, cancelled magenta, interrupted yellow.
 * With NO_COLOR set, colours are off and focus is shown by a double border instead.
 */
export const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';

const palette = {
  focus: 'green',
  filter: 'cyan',
  key: 'blue',
  dim: 'gray',
  fault: 'red',
  ok: 'green',
  warn: 'yellow',
  accent: 'cyan',
  selectedBg: 'blue',
} as const;

export const jobStateColor: Record<string, string> = {
  queued: 'gray',
  running: 'blue',
  succeeded: 'green',
  failed: 'red',
  cancelled: 'magenta',
  interrupted: 'yellow',
};

export const nodeStateColor: Record<string, string> = {
  up: 'green',
  'no sftp': 'yellow',
  busy: 'yellow',
  down: 'red',
  disabled: 'gray',
  unknown: 'gray',
};

/** Messages: errors red, warnings yellow, the rest dim. */
export const messageLevelColor: Record<'info' | 'warn' | 'error', string> = { info: 'gray', warn: 'yellow', error: 'red' };

/** A colour name, or undefined under NO_COLOR (Ink then prints plain text). */
export function color(name: keyof typeof palette | string | undefined): string | undefined {
  if (noColor || !name) return undefined;
  return (palette as Record<string, string>)[name] ?? name;
}
