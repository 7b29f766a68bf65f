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

/** Give up narrowing the edge after this many ticks (each costs up to 1 ms of spinning). */
const MAX_TICKS = 5;
/** An edge bracketed this tightly (ms) is good enough: well under the shortest exchange. */
const GOOD_SPAN_MS = 0.02;

/**
 * Epoch ms at performance.now() == 0: the instant Date.now() moves to its next value lies between
 * the monotonic reads taken around the last read before it and the first read after it.
 */
function tickAnchor(): number {
  let best = { span: Infinity, anchor: performance.timeOrigin };
  for (let tick = 0; tick < MAX_TICKS && best.span > GOOD_SPAN_MS; tick++) {
    let before = performance.now();
    let ms = Date.now();
    for (;;) {
      const a = performance.now();
      const d = Date.now();
      const b = performance.now();
      if (d !== ms) {
        if (b - before < best.span) best = { span: b - before, anchor: d - (before + b) / 2 };
        break;
      }
      before = a;
      ms = d;
    }
  }
  return best.anchor;
}

const anchor = tickAnchor();

export const now = (): number => anchor + performance.now();
