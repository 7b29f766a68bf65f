/**
 * The end of a line in a chunk, for the line-based framers (redis, memcache, SMTP). Their lines
 * are mostly a few bytes long (`+PONG`, `END`, `250 OK`): Buffer's indexOf is a call through
 * argument checks into C++ per line, and its load from a read's Buffer went through V8's generic
 * LoadIC, several times what looking at the bytes costs. Longer lines still go to indexOf.
 */
const LF = 0x0a;

/** Lines shorter than this are searched for their LF in JS. */
const SHORT_LINE = 64;

/** The next LF from `from`, or -1. */
export function findLF(buf: Buffer, from: number): number {
  const n = buf.length;
  const stop = Math.min(n, from + SHORT_LINE);
  for (let i = from; i < stop; i++) if (buf[i] === LF) return i;
  return stop < n ? buf.indexOf(LF, stop) : -1;
}
