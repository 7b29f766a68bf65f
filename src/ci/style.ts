/**
 * Plain or coloured text for line output. Colour only on a terminal and never with NO_COLOR
 * (https://no-color.org: any non-empty value). Tool output is made safe to print: escape
 * sequences are dropped when colour is off, other control characters are shown, not obeyed.
 */

export interface Style {
  color: boolean;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function makeStyle(out: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const color = out.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
  const wrap = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { color, green: wrap('32'), red: wrap('31'), yellow: wrap('33'), dim: wrap('2'), bold: wrap('1') };
}

// CSI/OSC/other ESC sequences, as emitted by coloured tools.
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** A line of someone else's output, printable as one line. */
export function safeLine(line: string, keepAnsi: boolean): string {
  const s = keepAnsi ? line : line.replace(ANSI, '');
  return s.replace(CONTROL, (c) => (c === '\x1b' && keepAnsi ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** A user-chosen name (may hold quotes, newlines...) shown quoted on one line. */
export function quoted(name: string): string {
  return JSON.stringify(name);
}
