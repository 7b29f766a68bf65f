/**
 * The terminal as Ink 6 is given it: two of Ink's writes at a resize would cost the user's
 * scrollback, so they are taken out here. Checked in tmux 3.3a (capture-pane -S -, pipe-pane).
 *
 * - Ink's own 'resize' handler renders at once, before the App hears of the resize: the panes
 *   still at the old size (their widths are the App's state, which its own listener updates after
 *   Ink's). Narrowed, every row of that frame is wider than the terminal and wraps; the frame,
 *   twice its height, scrolls half of itself into the scrollback (33 rows at 120 to 100 columns,
 *   besides what tmux's own reflow puts there), then the App's frame is drawn. The App redraws on
 *   every resize (useTerminalSize), so Ink's handler is dropped (dropInkResize).
 * - When the last frame was as high as the terminal (after any shortening: the App's frame is
 *   rows - 1 high), Ink clears with ESC[2J ESC[3J ESC[H: 3J erases the scrollback, in tmux
 *   the user's whole history of that pane even while the alternate screen is on (100 lines of
 *   shell output before the TUI: none left once it was shortened), and outside it 2J pushes the
 *   screen into the scrollback (tmux's scroll-on-clear, VTE). inkTerminal writes a clear of the
 *   screen alone in its place.
 */

/** Ink's clearTerminal (ansi-escapes; its old-Windows form aside). */
const INK_CLEAR = '\x1b[2J\x1b[3J\x1b[H';

/**
 * The screen blanked from its top: its first row, then from the second row down (ESC[J from the
 * first row is a 2J to tmux's scroll-on-clear), the cursor home.
 */
const CLEAR_SCREEN = '\x1b[H\x1b[2K\x1b[2H\x1b[J\x1b[H';

/** `stdout` for Ink: the same stream, its writes with Ink's clear of the scrollback made a clear of the screen. */
export function inkTerminal(stdout: NodeJS.WriteStream): NodeJS.WriteStream {
  const write = (chunk: unknown, ...rest: unknown[]): boolean =>
    (stdout.write as (...a: unknown[]) => boolean)(typeof chunk === 'string' && chunk.includes(INK_CLEAR) ? chunk.replaceAll(INK_CLEAR, CLEAR_SCREEN) : chunk, ...rest);
  return new Proxy(stdout, {
    get(target, key) {
      if (key === 'write') return write;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Drop the 'resize' listener Ink's render added to `stdout` (`before`: its listeners before).
 * Ink adds it as it is constructed, before it renders the App, whose own comes after: the first new one.
 */
export function dropInkResize(stdout: NodeJS.WriteStream, before: readonly unknown[]): void {
  const ink = stdout.listeners('resize').find((l) => !before.includes(l));
  if (ink) stdout.off('resize', ink as (...a: unknown[]) => void);
}
