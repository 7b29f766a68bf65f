/**
 * Node's timers wait at most 2^31-1 ms (24.8 days); a longer wait fires at once, again and again.
 * A module of its own, importing nothing: a duration's bound (config/units.ts) loads no proxy
 * code with it; the plugin API re-exports it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
