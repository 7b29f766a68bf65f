/**
 * The HTML report: ONE self-contained file (inline CSS and SVG, no script, no external asset;
 * a Content-Security-Policy forbids loading anything), readable offline and attachable to a CI
 * run. Sections follow FunkLoad's bench report (configuration, per-cycle test/page/request
 * tables, page detail, errors) and add what a chaos run needs: charts against time with the
 * proxy fault timeline drawn under the same time axis.
 */
import { attributionLine, OUTCOME_CLASSES, recoveryText, type Measures, type WindowMeasure } from '../runners/measures/index.js';
import { apdexRating } from '../runners/formulas.js';
import type { ProxyTimelineEvent, RunSummary } from '../runners/results.js';
import type { CycleSummary } from '../runners/summary.js';
import { formatValue, verdictWord, type ThresholdResult } from '../runners/thresholds.js';
import { MATRIX_CSS, matrixSection, type Matrix } from './matrix.js';
import { barChart, esc, lineChart, makeScale, niceTicks, PAD, WIDTH, type Band, type Marker } from './svg.js';
import { lostLine } from '../runners/nodes.js';

const COLORS = {
  rps: '#2563eb',
  spps: '#16a34a',
  stps: '#9333ea',
  errors: '#dc2626',
  p50: '#0891b2',
  p90: '#ca8a04',
  p95: '#ea580c',
  p99: '#dc2626',
  avg: '#64748b',
  users: '#94a3b8',
  success: '#16a34a',
  recovered: '#15803d',
  notRecovered: '#b91c1c',
  tooSoon: '#b45309',
};
const PALETTE = ['#dc2626', '#ea580c', '#ca8a04', '#9333ea', '#db2777', '#0d9488', '#2563eb', '#4d7c0f'];
const APDEX_COLORS: Record<string, string> = { UNACCEPTABLE: '#9ca3af', POOR: '#ef4444', FAIR: '#facc15', Good: '#22c55e', Excellent: '#3b82f6' };

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)}s` : v >= 10 ? `${v.toFixed(0)}ms` : `${v.toFixed(1)}ms`);
const f3 = (v: number) => v.toFixed(3);
const f1 = (v: number) => v.toFixed(1);
const pctS = (v: number) => `${v.toFixed(2)}%`;
const secs = (v: number) => `${Math.round(v)}s`;
const int = (v: number) => String(Math.round(v));

export interface HtmlOptions {
  /** Shown in the footer, e.g. "marteau-tui 0.1.0". */
  generator?: string;
  /** Notes shown at the top (e.g. "Missing </funkload> tag"). */
  warnings?: string[];
  /** A sweep's resilience matrix: the report's first section, and a failing cell fails the run. */
  matrix?: Matrix;
}

function dateText(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return 'unknown';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function table(headers: string[], rows: (string | number)[][], cls = ''): string {
  const th = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' ? esc(String(c)) : c}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function apdexCell(score: number): string {
  const r = apdexRating(score);
  return `<span class="apdex" style="background:${APDEX_COLORS[r]}" title="${esc(r)}">${f3(score)} ${esc(r[0])}</span>`;
}

function perCycleCharts(s: RunSummary): string {
  const cycles = s.cycles.filter((c) => c.requests.total > 0 || c.tests.total > 0);
  if (cycles.length === 0) return '<p class="empty">Sorry no requests have finished during a cycle, the cycle duration is too short.</p>';
  const users = cycles.map((c) => c.cvus);
  const at = (f: (c: CycleSummary) => number) => cycles.map((c) => [c.cvus, f(c)] as [number, number]);
  const throughput = lineChart({
    id: 'chart-throughput-users',
    title: 'Throughput by concurrent users',
    categorical: true,
    x: { label: 'concurrent users (CUs)', format: int, ticks: users },
    y: { label: 'per second', format: (v) => (v >= 100 ? int(v) : f1(v)) },
    series: [
      { name: 'RPS', color: COLORS.rps, points: at((c) => c.requests.rps) },
      { name: 'SPPS', color: COLORS.spps, points: at((c) => c.pages.spps) },
      { name: 'STPS', color: COLORS.stps, points: at((c) => c.tests.stps) },
    ],
  });
  const latency = lineChart({
    id: 'chart-latency-users',
    title: 'Request response time by concurrent users',
    categorical: true,
    x: { label: 'concurrent users (CUs)', format: int, ticks: users },
    y: { label: 'response time', format: ms },
    series: [
      { name: 'p50', color: COLORS.p50, points: at((c) => c.requests.latency.p50) },
      { name: 'p90', color: COLORS.p90, points: at((c) => c.requests.latency.p90) },
      { name: 'p95', color: COLORS.p95, points: at((c) => c.requests.latency.p95) },
      { name: 'p99', color: COLORS.p99, points: at((c) => c.requests.latency.p99) },
      { name: 'avg', color: COLORS.avg, points: at((c) => c.requests.latency.avg), dashed: true },
    ],
  });
  return throughput + latency;
}

function cycleTables(s: RunSummary): string {
  const cycles = s.cycles;
  const test = table(
    ['CUs', 'STPS', 'TOTAL', 'SUCCESS', 'ERROR'],
    cycles.map((c) => [c.cvus, f3(c.tests.stps), c.tests.total, c.tests.success, pctS(c.tests.errorPercent)]),
    'num',
  );
  const page = table(
    ['CUs', 'FL Apdex*', 'SPPS', 'maxSPPS', 'TOTAL', 'SUCCESS', 'ERROR', 'MIN', 'AVG', 'MAX', 'P10', 'MED', 'P90', 'P95'],
    cycles.map((c) => {
      const l = c.pages.latency;
      return [c.cvus, apdexCell(c.pages.apdex.score), f3(c.pages.spps), c.pages.maxSpps, c.pages.total, c.pages.success, pctS(c.pages.errorPercent), ms(l.min), ms(l.avg), ms(l.max), ms(l.p10), ms(l.p50), ms(l.p90), ms(l.p95)];
    }),
    'num',
  );
  const request = table(
    ['CUs', 'Apdex', 'FL Apdex*', 'RPS', 'maxRPS', 'TOTAL', 'SUCCESS', 'ERROR', 'MIN', 'AVG', 'MAX', 'P10', 'MED', 'P90', 'P95', 'P99'],
    cycles.map((c) => {
      const l = c.requests.latency;
      return [c.cvus, apdexCell(c.apdex.score), apdexCell(c.requests.apdex.score), f3(c.requests.rps), c.requests.maxRps, c.requests.total, c.requests.success, pctS(c.requests.errorPercent), ms(l.min), ms(l.avg), ms(l.max), ms(l.p10), ms(l.p50), ms(l.p90), ms(l.p95), ms(l.p99)];
    }),
    'num',
  );
  return `<h3>Test stats</h3><p>Successful <b>tests</b> per second (STPS) over concurrent users (CUs).</p>${test}
<h3>Page stats</h3><p>Successful <b>pages</b> per second (SPPS) over CUs; times over successful pages.</p>${page}
<h3>Request stats</h3><p><b>Requests</b> per second (RPS), successful or not, over CUs.</p>${request}
<p class="note">Apdex T = ${s.info.apdexT}s. Apdex is the standard one: a failed request is frustrated. * FL Apdex is FunkLoad's: by duration alone, a failed request counts as satisfied if it was fast, and the page Apdex is computed over response times, as FunkLoad does. Percentiles are nearest-rank (FunkLoad's definition) within 1.6 %.</p>`;
}

function timeCharts(s: RunSummary): { html: string; t0: number; t1: number } {
  // The timeline's origin is the whole second before the start: using it for every time chart
  // keeps buckets, cycles and proxy events (counted per epoch second) on one axis.
  const t0 = s.timeline[0]?.at ?? (s.info.start ? Math.floor(s.info.start / 1000) * 1000 : 0);
  const lastPoint = s.timeline.at(-1);
  const endCandidates = [s.info.end ?? 0, lastPoint ? lastPoint.at + lastPoint.width : 0, ...s.proxyEvents.map((e) => e.at + 1000), ...(s.measures?.windows ?? []).map((w) => w.end ?? 0)];
  const t1 = Math.max(t0 + 1000, ...endCandidates.filter((x) => Number.isFinite(x)));
  const rel = (ms: number) => (ms - t0) / 1000;
  const xMax = rel(t1);
  const bands: Band[] = s.cycles
    .filter((c) => c.start !== undefined && c.end !== undefined)
    .map((c) => ({ from: rel(c.start!), to: rel(c.end!), label: `#${c.cycle} ${c.cvus} CUs` }));
  const windows = s.measures?.windows ?? [];
  bands.push(...windows.map((w) => ({ from: rel(w.start), to: rel(w.end ?? t1), label: `${w.name} (${w.proxy})`, className: 'fault' })));
  const markers: Marker[] = [...mixMarkers(s.proxyEvents).map((m) => ({ x: rel(m.at), label: m.label, color: m.color })), ...recoveryMarkers(windows, rel)];
  const mid = (p: RunSummary['timeline'][number]) => rel(p.at + p.width / 2);
  const pts = s.timeline.filter((p) => p.requests > 0);
  const throughput = lineChart({
    id: 'chart-throughput-time',
    title: 'Throughput over time',
    x: { label: 'seconds since start', format: secs, min: 0, max: xMax },
    y: { label: 'per second', format: (v) => (v >= 100 ? int(v) : f1(v)) },
    bands,
    markers,
    series: [
      { name: 'requests/s', color: COLORS.rps, points: pts.map((p) => [mid(p), p.rps]) },
      { name: 'errors/s', color: COLORS.errors, points: pts.map((p) => [mid(p), p.errors / (p.width / 1000)]) },
    ],
  });
  const success = lineChart({
    id: 'chart-success-time',
    title: 'Success rate over time',
    x: { label: 'seconds since start', format: secs, min: 0, max: xMax },
    y: { label: 'successful requests', format: (v) => `${int(v)}%`, min: 0, max: 100 },
    bands,
    markers,
    series: [{ name: 'success %', color: COLORS.success, points: pts.map((p) => [mid(p), (100 * (p.requests - p.errors)) / p.requests]) }],
  });
  const latency = lineChart({
    id: 'chart-latency-time',
    title: 'Response time percentiles over time',
    x: { label: 'seconds since start', format: secs, min: 0, max: xMax },
    y: { label: 'response time', format: ms },
    bands,
    markers,
    series: [
      { name: 'p50', color: COLORS.p50, points: pts.map((p) => [mid(p), p.p50]) },
      { name: 'p95', color: COLORS.p95, points: pts.map((p) => [mid(p), p.p95]) },
      { name: 'p99', color: COLORS.p99, points: pts.map((p) => [mid(p), p.p99]) },
    ],
  });
  const width = s.timeline[0]?.width ?? 1000;
  const faultNote = windows.length ? '; red: fault windows, with a solid line where the service recovered' : '';
  const note = `<p class="note">One point per ${width / 1000}s; shaded: the cycles' recording windows${faultNote}; dashed lines: proxy behavior changes.</p>`;
  return { html: throughput + success + latency + note, t0, t1 };
}

/** Where each window recovered (or a "not recovered" / "too soon" mark at its end), on the time charts. */
function recoveryMarkers(windows: WindowMeasure[], rel: (ms: number) => number): Marker[] {
  return windows
    .filter((w) => w.end !== undefined)
    .map((w) => {
      const label = `${w.name}: ${recoveryText(w.recovery)}`;
      if (w.recovery.status === 'recovered') return { x: rel(w.end! + w.recovery.ms!), label, text: `↻ ${(w.recovery.ms! / 1000).toFixed(1)}s`, color: COLORS.recovered, className: 'recovery' };
      // Not judged is not failed: its own colour, not the red of "not recovered".
      if (w.recovery.status === 'too soon') return { x: rel(w.end!), label, text: 'too soon to judge', color: COLORS.tooSoon, className: 'recovery too-soon' };
      return { x: rel(w.end!), label, text: w.recovery.status, color: COLORS.notRecovered, className: 'recovery not-recovered' };
    });
}

interface MixMark {
  at: number;
  proxy: string;
  mix: string;
  /** Why it changed: a chaos step, a fixture, a change by hand. */
  reason?: string;
  label: string;
  color: string;
}

function mixMarkers(events: ProxyTimelineEvent[]): MixMark[] {
  const proxies = [...new Set(events.map((e) => e.proxy))];
  return events
    .filter((e): e is Extract<ProxyTimelineEvent, { kind: 'mix' }> => e.kind === 'mix')
    .map((e) => ({ at: e.at, proxy: e.proxy, mix: e.mix || 'pass-through', reason: e.reason, label: `${e.proxy}: ${e.mix || 'pass-through'}${e.reason ? ` (${e.reason})` : ''}`, color: PALETTE[proxies.indexOf(e.proxy) % PALETTE.length] }));
}

/** Fault counts per second, one lane per proxy and behavior, under the same time axis. */
export function faultTimeline(events: ProxyTimelineEvent[], t0: number, t1: number, windows: readonly WindowMeasure[] = []): string {
  const faults = events.filter((e): e is Extract<ProxyTimelineEvent, { kind: 'fault' }> => e.kind === 'fault');
  const mixes = mixMarkers(events);
  const lanes = [...new Set(faults.map((f) => `${f.proxy}: ${f.behavior}`))];
  const laneH = 40;
  const height = PAD.top + Math.max(1, lanes.length) * laneH + PAD.bottom;
  const xMax = (t1 - t0) / 1000;
  const sc = makeScale(0, xMax, 0, 1, WIDTH, height);
  const rel = (ms: number) => (ms - t0) / 1000;
  const maxCount = Math.max(1, ...faults.map((f) => f.count));
  const parts = [`<svg class="chart" id="chart-faults" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Proxy fault timeline" xmlns="http://www.w3.org/2000/svg">`];
  parts.push(`<text class="title" x="${PAD.left}" y="16">Proxy fault timeline (faults per second; lines: behavior changes)</text>`);
  for (const w of windows) {
    const a = sc.x(Math.max(0, rel(w.start)));
    const z = sc.x(Math.min(xMax, rel(w.end ?? t1)));
    if (z > a) parts.push(`<rect class="window" data-window="${esc(w.name)}" x="${a.toFixed(1)}" y="${sc.y1}" width="${(z - a).toFixed(1)}" height="${sc.y0 - sc.y1}"><title>${esc(`${w.name} (${w.proxy}: ${w.mix}${w.lastMix ? ` → ${w.lastMix}` : ''}) ${recoveryText(w.recovery)}`)}</title></rect>`);
  }
  lanes.forEach((lane, i) => {
    const top = PAD.top + i * laneH;
    parts.push(`<line class="grid" x1="${sc.x0}" x2="${sc.x1}" y1="${top + laneH - 2}" y2="${top + laneH - 2}"/>`);
    // Inside the plot, so the x scale stays the one of the charts above.
    parts.push(`<text class="lane" x="${sc.x0 + 4}" y="${top + 10}">${esc(lane)}</text>`);
    const color = PALETTE[i % PALETTE.length];
    for (const f of faults) {
      if (`${f.proxy}: ${f.behavior}` !== lane) continue;
      const x = sc.x(Math.max(0, rel(f.at)));
      const w = Math.max(1.5, sc.x(rel(f.at) + 1) - sc.x(rel(f.at)) - 0.5);
      const h = Math.max(2, ((laneH - 16) * f.count) / maxCount);
      parts.push(
        `<rect class="fault" data-proxy="${esc(f.proxy)}" data-behavior="${esc(f.behavior)}" x="${x.toFixed(1)}" y="${(top + laneH - 2 - h).toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${esc(`${lane}: ${f.count} at ${rel(f.at).toFixed(0)}s`)}</title></rect>`,
      );
    }
  });
  if (lanes.length === 0) parts.push(`<text class="tick" x="${sc.x0 + 8}" y="${PAD.top + 20}">no fault injected</text>`);
  for (const m of mixes) {
    const x = sc.x(Math.max(0, rel(m.at))).toFixed(1);
    parts.push(`<line class="mix" x1="${x}" x2="${x}" y1="${PAD.top - 4}" y2="${sc.y0}" stroke="${m.color}"><title>${esc(`${m.label} at ${rel(m.at).toFixed(1)}s`)}</title></line>`);
  }
  for (const t of niceTicks(0, xMax, 8)) {
    const x = sc.x(t).toFixed(1);
    parts.push(`<line class="axis" x1="${x}" x2="${x}" y1="${sc.y0}" y2="${sc.y0 + 4}"/><text class="tick" x="${x}" y="${sc.y0 + 16}" text-anchor="middle">${secs(t)}</text>`);
  }
  parts.push(`<line class="axis" x1="${sc.x0}" x2="${sc.x1}" y1="${sc.y0}" y2="${sc.y0}"/>`);
  parts.push(`<text class="axis-label" x="${(sc.x0 + sc.x1) / 2}" y="${height - 6}" text-anchor="middle">seconds since start</text>`);
  parts.push('</svg>');
  const list = mixes.length
    ? table(
        ['at', 'proxy', 'behaviors', 'why'],
        mixes.map((m) => [`${rel(m.at).toFixed(1)}s`, esc(m.proxy), `<code>${esc(m.mix)}</code>`, esc(m.reason ?? '')]),
      )
    : '';
  return parts.join('\n') + list;
}

const share = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(0)}%` : '–');

/** Per fault window: what the load saw against what was injected and expected, and the recovery. */
function windowsSection(m: Measures, t0: number): string {
  if (m.windows.length === 0) return '<p>No fault window: no behavior change during the load.</p>';
  const o = m.recoveryOptions;
  const rows = m.windows.map((w) => {
    const e = w.effect;
    const seen = OUTCOME_CLASSES.filter((c) => e.classes[c]).map((c) => `${esc(c === 'timeout' ? 'timeouts' : c === 'connection' ? 'conn. errors' : c)} ${share(e.classes[c], e.requests)}`);
    const injected = Object.entries(e.injected).map(([b, n]) => `${esc(b)} ×${n}`);
    const expected = w.expect ? `${esc(w.expect.join(' or '))}${e.expectedShare !== undefined ? ` <span class="${e.expectedShare >= 0.99 ? 'ok' : 'ko'}">${share(e.expectedShare, 1)} as expected</span>` : ''}` : '–';
    const rec = w.recovery;
    const cls = { recovered: 'ok', 'not recovered': 'ko', 'too soon': 'soon' }[rec.status as string] ?? '';
    const recCell = `<span class="${cls}" data-recovery="${esc(rec.status)}">${esc(recoveryText(rec))}</span>`;
    return [
      `<b>${esc(w.name)}</b><br><span class="note">${esc(w.source)}</span>`,
      `${esc(w.proxy)}: <code>${esc(w.mix)}${w.lastMix ? ` → ${esc(w.lastMix)}` : ''}</code>`,
      `${((w.start - t0) / 1000).toFixed(1)}s${w.end !== undefined ? ` – ${((w.end - t0) / 1000).toFixed(1)}s` : ' – end'}`,
      injected.join(', ') || '–',
      `${e.requests} requests: ${seen.join(', ') || '–'}<br><span class="note">${esc(e.headline)}</span>`,
      expected,
      recCell,
    ];
  });
  const before = o.steadyStateMs !== undefined ? `the first ${o.steadyStateMs / 1000}s of the load (the steady state)` : `the ${o.baselineMs / 1000}s before the fault`;
  const note = `<p class="note">Recovered: at the first request after the fault from which ${o.windowMs / 1000}s of requests look like the baseline, the requests of ${before}: a failure rate no higher than its own plus ${(o.successRateTolerance * 100).toFixed(1)} points, and no more slow requests than a 5 % share (what its p95 leaves above it) would give by chance (binomial test); slow means slower than its p95 plus the largest of ${(o.p95Tolerance * 100).toFixed(0)}%, ${o.p95SlackMs}ms and its own spread (p95 − median). "Too soon to judge": the run ended (or the next fault began) before such a span could be seen; not a failure (\`recovery:\` in .marteau.yml). Requests are placed by their start time.</p>`;
  return table(['window', 'proxy and mix', 'when', 'injected', 'the load saw', 'expected', 'recovery'], rows) + note;
}

/** Slow or failed requests against the faults that happened while they were in flight. */
function attributionSection(m: Measures): string {
  const a = m.attribution;
  if (a.rows.length === 0) return '<p>No fault was injected while requests were recorded.</p>';
  const bad = a.failed + a.slow;
  const rows = a.rows.map((r) => [
    esc(r.proxy),
    esc(r.behavior),
    r.faults,
    r.overlapped,
    r.failed,
    r.slow,
    `${share(r.failed + r.slow, bad)}<br><span class="note">${esc(attributionLine(a, r))}</span>`,
  ]);
  const through = a.proxies.map(
    (p) => `<li>${esc(p.proxy)}: ${p.overlapped} requests had one of its ${p.exchanges} exchanges complete while in flight (${p.failed} of them failed, ${p.slow} slow)</li>`,
  );
  return `${table(['proxy', 'fault', 'injected', 'requests in flight', 'failed', 'slow', 'of all failed or slow'], rows, 'num')}
${through.length ? `<ul class="through">${through.join('')}</ul>` : ''}
<p class="note">${a.requests} recorded requests, ${a.failed} failed, ${a.slow} slow (≥ ${a.slowMs / 1000}s, the Apdex T); ${a.unexplained} failed or slow requests overlapped no fault.${a.partial ? ' Some faults were dropped to bound memory: counts are lower bounds.' : ''}</p>`;
}

function errorsSection(s: RunSummary, t0: number): string {
  const kinds = Object.entries(s.overall.errors);
  if (kinds.length === 0) return '<p>No failed request.</p>';
  const chart = barChart(
    'chart-errors',
    'Failed requests by kind',
    kinds.map(([label, value], i) => ({ label, value, color: PALETTE[i % PALETTE.length] })),
    int,
  );
  const perCycle = table(
    ['kind', ...s.cycles.map((c) => `${c.cvus} CUs`), 'total'],
    kinds.map(([k, total]) => [esc(k), ...s.cycles.map((c) => c.errors[k] ?? 0), total]),
    'num',
  );
  const samples = s.errorSamples.length
    ? `<h3>First failures</h3>${table(
        ['cycle', 'at', 'url', 'code', 'kind', 'detail'],
        s.errorSamples.map((e) => [e.cycle, `${((e.at - t0) / 1000).toFixed(2)}s`, `<code>${esc(e.url)}</code>`, e.code, esc(e.error), `<code>${esc((e.traceback ?? '').slice(0, 300))}</code>`]),
      )}`
    : '';
  return chart + perCycle + samples;
}

function nodesSection(s: RunSummary): string {
  const nodes = s.nodes ?? [];
  if (nodes.length === 0) return '';
  const anyLost = nodes.some((n) => n.lost);
  return `<h2 id="nodes">Nodes</h2><p>Where the load came from: each node's share of the requests.</p>${table(
    ['node', 'TOTAL', 'SUCCESS', 'ERROR', 'AVG', 'P95', ...(anyLost ? ['LOST'] : [])],
    nodes.map((n) => [esc(n.node), n.requests, n.success, pctS(n.errorRate * 100), ms(n.avg), ms(n.p95), ...(anyLost ? [n.lost ? esc(lostLine(n.lost)) : ''] : [])]),
    'num',
  )}`;
}

function stepsSection(s: RunSummary): string {
  const steps = s.overall.steps;
  if (steps.length === 0) return '';
  return `<h2 id="pages">Page detail</h2>${table(
    ['step', 'type', 'url', 'description', 'TOTAL', 'SUCCESS', 'ERROR', 'FL Apdex*', 'AVG', 'P95', 'MAX'],
    steps.map((st) => [st.key, esc(st.type), `<code>${esc(st.url)}</code>`, esc(st.description), st.total, st.success, pctS(st.errorPercent), apdexCell(st.apdex.score), ms(st.latency.avg), ms(st.latency.p95), ms(st.latency.max)]),
    'num',
  )}`;
}

function thresholdsSection(ts: ThresholdResult[]): string {
  if (ts.length === 0) return '';
  return `<h2 id="thresholds">Thresholds</h2>${table(
    ['', 'threshold', 'value', 'detail'],
    ts.map((t) => [`<span class="${t.skipped ? 'soon' : t.passed ? 'ok' : 'ko'}">${verdictWord(t)}</span>`, `<code>${esc(t.name)}</code>`, esc(formatValue(t.threshold.metric, t.actual)), esc(t.message)]),
  )}`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
main{max-width:960px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#64748b;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}.card span{color:#64748b;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #e2e8f0;padding:3px 6px;text-align:left;vertical-align:top}
table.num td{text-align:right}table.num td:first-child{text-align:left}
th{background:#f1f5f9}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.apdex{display:inline-block;padding:0 4px;border-radius:3px;color:#111}
.ok{color:#15803d;font-weight:600}.ko{color:#b91c1c;font-weight:600}.soon{color:#b45309;font-weight:600}
.status{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.status.pass{background:#16a34a}.status.fail{background:#dc2626}.status.aborted{background:#d97706}
.warn{background:#fef3c7;border:1px solid #f59e0b;padding:6px 10px;border-radius:6px}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #e2e8f0;border-radius:6px;margin:6px 0}
svg .title{font-size:13px;font-weight:600;fill:#334155}svg .tick,svg .legend{font-size:11px;fill:#475569}
svg .axis-label{font-size:11px;fill:#64748b}svg .grid{stroke:#eef2f7}svg .axis{stroke:#94a3b8}
svg .band{fill:#e0f2fe;opacity:.55}svg .band-label{font-size:10px;fill:#0369a1}
svg .marker,svg .mix{stroke-width:1.5;stroke-dasharray:4 3}svg .lane{font-size:10px;fill:#334155}
svg .band.fault,svg .window{fill:#fee2e2;opacity:.6}svg .band-label.fault{fill:#b91c1c}
svg .marker.recovery{stroke-width:2;stroke-dasharray:none}svg .marker-label{font-size:10px;font-weight:600}
table.num td:has(code){text-align:left}
.note{color:#64748b;font-size:12px}
dl.defs dt{font-weight:600}dl.defs dd{margin:0 0 4px 16px;color:#475569}
footer{color:#94a3b8;font-size:12px;margin-top:32px}
`;

export function renderHtmlReport(s: RunSummary, thresholds: ThresholdResult[] = [], opts: HtmlOptions = {}): string {
  const i = s.info;
  const b = i.bench;
  const failed = thresholds.some((t) => !t.passed) || opts.matrix?.passed === false;
  const status = s.aborted ? '<span class="status aborted">INTERRUPTED</span>' : failed ? '<span class="status fail">FAILED</span>' : '<span class="status pass">PASSED</span>';
  const o = s.overall;
  const cards = [
    ['requests', String(o.requests.total)],
    ['success rate', `${(o.successRate * 100).toFixed(2)}%`],
    ['requests/s', f1(o.requests.rps)],
    ['p95', ms(o.requests.latency.p95)],
    ['p99', ms(o.requests.latency.p99)],
    ['Apdex', `${f3(o.apdex.score)} ${o.apdex.rating}`],
    ['max CUs', String(o.cvus)],
  ]
    .map(([k, v]) => `<div class="card"><b>${esc(v)}</b><span>${esc(k)}</span></div>`)
    .join('');
  const config = table(
    ['setting', 'value'],
    [
      ['Launched', esc(dateText(i.start))],
      ...(i.node ? [['From', esc(i.node)]] : []),
      ['Runner', esc(i.runner)],
      ['Test', `<code>${esc(`${i.module ? `${i.module} ` : ''}${i.suite}.${i.test}`)}</code>`],
      ...(i.label ? [['Label', esc(i.label)]] : []),
      ['Target server', `<code>${esc(b.serverUrl)}</code>`],
      ['Cycles of concurrent users', esc(`[${b.cycles.join(', ')}]`)],
      ['Cycle duration', `${b.duration}s`],
      ['Sleeptime between requests', `from ${b.sleepTimeMin}s to ${b.sleepTimeMax}s`],
      ['Sleeptime between test cases', `${b.sleepTime}s`],
      ['Startup delay between users', `${b.startupDelay}s`],
      ['Pause between cycles', `${b.cycleTime}s`],
      ['Apdex T', `${i.apdexT}s`],
      ...Object.entries(i.meta).map(([k, v]) => [esc(k), esc(v)]),
    ],
  );
  const time = timeCharts(s);
  const warnings = [
    ...(opts.warnings ?? []),
    ...(s.aborted ? ['The run was interrupted: the last cycle is partial.'] : []),
    ...(s.nodes ?? []).flatMap((n) => (n.lost ? [`Node ${n.node}: ${lostLine(n.lost)}. The report holds what was recorded until then.`] : [])),
  ];
  const title = `${i.name} — load test report`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${CSS}${opts.matrix ? MATRIX_CSS : ''}</style>
</head>
<body>
<main>
<h1>${esc(title)} ${status}</h1>
<p class="sub">${esc(dateText(i.start))} · ${esc(`${i.suite}.${i.test}`)} · ${esc(b.serverUrl)}${i.description ? ` · ${esc(i.description)}` : ''}</p>
${warnings.map((w) => `<p class="warn">${esc(w)}</p>`).join('\n')}
${opts.matrix ? matrixSection(opts.matrix) : ''}
<div class="cards">${cards}</div>
${thresholdsSection(thresholds)}
${nodesSection(s)}
<h2 id="users">Against concurrent users</h2>
${perCycleCharts(s)}
${cycleTables(s)}
<h2 id="time">Against time</h2>
${time.html}
<h2 id="faults">Proxy fault timeline</h2>
${faultTimeline(s.proxyEvents, time.t0, time.t1, s.measures?.windows)}
${s.measures ? `<h2 id="fault-windows">Fault windows: effect and recovery</h2>\n${windowsSection(s.measures, time.t0)}\n<h2 id="attribution">Attribution: which faults hit which requests</h2>\n${attributionSection(s.measures)}` : ''}
<h2 id="errors">Errors by kind</h2>
${errorsSection(s, time.t0)}
${stepsSection(s)}
<h2 id="config">Bench configuration</h2>
${config}
<h2 id="definitions">Definitions</h2>
<dl class="defs">
<dt>CUs</dt><dd>concurrent users: virtual users running the scenario at the same time during a cycle.</dd>
<dt>Request, page, test</dt><dd>a request is one HTTP response; a page is a request with its redirects and resources; a test is one run of the scenario.</dd>
<dt>RPS, SPPS, STPS</dt><dd>requests (successful or not), successful pages and successful tests per second of cycle duration; maxRPS/maxSPPS: the busiest second.</dd>
<dt>P10, MED, P90, P95, P99</dt><dd>response time percentiles; MIN, AVG, MAX.</dd>
<dt>Apdex</dt><dd>(satisfied + tolerating/2) / total with T = ${i.apdexT}s: a successful request is satisfied below T, tolerating below 4T; a failed request is frustrated (the standard definition; FunkLoad's FL Apdex* judges by duration alone). Ratings: UNACCEPTABLE &lt; 0.5 ≤ POOR &lt; 0.7 ≤ FAIR &lt; 0.85 ≤ Good &lt; 0.94 ≤ Excellent.</dd>
</dl>
<footer>Generated by ${esc(opts.generator ?? 'marteau-tui')} from ${s.overall.requests.total} recorded requests. Only requests that ended inside a cycle's recording window are counted (FunkLoad semantics).</footer>
</main>
</body>
</html>
`;
}
