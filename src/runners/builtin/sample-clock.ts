/**
 * The clock of every sample and every fault of a builtin job: epoch ms with sub-ms precision.
 *
 * It runs on the monotonic clock (performance.now()) from an epoch anchor measured once, on the
 * edge of a Date.now() tick. performance.timeOrigin would be the obvious anchor, but Node reads it
 * with two separate clock calls at start-up: a process descheduled between them (any start on a
 * loaded machine) is off by milliseconds for its whole life, and two such processes on one host
 * then disagree by more than a short request lasts, so an agent's 503 misses the fault the engine
 * timed for it. Anchored on a tick edge, processes on one host agree to about 10 µs.
 */

/** Give up after this many ticks (each costs up to 1 ms of spinning). */
const MAX_TICKS = 25;
/** An edge bracketed this tightly (ms) is good: well under the shortest exchange. */
const GOOD_SPAN_MS = 0.02;
/** Two good edges whose anchors differ by no more than this (ms) confirm each other. */
const AGREE_MS = 0.05;

/**
 * Epoch ms at performance.now() == 0, taken when two ticks' edges agree. One good edge was
 * trusted before, and in one CI run one process of 61 kept an anchor 0.54 ms off the others'
 * (which agreed within 2 µs), its cause not found: a second edge that must agree costs about
 * 1 ms more at start and keeps a single bad reading from setting a clock for a process's life.
 * Without two that agree, the tightest edge seen.
 */
function tickAnchor(): number {
  const good: number[] = [];
  let best = { span: Infinity, anchor: performance.timeOrigin };
  for (let tick = 0; tick < MAX_TICKS; tick++) {
    const e = nextEdge();
    if (e.span < best.span) best = e;
    if (e.span > GOOD_SPAN_MS) continue;
    if (good.some((g) => Math.abs(g - e.anchor) <= AGREE_MS)) return e.anchor;
    good.push(e.anchor);
  }
  return best.anchor;
}

/**
 * The next instant Date.now() moves to a new value: it lies between the monotonic read taken
 * before the last read of the old value and the one taken after the first read of the new one.
 */
function nextEdge(): { span: number; anchor: number } {
  let before = performance.now();
  let ms = Date.now();
  for (;;) {
    const a = performance.now();
    const d = Date.now();
    const b = performance.now();
    if (d !== ms) return { span: b - before, anchor: d - (before + b) / 2 };
    before = a;
    ms = d;
  }
}

const anchor = tickAnchor();

export const now = (): number => anchor + performance.now();
