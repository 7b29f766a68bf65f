/**
 * Writing FunkLoad's bench result format line by line while the bench runs, exactly as
 * fl-run-bench's logger does, so `fl-build-report` opens our files and a killed run leaves a
 * readable prefix. Our additions are elements FunkLoad's parser ignores: `<marteauCycle>`
 * (recording window of a cycle), `<marteauProxyEvent>` (fault timeline), `<marteauAbort>` (why
 * the run was stopped before its end, last before `</funkload>`), and an `error` attribute (short
 * error kind) on `Error` responses.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { epochSeconds, isoLocal, pad3, pyFloat, quoteattr, RESULT_WORD, seconds, secondsMs } from './funkload-text.js';
import type { ProxyTimelineEvent, RunAbort, RunInfo } from './results.js';
import type { RequestSample, TestSample } from './samples.js';

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
  // To the microsecond, as the samples: a rate rebuilt from the file divides by the same window as the job's own.
  return `<marteauCycle cycle="${pad3(cycle)}" cvus="${pad3(cvus)}" start="${epochSeconds(start)}" end="${epochSeconds(end)}" />`;
}

export function proxyEventLine(e: ProxyTimelineEvent): string {
  const common = `time="${secondsMs(e.at)}" proxy=${quoteattr(e.proxy)} kind="${e.kind}"`;
  return e.kind === 'mix'
    ? `<marteauProxyEvent ${common} mix=${quoteattr(e.mix)}${e.reason ? ` reason=${quoteattr(e.reason)}` : ''} />`
    : `<marteauProxyEvent ${common} behavior=${quoteattr(e.behavior)} count="${e.count}" />`;
}

export function abortLine(a: RunAbort): string {
  return `<marteauAbort why=${quoteattr(a.why)} reason=${quoteattr(a.reason)}${a.at !== undefined ? ` time="${secondsMs(a.at)}"` : ''} />`;
}

/** Bytes of lines held before they are handed on: memory stays bounded without back-pressure handling. */
const BATCH_BYTES = 64 * 1024;

/**
 * Lines handed on in ~64 KiB slices, synchronously: to a file (what was written survives a
 * crash) or to any sink (the builtin agent's stdout). The result file's writer and the engine's
 * copy of an agent's stream both batch this way.
 */
export class LineBatch {
  private pending: string[] = [];
  private pendingBytes = 0;
  private closed = false;

  constructor(private readonly out: (text: string) => void, private readonly end?: () => void) {}

  static file(path: string): LineBatch {
    const fd = openSync(path, 'w');
    return new LineBatch((text) => writeSync(fd, text), () => closeSync(fd));
  }

  line(l: string): void {
    if (this.closed) return;
    this.pending.push(l);
    this.pendingBytes += l.length + 1;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
  }

  flush(): void {
    if (this.closed || this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    this.out(text);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.end?.();
  }
}

/**
 * Streams a result file while the bench runs, to a path or to a sink (`out`), in LineBatch's
 * slices: a killed run leaves a file without `</funkload>`, as FunkLoad.
 */
export class FunkloadXmlWriter {
  private out: LineBatch | undefined;
  /** Lines that came before the deferred header. */
  private waiting: string[] = [];
  private waitingBytes = 0;
  private header: (() => string[]) | undefined;

  /**
   * `deferHeader`: the header (with the run's start time) is written by begin(), when the load
   * starts; lines before it wait. Else it is written at once.
   */
  constructor(out: string | ((text: string) => void), private readonly info: RunInfo, opts: XmlHeaderOptions & { deferHeader?: boolean } = {}) {
    this.out = typeof out === 'string' ? LineBatch.file(out) : new LineBatch(out);
    this.header = () => headerLines(this.info, { path: typeof out === 'string' ? out : undefined, ...opts });
    if (!opts.deferHeader) this.begin();
  }

  /** Write the header from the run's info as it is now, then whatever waited for it. */
  begin(): void {
    if (!this.header || !this.out) return;
    for (const l of this.header()) this.out.line(l);
    this.header = undefined;
    for (const l of this.waiting.splice(0)) this.out.line(l);
    this.out.flush();
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
    if (!this.out) return;
    if (!this.header) return this.out.line(l);
    this.waiting.push(l);
    this.waitingBytes += l.length + 1;
    if (this.waitingBytes >= BATCH_BYTES) this.begin();
  }

  flush(): void {
    if (this.header) return this.begin();
    this.out?.flush();
  }

  close(): void {
    if (!this.out) return;
    this.line('</funkload>');
    this.flush();
    this.out.close();
    this.out = undefined;
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
