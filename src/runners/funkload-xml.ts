/**
 * Reading FunkLoad's bench result format (research note §2.4) into the results model: one file
 * streamed through the tolerant scanner (funkload-scanner.ts), or the files of one distributed
 * bench merged as fl-build-report does. The writer is funkload-writer.ts; our own elements
 * (`<marteauCycle>`, `<marteauProxyEvent>`, `<marteauAbort>`) are read back here and ignored by FunkLoad.
 */
import { createReadStream } from 'node:fs';
import { FunkloadScanner, type XmlElement } from './funkload-scanner.js';
import { inLocalZone, outcomeOf, parseIsoTime, timeRoundingMs, zonelessStart } from './funkload-text.js';
import { abortReason, DEFAULT_APDEX_T, newRunInfo, RunResults, type RunAbort, type RunInfo } from './results.js';
import type { RequestSample, TestSample } from './samples.js';

export interface ReadOptions {
  /** Apdex T in seconds (fl-build-report -T); default: the file's meta:apdex_t, else 1.5. */
  apdexT?: number;
  /** Added to every thread id (merging files from several nodes). */
  threadOffset?: number;
  /** Also handed every sample read (e.g. to fold several nodes' files into one model and file). */
  sink?: { request(s: RequestSample): void; test(t: TestSample): void };
  /** Handed the results model when it is made, before any sample (e.g. to feed it the proxies' faults first). */
  onModel?: (results: RunResults) => void;
}

export interface ReadReport {
  results: RunResults;
  /** No `</funkload>`: the bench was killed (FunkLoad prints "Missing </funkload> tag."). */
  truncated: boolean;
  warnings: string[];
}

const num = (s: string | undefined, fallback = 0) => {
  const n = s === undefined ? NaN : Number(s);
  return Number.isFinite(n) ? n : fallback;
};
/** `startWithinMs` for a sample whose time was written with less than a millisecond's digits. */
function roundedStart(time: string | undefined): { startWithinMs?: number } {
  const within = time === undefined ? 0 : timeRoundingMs(time);
  return within >= 0.5 ? { startWithinMs: within } : {};
}
const int = (s: string | undefined, fallback = 0) => {
  const n = s === undefined ? NaN : parseInt(s, 10);
  return Number.isFinite(n) ? n : fallback;
};

/** `[1, 10, 20]` (Python list repr) or `1:10:20`. */
export function parseCycles(v: string): number[] {
  return v
    .replace(/^\s*\[|\]\s*$/g, '')
    .split(/[,:]/)
    .map((x) => parseInt(x.trim(), 10))
    .filter((x) => Number.isFinite(x));
}

/** The last meaningful line of a Python traceback, as the error kind of a FunkLoad `Error`. */
export function errorFromTraceback(tb: string | undefined): string | undefined {
  if (!tb) return undefined;
  const lines = tb.split('\n').map((l) => l.trim()).filter(Boolean);
  const last = lines.at(-1);
  return last ? last.slice(0, 120) : undefined;
}

/** Folds scanner elements into a RunResults. */
export class FunkloadReader {
  private config: Record<string, string> = {};
  private root: Record<string, string> = {};
  private results: RunResults | undefined;
  private windows = new Map<number, { cvus: number; start: number; end: number; explicit: boolean }>();
  private abort: RunAbort | undefined;
  /** Epoch time of the first sample: tells the zone of the root's zoneless start time. */
  private firstAt: number | undefined;
  readonly warnings: string[] = [];

  constructor(private readonly options: ReadOptions = {}, private readonly into?: RunResults) {}

  element(e: XmlElement): void {
    switch (e.name) {
      case 'funkload':
        this.root = e.attrs;
        return;
      case 'config':
        if (e.attrs.key !== undefined) this.config[e.attrs.key] = e.attrs.value ?? '';
        return;
      case 'response':
        return this.response(e);
      case 'testResult':
        return this.testResult(e);
      case 'marteauCycle': {
        const cycle = int(e.attrs.cycle);
        this.windows.set(cycle, { cvus: int(e.attrs.cvus), start: num(e.attrs.start) * 1000, end: num(e.attrs.end) * 1000, explicit: true });
        return;
      }
      case 'marteauProxyEvent': {
        const at = num(e.attrs.time) * 1000;
        this.sampleAt(at);
        const proxy = e.attrs.proxy ?? '';
        if (e.attrs.kind === 'mix') this.model().addProxyEvent({ at, proxy, kind: 'mix', mix: e.attrs.mix ?? '', ...(e.attrs.reason ? { reason: e.attrs.reason } : {}) });
        else this.model().addProxyEvent({ at, proxy, kind: 'fault', behavior: e.attrs.behavior ?? '', count: int(e.attrs.count, 1) });
        return;
      }
      case 'marteauAbort': {
        const at = num(e.attrs.time, NaN) * 1000;
        this.abort = { why: e.attrs.why || 'stopped', reason: e.attrs.reason || abortReason({}), ...(Number.isFinite(at) ? { at } : {}) };
        return;
      }
      default:
        return; // monitor, monitorconfig and anything unknown
    }
  }

  /** The bench info from the root and config lines. */
  info(): RunInfo {
    const c = this.config;
    const known = new Set([
      'id', 'description', 'class_title', 'class_description', 'module', 'class', 'method', 'cycles', 'duration', 'sleep_time',
      'startup_delay', 'sleep_time_min', 'sleep_time_max', 'cycle_time', 'server_url', 'node', 'label',
    ]);
    const meta: Record<string, string> = {};
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(c)) {
      if (k.startsWith('meta:')) meta[k.slice(5)] = v;
      else if (!known.has(k)) extra[k] = v;
    }
    const apdexT = this.options.apdexT ?? (num(meta.apdex_t) > 0 ? num(meta.apdex_t) : DEFAULT_APDEX_T);
    const runner = meta.runner ?? 'funkload';
    const name = meta.name ?? c.class_title ?? c.class ?? 'bench';
    delete meta.runner;
    delete meta.name;
    delete meta.apdex_t;
    return newRunInfo({
      name,
      runner,
      start: this.startTime(),
      apdexT,
      suite: c.class ?? 'Scenario',
      test: c.method ?? c.id ?? 'test',
      module: c.module,
      description: c.description,
      classDescription: c.class_description,
      node: c.node,
      label: c.label,
      version: this.root.version,
      meta,
      extra,
      bench: {
        cycles: parseCycles(c.cycles ?? ''),
        duration: num(c.duration),
        startupDelay: num(c.startup_delay),
        sleepTime: num(c.sleep_time),
        sleepTimeMin: num(c.sleep_time_min),
        sleepTimeMax: num(c.sleep_time_max),
        cycleTime: num(c.cycle_time),
        serverUrl: c.server_url ?? '',
      },
    });
  }

  private startTime(): number {
    const t = parseIsoTime(this.root.time ?? '');
    if (!Number.isFinite(t.ms)) return this.firstAt ?? 0;
    if (t.zoned) return t.ms;
    return (this.firstAt !== undefined ? zonelessStart(t.ms, this.firstAt) : undefined) ?? inLocalZone(t.ms);
  }

  private sampleAt(at: number): void {
    if (this.firstAt === undefined && Number.isFinite(at) && at > 0) this.firstAt = at;
  }

  private model(): RunResults {
    if (!this.results) {
      this.results = this.into ?? new RunResults(this.info());
      if (!this.into) this.options.onModel?.(this.results);
    }
    return this.results;
  }

  private track(cycle: number, cvus: number, start: number, end: number): void {
    const w = this.windows.get(cycle);
    if (!w) this.windows.set(cycle, { cvus, start, end, explicit: false });
    else if (!w.explicit) {
      w.start = Math.min(w.start, start);
      w.end = Math.max(w.end, end);
    }
  }

  private response(e: XmlElement): void {
    const a = e.attrs;
    const result = outcomeOf(a.result);
    const s: RequestSample = {
      cycle: int(a.cycle),
      cvus: int(a.cvus),
      thread: int(a.thread) + (this.options.threadOffset ?? 0),
      step: int(a.step),
      number: int(a.number),
      type: a.type ?? 'get',
      url: a.url ?? '',
      description: a.description ?? '',
      start: num(a.time) * 1000,
      duration: num(a.duration) * 1000,
      code: int(a.code, -1),
      ...roundedStart(a.time),
      result,
      suite: a.suite,
      name: a.name,
      ...(a.node !== undefined ? { node: a.node } : {}),
    };
    this.sampleAt(s.start);
    if (result === 'error') {
      s.traceback = a.traceback;
      s.error = a.error ?? errorFromTraceback(a.traceback);
    } else if (result === 'failure' && e.body) {
      s.traceback = e.body.slice(0, 2000);
    }
    this.model().addRequest(s);
    this.options.sink?.request(s);
    this.track(s.cycle, s.cvus, s.start, s.start + s.duration);
  }

  private testResult(e: XmlElement): void {
    const a = e.attrs;
    const t: TestSample = {
      cycle: int(a.cycle),
      cvus: int(a.cvus),
      thread: int(a.thread) + (this.options.threadOffset ?? 0),
      start: num(a.time) * 1000,
      duration: num(a.duration) * 1000,
      connectionDuration: num(a.connection_duration) * 1000,
      result: outcomeOf(a.result),
      steps: int(a.steps),
      requests: int(a.requests),
      pages: int(a.pages),
      xmlrpc: int(a.xmlrpc),
      redirects: int(a.redirects),
      images: int(a.images),
      links: int(a.links),
      traceback: a.traceback,
      error: errorFromTraceback(a.traceback),
      suite: a.suite,
      name: a.name,
    };
    this.sampleAt(t.start);
    this.model().addTest(t);
    this.options.sink?.test(t);
    this.track(t.cycle, t.cvus, t.start, t.start + t.duration);
  }

  finish(truncated: boolean): RunResults {
    const r = this.model();
    for (const [cycle, w] of this.windows) {
      const c = r.cycle(cycle, w.cvus);
      c.start = c.start === undefined ? w.start : Math.min(c.start, w.start);
      c.end = c.end === undefined ? w.end : Math.max(c.end, w.end);
    }
    // A cycle announced in the config that recorded nothing still shows (no request ended in its
    // window); not in a bench stopped early, whose later cycles never ran (fl-build-report has no
    // row for them either).
    if (!truncated && !this.abort) r.info.bench.cycles.forEach((cvus, i) => r.cycle(i, cvus));
    // The last sample's end, whatever the start says (a start read in the wrong zone once made
    // the two equal).
    let last: number | undefined;
    for (const c of r.cycles.values()) if (c.end !== undefined && (last === undefined || c.end > last)) last = c.end;
    r.finish(last ?? r.info.start, truncated);
    if (this.abort) r.stoppedBy(this.abort);
    // FunkLoad's own file cut short: fl-run-bench ended before its bench did, not marteau-tui's
    // job (whose stops are <marteauAbort> lines): a failed run, as the job that ran it says.
    else if (truncated) r.stoppedBy({ why: 'stopped', reason: 'the results end without </funkload>: fl-run-bench stopped before the end of its bench (killed, or aborted by Ctrl-C, SIGTERM or SIGQUIT)' });
    return r;
  }
}

export function parseFunkloadXml(text: string, options: ReadOptions = {}): ReadReport {
  const reader = new FunkloadReader(options);
  const scanner = new FunkloadScanner((e) => reader.element(e));
  scanner.feed(text);
  scanner.end();
  if (!scanner.sawRoot) throw new FunkloadFormatError('not a FunkLoad bench result: no <funkload> element');
  const truncated = !scanner.sawEnd;
  const warnings = [...reader.warnings];
  if (truncated) warnings.push('Missing </funkload> tag: the bench was interrupted; the results read so far are used.');
  return { results: reader.finish(truncated), truncated, warnings };
}

export class FunkloadFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FunkloadFormatError';
  }
}

/** Stream a file of any size (memory: the model plus one chunk). */
export async function readFunkloadXml(path: string, options: ReadOptions = {}, into?: RunResults): Promise<ReadReport & { info: RunInfo }> {
  const reader = new FunkloadReader(options, into);
  const scanner = new FunkloadScanner((e) => reader.element(e));
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  for await (const chunk of stream) scanner.feed(chunk as string);
  scanner.end();
  if (!scanner.sawRoot) throw new FunkloadFormatError(`${path}: not a FunkLoad bench result (no <funkload> element)`);
  const truncated = !scanner.sawEnd;
  const warnings = [...reader.warnings];
  if (truncated) warnings.push(`${path}: missing </funkload> tag: the bench was interrupted; the results read so far are used.`);
  const info = reader.info();
  return { results: reader.finish(truncated), truncated, warnings, info };
}

/** Only the root and `<config>` lines of a file (stops reading at the first sample). */
export async function readFunkloadHeader(path: string): Promise<RunInfo> {
  const reader = new FunkloadReader();
  let done = false;
  const scanner = new FunkloadScanner((e) => {
    if (e.name === 'funkload' || e.name === 'config') reader.element(e);
    else done = true;
  });
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream) {
      scanner.feed(chunk as string);
      if (done) break;
    }
  } finally {
    stream.destroy();
  }
  return reader.info();
}

/**
 * The config key our builtin agents write ("1/2": share 1 of 2): the file holds that share of
 * each cycle's users, and its header's cycles are already the totals.
 */
export const SHARE_META = 'marteau_share';

/**
 * Several files of one distributed bench (one per node), merged as fl-build-report does: files
 * whose cycles or duration differ from the first are skipped with a warning, thread ids are kept
 * apart per file, and each cycle's users are the sum over the nodes. FunkLoad's distributed
 * mode runs every cycle in full on each node, so the users multiply; our builtin agents split
 * them (SHARE_META), so their header's cycles are the users that ran.
 */
export async function readFunkloadXmlFiles(paths: string[], options: ReadOptions = {}): Promise<ReadReport> {
  if (paths.length === 0) throw new FunkloadFormatError('no result file given');
  if (paths.length === 1) return readFunkloadXml(paths[0], options);
  const first = await readFunkloadHeader(paths[0]);
  let merged: RunResults | undefined;
  let truncated = false;
  const warnings: string[] = [];
  const nodes: string[] = [];
  let used = 0;
  for (const [i, p] of paths.entries()) {
    const head = i === 0 ? first : await readFunkloadHeader(p);
    if (head.bench.cycles.join() !== first.bench.cycles.join() || head.bench.duration !== first.bench.duration) {
      warnings.push(`${p}: skipped, its cycles or duration differ from ${paths[0]} (as fl-build-report does)`);
      continue;
    }
    const r = await readFunkloadXml(p, { ...options, threadOffset: i * 1000 }, merged);
    merged ??= r.results;
    used++;
    if (r.info.node) nodes.push(r.info.node);
    truncated ||= r.truncated;
    warnings.push(...r.warnings);
  }
  const r = merged!;
  const split = SHARE_META in first.meta;
  delete r.info.meta[SHARE_META];
  // Each sample carries its own node's cvus; the merged cycle runs them all.
  r.info.bench.cycles = first.bench.cycles.map((c) => (split ? c : c * used));
  for (const c of r.cycles.values()) c.cvus = r.info.bench.cycles[c.cycle] ?? c.cvus * used;
  if (nodes.length) r.info.node = nodes.join(', ');
  return { results: r, truncated, warnings };
}
