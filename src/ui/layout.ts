/**
 * Where each part of the screen goes for a terminal size: header, two rows of two panes, the
 * Output pane, the message line and the footer. The frame stays one line short of the terminal
 * (Ink repaints the whole screen, and flickers, when a frame reaches its height).
 */
export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;

export interface Layout {
  columns: number;
  height: number;
  body: number;
  topH: number;
  midH: number;
  outH: number;
  left: number;
  right: number;
  /** Rows and cells inside the Output pane (border, padding and title taken). */
  outRows: number;
  outWidth: number;
}

export function layout(columns: number, rows: number): Layout {
  const height = rows - 1;
  // Header, message line, footer.
  const body = height - 3;
  const topH = Math.max(6, Math.floor(body * 0.3));
  const midH = Math.max(8, Math.floor(body * 0.36));
  const outH = body - topH - midH;
  // The right column (Nodes, Behaviors) reads well at 32 cells; the queue gets the rest.
  const right = Math.max(32, Math.floor(columns * 0.4));
  const left = columns - right;
  return { columns, height, body, topH, midH, outH, left, right, outRows: Math.max(1, outH - 3), outWidth: Math.max(10, columns - 4) };
}

/** Rows of jobs in a Queue pane `height` high (border and title taken). */
export function queueRows(height: number): number {
  return Math.max(1, height - 3);
}

/** Cells across an overlay (help, messages) and rows of text inside it (border, title, "more" line). */
export function overlayWidth(columns: number): number {
  return columns - 1 - 4;
}

export function overlayRows(body: number): number {
  return Math.max(1, body - 4);
}
