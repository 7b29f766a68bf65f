/**
 * What key handlers act through: the backend, the UI state, and the terminal (quit, clipboard);
 * and how an action's outcome reaches the message log.
 */
import type { TuiBackend } from './backend.js';
import type { UiState } from './ui-state.js';

export interface Ctx {
  backend: TuiBackend;
  ui(): UiState;
  set(patch: Partial<UiState> | ((s: UiState) => Partial<UiState>)): void;
  quit(interrupt: boolean): void;
  /** Put text on the clipboard (through the terminal). */
  copy(text: string): void;
  size(): { columns: number; rows: number };
}

/** Tell the user how an action went, in the message log (errors whole). */
export function outcome<T>(ctx: Ctx, p: Promise<T>, done?: string | ((v: T) => string)): void {
  p.then(
    (v) => {
      if (done) ctx.backend.messages.push('info', typeof done === 'function' ? done(v) : done);
    },
    (e: Error) => ctx.backend.messages.push('error', `error: ${e.message}`),
  );
}

export function note(ctx: Ctx, text: string, level: 'info' | 'warn' | 'error' = 'info'): void {
  ctx.backend.messages.push(level, text);
}
