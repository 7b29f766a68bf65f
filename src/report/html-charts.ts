/**
 * The HTML report's charts: figures against concurrent users (per cycle), against time (with the
 * fault windows, their recoveries and the mix changes marked), and the proxy fault timeline.
 */
import { recoveryText, type WindowMeasure } from '../runners/measures/index.js';
import type { ProxyTimelineEvent, RunSummary } from '../runners/results.js';
import type { CycleSummary } from '../runners/summary.js';
import { mixWords } from '../text/mix-words.js';
import { COLORS, f1, int, ms, PALETTE, secs, table } from './html-kit.js';
import { esc, lineChart, makeScale, niceTicks, PAD, WIDTH, type Band, type Marker } from './svg.js';

export function perCycleCharts(s: RunSummary): string {
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

export function timeCharts(s: RunSummary): { html: string; t0: number; t1: number } {
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
    .map((e) => ({ at: e.at, proxy: e.proxy, mix: mixWords(e.mix), reason: e.reason, label: `${e.proxy}: ${mixWords(e.mix)}${e.reason ? ` (${e.reason})` : ''}`, color: PALETTE[proxies.indexOf(e.proxy) % PALETTE.length] }));
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
