/**
 * A request's label from its command word, for the framers whose commands are words (redis,
 * SMTP): a load mostly repeats one command, so the last label is kept with its bytes, and a word
 * equal to them costs a few byte comparisons, not a string and its upper-casing per request.
 */
/** The last label made, by its bytes. */
let lastLabelBytes = Buffer.alloc(0);
let lastLabel = '';

/** A label safe to show anywhere: printable ASCII, upper case, at most 32 characters. */
export function labelOf(buf: Buffer, start: number, end: number): string {
  const stop = Math.min(end, start + 32);
  const len = stop - start;
  if (len === lastLabelBytes.length) {
    // Byte by byte: a call into Buffer.compare costs more than these few bytes.
    let i = 0;
    while (i < len && buf[start + i] === lastLabelBytes[i]) i++;
    if (i === len) return lastLabel;
  }
  let s = buf.toString('latin1', start, stop).toUpperCase();
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(s)) s = s.replace(/[^\x21-\x7e]/g, '?');
  lastLabelBytes = Buffer.from(buf.subarray(start, stop));
  lastLabel = s;
  return s;
}
