/**
 * The lines `marteau-tui proxy` prints per proxy: once listening, then its live counts (pure formatting).
 */
import { mixWords } from '../text/mix-words.js';
import type { Proxy, ProxyStats } from '../proxy/proxy.js';

/** A proxy's name, and its protocol when the name does not say it (a default name is the protocol). */
function label(name: string, protocol: string): string {
  return name === protocol ? name : `${name} (${protocol})`;
}

/** The line a proxy gets once it listens (scripts and tests wait for it). */
export function listeningLine(p: Proxy): string {
  const tls = (on: unknown) => (on ? ' (TLS)' : '');
  return `listening ${label(p.name, p.options.protocol)} ${p.listenAddress}${tls(p.options.tls)} -> ${p.upstream}${tls(p.options.upstreamTls)} mix ${mixWords(p.mix.text)}${p.isEnabled ? '' : ' (disabled)'}\n`;
}

export function formatProxyLine(now: ProxyStats, before: ProxyStats | undefined, seconds: number): string {
  const rate = before && seconds > 0 ? (now.exchanges - before.exchanges) / seconds : 0;
  const faults = Object.entries(now.behaviors)
    .filter(([name, n]) => name !== 'dummy' && n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => `${name}=${n}`)
    .join(' ');
  return [
    `${label(now.name, now.protocol)} ${now.listen} -> ${now.upstream}`,
    `mix ${mixWords(now.mix)}`,
    `conn ${now.connections.open}/${now.connections.total}`,
    `exch ${now.exchanges} (${rate.toFixed(0)}/s)`,
    `faults ${faults || '-'}`,
    `p95 ${now.latency.p95.toFixed(1)}ms`,
    ...(now.connections.upstreamErrors ? [`upstream-errors ${now.connections.upstreamErrors}`] : []),
    ...(now.fallbacks ? [`raw ${now.fallbacks}`] : []),
  ].join('  ');
}

/** The fields of a count line are parted by two spaces. */
const FIELD_GAP = '  ';

/**
 * A count line as rows narrower than the terminal (its last column left empty, where some
 * terminals wrap): broken between fields, never inside a figure, the rows after the first indented.
 */
export function fitLine(line: string, width: number): string[] {
  const room = Math.max(width - 1, 2);
  if (line.length <= room) return [line];
  const rows: string[] = [];
  let row = '';
  for (const field of line.split(FIELD_GAP)) {
    const lead = rows.length || row ? FIELD_GAP : '';
    if (row && row.length + FIELD_GAP.length + field.length <= room) row += FIELD_GAP + field;
    else {
      if (row) rows.push(row);
      row = lead + field;
    }
    if (row.length > room) row = `${row.slice(0, room - 1)}…`;
  }
  rows.push(row);
  return rows;
}

/**
 * Terminal rows a row of `length` cells takes at `width`: a terminal narrowed since it was drawn
 * re-wraps it (tmux, VTE, iTerm2, kitty and Windows Terminal reflow their lines on a resize).
 */
function rowsAt(length: number, width: number): number {
  return Math.max(1, Math.ceil(length / width));
}

/** Redraws a block of lines in place on a TTY; prints plain lines otherwise. */
export class LiveLines {
  /** The widths of the rows of the last frame, to count the terminal rows they take now. */
  private drawn: number[] = [];

  constructor(private readonly out: NodeJS.WriteStream, private readonly tty: boolean) {}

  show(lines: string[]): void {
    if (!this.tty) {
      for (const l of lines) this.out.write(`${l}\n`);
      return;
    }
    const width = this.out.columns || 120;
    const rows = lines.flatMap((l) => fitLine(l, width));
    // Up over every terminal row the last frame takes at today's width (a narrowing re-wrapped
    // it), each row cleared whole before it is written (which also drops the mark of a row
    // re-wrapped, that a widening would join to the next), then the rows below: no fragment of
    // the last frame stays, nor rows of a longer one. Not all cleared at once from the top: at
    // the screen's first row tmux keeps what that clears in its history, every frame.
    const up = this.drawn.reduce((n, length) => n + rowsAt(length, width), 0);
    this.out.write(`${up ? `\x1b[${up}A` : ''}\r${rows.map((r) => `\x1b[2K${r}\n`).join('')}\x1b[J`);
    this.drawn = rows.map((r) => r.length);
  }
}
