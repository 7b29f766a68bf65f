/**
 * FunkLoad's text forms, both ways (pure): Python 2's `str(float)` and attribute quoting, the
 * ISO and epoch times fl-run-bench prints and how to read a zoneless one back, and its outcome
 * words. The writer prints with these, the reader parses with them.
 */
import type { Outcome } from './samples.js';


/** Python's xml.sax.saxutils.quoteattr: escape, then pick the quote the value does not contain. */
export function quoteattr(value: string): string {
  // Most values (every sample's URL) need neither: one scan instead of seven replaces.
  if (!/[&<>\n\r\t"]/.test(value)) return `"${value}"`;
  let v = value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  v = v.replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
  if (v.includes('"')) {
    if (v.includes("'")) v = `"${v.replace(/"/g, '&quot;')}"`;
    else v = `'${v}'`;
  } else v = `"${v}"`;
  return v;
}

/**
 * Python 2.7's `str(float)`: 12 significant digits, trailing zeros dropped, exponent form below
 * 1e-4 and from 1e11 (`5e-05`, `1.2e+11`), and a `.0` on whole numbers. Checked against the real
 * interpreter by the tests.
 */
export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const a = x < 0 ? -x : x;
  // Every sample's durations and times: here toPrecision(12) is already the fixed form (it has a
  // point unless it rounded up to 1e11, which Python writes as an exponent).
  if (a >= 1e-4 && a < 1e11) {
    const s = x.toPrecision(12);
    if (s.includes('.')) return wholeDotZero(withoutTrailingZeros(s));
  }
  const e = x.toExponential(11);
  const at = e.indexOf('e');
  const exp = Number(e.slice(at + 1));
  if (exp < -4 || exp >= 11) {
    const mantissa = withoutTrailingZeros(e.slice(0, at));
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${mantissa.endsWith('.') ? mantissa.slice(0, -1) : mantissa}e${exp < 0 ? '-' : '+'}${digits}`;
  }
  const fixed = x.toFixed(11 - exp);
  return wholeDotZero(fixed.includes('.') ? withoutTrailingZeros(fixed) : `${fixed}.`);
}

function withoutTrailingZeros(s: string): string {
  let end = s.length;
  while (s.charCodeAt(end - 1) === 48) end--;
  return s.slice(0, end);
}

/** `12.` is written `12.0`. */
const wholeDotZero = (s: string): string => (s.endsWith('.') ? `${s}0` : s);

/** `%.3i`: zero-padded to 3 digits, more when needed. */
export function pad3(n: number): string {
  return n < 0 ? `-${String(-n).padStart(3, '0')}` : String(n).padStart(3, '0');
}

/** datetime.isoformat() of local time, with microseconds and no zone. */
export function isoLocal(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const micro = Math.round((ms - Math.floor(ms)) * 1000) + d.getMilliseconds() * 1000;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(Math.min(999_999, micro), 6)}`;
}

/**
 * FunkLoad's start time, `datetime.isoformat()` of the bench machine's local time with no zone:
 * its wall-clock fields as if they were UTC (`zoned: false`), or the instant when the text does
 * carry a zone. NaN when unreadable.
 */
export function parseIsoTime(s: string): { ms: number; zoned: boolean } {
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?/i.exec(s.trim());
  if (!m) return { ms: NaN, zoned: false };
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + frac;
  if (!m[8]) return { ms: wall, zoned: false };
  if (m[8].toUpperCase() === 'Z') return { ms: wall, zoned: true };
  const z = /([+-])(\d\d):?(\d\d)/.exec(m[8])!;
  const offset = (z[1] === '-' ? -1 : 1) * (+z[2] * 60 + +z[3]) * 60_000;
  return { ms: wall - offset, zoned: true };
}

const QUARTER_HOUR = 15 * 60_000;
/** Samples are logged to 10 ms, and may print a little before the start line was taken. */
const START_SLACK = 60_000;

/**
 * The instant of a zoneless start time, told by the epoch time of the bench's first sample: the
 * zone offset (time zones are whole quarter hours) that puts the start at most 15 minutes before
 * that sample. Reading it in this machine's zone would misplace a file made elsewhere by hours.
 * Undefined when no zone (UTC-12 to UTC+14) fits.
 */
export function zonelessStart(wall: number, firstSampleAt: number): number | undefined {
  const offset = Math.ceil((wall - firstSampleAt - START_SLACK) / QUARTER_HOUR) * QUARTER_HOUR;
  return offset >= -12 * 3_600_000 && offset <= 14 * 3_600_000 ? wall - offset : undefined;
}

/** A zoneless time read in this machine's zone: the best guess when there is no sample to ask. */
export function inLocalZone(wall: number): number {
  const d = new Date(wall);
  return new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()).getTime() + (wall % 1);
}

export const RESULT_WORD: Record<Outcome, string> = { success: 'Successful', failure: 'Failure', error: 'Error' };

export function outcomeOf(word: string | undefined): Outcome {
  if (word === 'Successful') return 'success';
  if (word === 'Failure') return 'failure';
  return 'error';
}

export const seconds = (ms: number) => pyFloat(ms / 1000);

/**
 * An epoch time to the microsecond, truncated so that it stays in the second it was measured in.
 * Python's str() would round it to 10 ms (1296080586.29), which moves samples across second
 * boundaries and so changes maxRPS/maxSPPS between the live summary and any report built from
 * the file; fl-build-report reads either with float().
 */
export function epochSeconds(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms / 1000);
  const whole = Math.floor(ms / 1000);
  const micro = Math.min(999_999, Math.max(0, Math.floor((ms - whole * 1000) * 1000)));
  return `${whole}.${String(micro).padStart(6, '0')}`;
}
/**
 * How far (ms, either side) the instant may lie from an epoch time as written. FunkLoad writes
 * Python 2's str(time.time()), 12 significant digits: 10 ms for today's times (1438233229.37, or
 * 1438233229.3 once str() dropped a trailing zero). A time written with more digits (ours, to the
 * microsecond) is as fine as its last decimal.
 */
export function timeRoundingMs(text: string): number {
  if (!/^\d+(\.\d*)?$/.test(text)) return 0;
  const dot = text.indexOf('.');
  const whole = (dot < 0 ? text.length : dot) - (text.length - text.replace(/^0+/, '').length);
  const decimals = dot < 0 ? 0 : text.length - dot - 1;
  const step = whole + decimals <= 12 ? 10 ** (whole - 12) : 10 ** -decimals;
  return (step * 1000) / 2;
}

/** Our own elements are not bound by Python's str(): keep whole milliseconds. */
export const secondsMs = (ms: number) => (Math.round(ms) / 1000).toFixed(3);
