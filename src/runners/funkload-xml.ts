/**
 * FunkLoad's bench result format (research note §2.4), both ways:
 * - writing: line by line while the bench runs, exactly as fl-run-bench's logger does, so
 *   `fl-build-report` opens our files and a killed run leaves a readable prefix;
 * - reading: a tolerant streaming scanner rather than a strict XML parser, because real FunkLoad
 *   files are not always well-formed (missing `</funkload>` after a kill, raw CDATA bodies with
 *   stray bytes, a `"` after xmlrpc `/>`, attributes in single quotes).
 *
 * Our additions are elements FunkLoad's parser ignores (it only acts on the names it knows):
 * `<marteauCycle>` (recording window of a cycle) and `<marteauProxyEvent>` (fault timeline), plus an
 * `error` attribute (short error kind) on `Error` responses.
 */
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { DEFAULT_APDEX_T, newRunInfo, RunResults, type ProxyTimelineEvent, type RunInfo } from './results.js';
import type { Outcome, RequestSample, TestSample } from './samples.js';

// ---------------------------------------------------------------------------------------------
// Formatting helpers (pure), mirroring the Python 2 writer

/** Python's xml.sax.saxutils.quoteattr: escape, then pick the quote the value does not contain. */
export function quoteattr(value: string): string {
  let v = value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  v = v.replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
  if (v.includes('"')) {
    if (v.includes("'")) v = `"${v.replace(/"/g, '&quot;')}"`;
    else v = `'${v}'`;
  } else v = `"${v}"`;
  return v;
}

/** Python 2 `str(float)`: 12 significant digits, and a trailing `.0` on whole numbers. */
export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const s = String(Number(x.toPrecision(12)));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

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
function inLocalZone(wall: number): number {
  const d = new Date(wall);
  return new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()).getTime() + (wall % 1);
}

const RESULT_WORD: Record<Outcome, string> = { success: 'Successful', failure: 'Failure', error: 'Error' };

function outcomeOf(word: string | undefined): Outcome {
  if (word === 'Successful') return 'success';
  if (word === 'Failure') return 'failure';
  return 'error';
}

const seconds = (ms: number) => pyFloat(ms / 1000);

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
/** Our own elements are not bound by Python's str(): keep whole milliseconds. */
const secondsMs = (ms: number) => (Math.round(ms) / 1000).toFixed(3);

// ---------------------------------------------------------------------------------------------
// Writing

export interface XmlHeaderOptions {
  /** Path recorded as `log_xml`. */
  path?: string;
  generator?: string;
}

/** `<funkload>` and the `<config>` lines fl-run-bench writes first. */
export function headerLines(info: RunInfo, opts: XmlHeaderOptions = {}): string[] {
  const b = info.bench;
  const config: [string, string][] = [
    ['id', info.test],
    ['description', info.description ?? ''],
    ['class_title', info.suite],
    ['class_description', info.classDescription ?? info.name],
    ['module', info.module ?? 'scenario'],
    ['class', info.suite],
    ['method', info.test],
    ['cycles', `[${b.cycles.join(', ')}]`],
    // An int in FunkLoad; a fractional duration (short test runs) is written as is.
    ['duration', String(b.duration)],
    ['sleep_time', pyFloat(b.sleepTime)],
    ['startup_delay', pyFloat(b.startupDelay)],
    ['sleep_time_min', pyFloat(b.sleepTimeMin)],
    ['sleep_time_max', pyFloat(b.sleepTimeMax)],
    ['cycle_time', pyFloat(b.cycleTime)],
    ['configuration_file', info.extra.configuration_file ?? ''],
    ['server_url', b.serverUrl],
    ['log_xml', opts.path ?? info.extra.log_xml ?? ''],
    ['node', info.node ?? hostname()],
  ];
  if (info.label) config.push(['label', info.label]);
  for (const [k, v] of Object.entries(info.extra)) if (!config.some(([key]) => key === k)) config.push([k, v]);
  const meta: Record<string, string> = { runner: info.runner, name: info.name, apdex_t: String(info.apdexT), ...info.meta };
  for (const [k, v] of Object.entries(meta)) config.push([`meta:${k}`, v]);
  const version = opts.generator ?? info.version ?? 'marteau-tui';
  return [
    `<funkload version=${quoteattr(version)} time="${isoLocal(info.start)}">`,
    ...config.map(([k, v]) => `<config key=${quoteattr(k)} value=${quoteattr(v)} />`),
  ];
}

export function responseLine(s: RequestSample): string {
  const head =
    `<response cycle="${pad3(s.cycle)}" cvus="${pad3(s.cvus)}" thread="${pad3(s.thread)}" suite="${s.suite ?? 'Scenario'}" name="${s.name ?? 'test_scenario'}" ` +
    `step="${pad3(s.step)}" number="${pad3(s.number)}" type="${s.type}" result="${RESULT_WORD[s.result]}" url=${quoteattr(s.url)} ` +
    `code="${s.code}" description=${s.description ? quoteattr(s.description) : '""'} time="${epochSeconds(s.start)}" duration="${seconds(s.duration)}"${s.node !== undefined ? ` node=${quoteattr(s.node)}` : ''}`;
  if (s.result === 'error') {
    return `${head} traceback=${quoteattr(s.traceback ?? s.error ?? 'error')}${s.error ? ` error=${quoteattr(s.error)}` : ''} />`;
  }
  return `${head} />`;
}

export function testResultLine(t: TestSample): string {
  const tb = t.result === 'success' ? '' : `traceback=${quoteattr(t.traceback ?? t.error ?? RESULT_WORD[t.result])} `;
  // The double space before `time` is in FunkLoad's writer too.
  return (
    `<testResult cycle="${pad3(t.cycle)}" cvus="${pad3(t.cvus)}" thread="${pad3(t.thread)}" suite="${t.suite ?? 'Scenario'}" name="${t.name ?? 'test_scenario'}"  ` +
    `time="${epochSeconds(t.start)}" result="${RESULT_WORD[t.result]}" steps="${t.steps}" duration="${seconds(t.duration)}" ` +
    `connection_duration="${seconds(t.connectionDuration)}" requests="${t.requests}" pages="${t.pages}" xmlrpc="${t.xmlrpc ?? 0}" ` +
    `redirects="${t.redirects ?? 0}" images="${t.images ?? 0}" links="${t.links ?? 0}" ${tb}/>`
  );
}

export function cycleLine(cycle: number, cvus: number, start: number, end: number): string {
  return `<marteauCycle cycle="${pad3(cycle)}" cvus="${pad3(cvus)}" start="${secondsMs(start)}" end="${secondsMs(end)}" />`;
}

export function proxyEventLine(e: ProxyTimelineEvent): string {
  const common = `time="${secondsMs(e.at)}" proxy=${quoteattr(e.proxy)} kind="${e.kind}"`;
  return e.kind === 'mix'
    ? `<marteauProxyEvent ${common} mix=${quoteattr(e.mix)}${e.reason ? ` reason=${quoteattr(e.reason)}` : ''} />`
    : `<marteauProxyEvent ${common} behavior=${quoteattr(e.behavior)} count="${e.count}" />`;
}

/**
 * Streams a result file while the bench runs: lines are batched and written synchronously in
 * ~64 KiB slices, so memory stays bounded without back-pressure handling in the hot path and
 * what was written survives a crash (a killed run leaves a file without `</funkload>`, as FunkLoad).
 */
export class FunkloadXmlWriter {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;

  private header: (() => string[]) | undefined;

  /**
   * `deferHeader`: the header (with the run's start time) is written by begin(), when the load
   * starts; lines before it wait. Else it is written at once.
   */
  constructor(readonly path: string, private readonly info: RunInfo, opts: XmlHeaderOptions & { deferHeader?: boolean } = {}) {
    this.fd = openSync(path, 'w');
    this.header = () => headerLines(this.info, { path, ...opts });
    if (!opts.deferHeader) this.begin();
  }

  /** Write the header from the run's info as it is now, then whatever waited for it. */
  begin(): void {
    if (!this.header || this.fd === undefined) return;
    const waiting = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const l of this.header()) this.line(l);
    this.header = undefined;
    for (const l of waiting) this.line(l);
    this.flush();
  }

  request(s: RequestSample): void {
    this.line(responseLine(s));
  }
  test(t: TestSample): void {
    this.line(testResultLine(t));
  }
  cycle(cycle: number, cvus: number, start: number, end: number): void {
    this.line(cycleLine(cycle, cvus, start, end));
  }
  proxyEvent(e: ProxyTimelineEvent): void {
    this.line(proxyEventLine(e));
  }

  private line(l: string): void {
    if (this.fd === undefined) return;
    this.pending.push(l);
    this.pendingBytes += l.length + 1;
    if (this.pendingBytes >= 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.header) return this.begin();
    if (this.fd === undefined || this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    writeSync(this.fd, text);
  }

  close(): void {
    if (this.fd === undefined) return;
    this.line('</funkload>');
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Write a whole result file from known samples (tests, small tools). */
export function formatFunkloadXml(
  info: RunInfo,
  items: ({ request: RequestSample } | { test: TestSample } | { proxy: ProxyTimelineEvent } | { cycle: { cycle: number; cvus: number; start: number; end: number } })[],
): string {
  const lines = headerLines(info);
  for (const it of items) {
    if ('request' in it) lines.push(responseLine(it.request));
    else if ('test' in it) lines.push(testResultLine(it.test));
    else if ('proxy' in it) lines.push(proxyEventLine(it.proxy));
    else lines.push(cycleLine(it.cycle.cycle, it.cycle.cvus, it.cycle.start, it.cycle.end));
  }
  lines.push('</funkload>');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Reading: a tolerant scanner

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** For a non-empty <response>: its <header>s and <body> CDATA. */
  headers?: Record<string, string>;
  body?: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e] ?? m; // unknown entity: keep the text (lenient)
  });
}

/** Parse the attributes of a start tag's inside (`name a="1" b='2'`). */
export function parseAttributes(inside: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /([^\s=/"']+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  for (let m = re.exec(inside), guard = 0; m && guard < 10_000; m = re.exec(inside), guard++) {
    attrs[m[1]] = decodeEntities(m[2] ?? m[3] ?? '');
  }
  return attrs;
}

/** Where the tag that starts at `lt` ends (index of its `>`), honouring quotes; -1 if not yet. */
function tagEnd(buf: string, lt: number): number {
  let quote = '';
  for (let i = lt + 1; i < buf.length; i++) {
    const ch = buf[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '>') return i;
  }
  return -1;
}

const MAX_TAG = 1 << 20; // a start tag longer than this is garbage: skip it
const MAX_BODY = 4 << 20; // CDATA kept per response body

/**
 * A push scanner: feed text chunks, get complete elements back. Only the element kinds FunkLoad
 * files use are built; anything else (text, comments, processing instructions, stray quotes) is
 * skipped. Memory: the unconsumed tail of the input and one open <response>.
 */
export class FunkloadScanner {
  private buf = '';
  private open: XmlElement | undefined;
  private inBody = false;
  private bodyParts: string[] = [];
  private bodySize = 0;
  sawEnd = false;
  sawRoot = false;

  constructor(private readonly emit: (e: XmlElement) => void) {}

  feed(chunk: string): void {
    this.buf += chunk;
    let pos = 0;
    for (let guard = 0; guard < 10_000_000; guard++) {
      const lt = this.buf.indexOf('<', pos);
      if (lt < 0) {
        pos = this.buf.length;
        break;
      }
      if (this.buf.startsWith('<![CDATA[', lt)) {
        const end = this.buf.indexOf(']]>', lt + 9);
        if (end < 0) {
          if (this.buf.length - lt > MAX_BODY + 16) {
            // Runaway CDATA: keep what fits, drop the rest up to here.
            this.addBody(this.buf.slice(lt + 9));
            this.buf = '<![CDATA[';
            return;
          }
          pos = lt;
          break;
        }
        this.addBody(this.buf.slice(lt + 9, end));
        pos = end + 3;
        continue;
      }
      if (this.buf.startsWith('<!--', lt)) {
        const end = this.buf.indexOf('-->', lt + 4);
        if (end < 0) {
          pos = lt;
          break;
        }
        pos = end + 3;
        continue;
      }
      const gt = tagEnd(this.buf, lt);
      if (gt < 0) {
        if (this.buf.length - lt > MAX_TAG) {
          pos = lt + 1; // not a tag we can ever close: skip the '<'
          continue;
        }
        pos = lt;
        break;
      }
      this.tag(this.buf.slice(lt + 1, gt));
      pos = gt + 1;
    }
    this.buf = this.buf.slice(pos);
  }

  /** End of input: a response left open (killed bench) is still delivered. */
  end(): void {
    if (this.open) this.closeResponse();
    this.buf = '';
  }

  private addBody(text: string): void {
    if (!this.open || !this.inBody) return;
    if (this.bodySize < MAX_BODY) {
      const part = text.slice(0, MAX_BODY - this.bodySize);
      this.bodyParts.push(part);
      this.bodySize += part.length;
    }
  }

  private tag(inside: string): void {
    if (inside.startsWith('?') || inside.startsWith('!')) return;
    if (inside.startsWith('/')) {
      const name = inside.slice(1).trim();
      if (name === 'funkload') this.sawEnd = true;
      else if (name === 'body') this.inBody = false;
      else if (name === 'response' && this.open) this.closeResponse();
      return;
    }
    const selfClosing = inside.endsWith('/');
    const m = /^([A-Za-z_][\w.:-]*)/.exec(inside);
    if (!m) return;
    const name = m[1];
    const attrs = parseAttributes(inside.slice(name.length, selfClosing ? -1 : undefined));
    if (name === 'funkload') this.sawRoot = true;
    if (name === 'response' && !selfClosing) {
      if (this.open) this.closeResponse();
      this.open = { name, attrs, headers: {} };
      return;
    }
    if (name === 'header' && this.open) {
      if (attrs.name !== undefined) this.open.headers![attrs.name] = attrs.value ?? '';
      return;
    }
    if (name === 'body' && this.open) {
      this.inBody = !selfClosing;
      return;
    }
    if (name === 'headers') return;
    this.emit({ name, attrs });
  }

  private closeResponse(): void {
    const e = this.open!;
    // The writer wraps the body as "\n...\n" inside CDATA.
    let body = this.bodyParts.join('');
    if (body.startsWith('\n')) body = body.slice(1);
    if (body.endsWith('\n')) body = body.slice(0, -1);
    e.body = body;
    this.open = undefined;
    this.inBody = false;
    this.bodyParts = [];
    this.bodySize = 0;
    this.emit(e);
  }
}

// ---------------------------------------------------------------------------------------------
// From elements to the results model

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
    // Cycles announced in the config but with nothing recorded still show (FunkLoad: "Sorry no tests...").
    r.info.bench.cycles.forEach((cvus, i) => r.cycle(i, cvus));
    // The last sample's end, whatever the start says (a start read in the wrong zone once made
    // the two equal).
    let last: number | undefined;
    for (const c of r.cycles.values()) if (c.end !== undefined && (last === undefined || c.end > last)) last = c.end;
    r.finish(last ?? r.info.start, truncated);
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
