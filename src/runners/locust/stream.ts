/**
 * A cycle's figures per request name as the plugin streams them with its ticks (plugin.ts,
 * `_by_name`): what a cycle whose CSV files never came back is reported from, per name as the
 * files would have it. Names and texts come once each under an id; what the plugin streamed
 * together past its limit of a kind (id null) is named so here.
 */
import type { LocustException, LocustFailure, LocustProgressLine } from './csv.js';
import { STREAMED_PER_KIND } from './plugin.js';

/** One request name's recorded requests: their times as Locust's rounded-ms histogram. */
export interface StreamedEntry {
  method: string;
  name: string;
  failures: number;
  /** [ms, count], ascending ms. */
  durations: [number, number][];
}

/** A cycle from the stream, in the CSV files' terms. */
export interface StreamedCycle {
  entries: readonly StreamedEntry[];
  failures: readonly LocustFailure[];
  exceptions: readonly LocustException[];
}

export const OTHER_NAMES = `the request names past the first ${STREAMED_PER_KIND} (streamed together)`;
export const OTHER_FAILURES = `failure messages past the first ${STREAMED_PER_KIND} (streamed together)`;
export const OTHER_EXCEPTIONS = `exceptions past the first ${STREAMED_PER_KIND} (streamed together)`;

const count = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const id = (v: unknown): v is number | null => v === null || count(v);
const rows = (v: unknown): unknown[][] => (Array.isArray(v) ? v.filter(Array.isArray) : []);

/** The stream of one Locust process (its ids are its own). */
export class CycleStream {
  private readonly names = new Map<number, [method: string, name: string]>();
  private readonly texts = new Map<number, string[]>();
  private readonly entries = new Map<number | null, { failures: number; durations: Map<number, number> }>();
  private readonly failed = new Map<string, { name: number | null; text: number | null; n: number }>();
  private readonly raised = new Map<number | null, number>();

  /**
   * A tick's fields. Names and texts are kept from every tick; requests and failures only once
   * the cycle records (Locust reset its stats then, as its CSV files are), exceptions from the
   * start (Locust does not reset those: its exceptions file holds the ramp-up's too).
   */
  add(tick: Extract<LocustProgressLine, { kind: 'tick' }>, recording: boolean): void {
    for (const [k, method, name] of rows(tick.named)) if (count(k) && typeof method === 'string' && typeof name === 'string') this.names.set(k, [method, name]);
    for (const [k, ...text] of rows(tick.texts)) if (count(k) && text.every((t) => typeof t === 'string')) this.texts.set(k, text as string[]);
    for (const [k, n] of rows(tick.raised)) if (id(k) && count(n)) this.raised.set(k, (this.raised.get(k) ?? 0) + n);
    if (!recording) return;
    for (const [k, , failures, times] of rows(tick.per_name)) {
      if (!id(k) || !count(failures) || typeof times !== 'object' || times === null) continue;
      const e = this.entries.get(k) ?? { failures: 0, durations: new Map<number, number>() };
      this.entries.set(k, e);
      e.failures += failures;
      for (const [ms, c] of Object.entries(times)) if (Number(ms) >= 0 && count(c)) e.durations.set(Number(ms), (e.durations.get(Number(ms)) ?? 0) + c);
    }
    for (const [name, text, n] of rows(tick.failed)) {
      if (!id(name) || !id(text) || !count(n)) continue;
      const key = `${name}:${text}`;
      const f = this.failed.get(key) ?? { name, text, n: 0 };
      this.failed.set(key, f);
      f.n += n;
    }
  }

  /** What was streamed, named: a request name (or failure, exception) past the limit as such. */
  cycle(): StreamedCycle {
    const name = (k: number | null): [string, string] => (k === null ? ['', OTHER_NAMES] : (this.names.get(k) ?? ['', OTHER_NAMES]));
    const entries = [...this.entries].map(([k, e]) => {
      const [method, name_] = name(k);
      return { method, name: name_, failures: e.failures, durations: [...e.durations].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]) };
    });
    const failures = [...this.failed.values()].map(({ name: k, text, n }) => {
      const [method, name_] = name(k);
      return { method, name: name_, error: (text !== null && this.texts.get(text)?.[0]) || OTHER_FAILURES, occurrences: n };
    });
    const exceptions = [...this.raised].map(([k, n]) => {
      const [message, traceback] = (k !== null && this.texts.get(k)) || [OTHER_EXCEPTIONS, ''];
      return { count: n, message, traceback: traceback ?? '' };
    });
    return { entries: entries.filter((e) => e.durations.length), failures, exceptions };
  }
}
