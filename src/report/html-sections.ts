/**
 * The HTML report's tables: per cycle, per fault window, attribution, errors, nodes, steps and
 * thresholds, each a self-contained section of escaped HTML.
 */
import { attributionLine, OUTCOME_CLASSES, recoveryText, type Measures } from '../runners/measures/index.js';
import { lostLine } from '../runners/nodes.js';
import { bestCycle, slowestSteps } from '../runners/formulas.js';
import type { RunSummary } from '../runners/results.js';
import type { ApdexStats, LatencyStats, StepSummary } from '../runners/summary.js';
import { PERCENTILE_PRECISION } from '../stats/histogram.js';
import { formatValue, verdictWord, type ThresholdResult } from '../runners/thresholds.js';
import { apdexCell, f3, int, ms, PALETTE, pctS, table } from './html-kit.js';
import { barChart, esc } from './svg.js';
import { count } from '../text/count.js';

/** How many requests "Slowest requests" lists, as fl-build-report. */
const SLOWEST = 5;
/** A cycle that measured nothing (no request ended in it) shows dashes, not a 0 ms time or a 0.000 Apdex. */
const times = (l: LatencyStats, keys: readonly (keyof LatencyStats)[]) => keys.map((k) => (l.count ? ms(l[k]) : '–'));
const apdexOf = (a: ApdexStats) => (a.satisfied + a.tolerating + a.frustrated ? apdexCell(a.score) : '–');

export function cycleTables(s: RunSummary): string {
  const cycles = s.cycles;
  const test = table(
    ['CUs', 'STPS', 'TOTAL', 'SUCCESS', 'ERROR'],
    cycles.map((c) => [c.cvus, f3(c.tests.stps), c.tests.total, c.tests.success, pctS(c.tests.errorPercent)]),
    'num',
  );
  const page = table(
    ['CUs', 'FL Apdex*', 'SPPS', 'maxSPPS', 'TOTAL', 'SUCCESS', 'ERROR', 'MIN', 'AVG', 'MAX', 'P10', 'MED', 'P90', 'P95'],
    cycles.map((c) => {
      return [c.cvus, apdexOf(c.pages.apdex), f3(c.pages.spps), c.pages.maxSpps, c.pages.total, c.pages.success, pctS(c.pages.errorPercent), ...times(c.pages.latency, ['min', 'avg', 'max', 'p10', 'p50', 'p90', 'p95'])];
    }),
    'num',
  );
  const request = table(
    ['CUs', 'Apdex', 'FL Apdex*', 'RPS', 'maxRPS', 'TOTAL', 'SUCCESS', 'ERROR', 'MIN', 'AVG', 'MAX', 'P10', 'MED', 'P90', 'P95', 'P99'],
    cycles.map((c) => {
      return [c.cvus, apdexOf(c.apdex), apdexOf(c.requests.apdex), f3(c.requests.rps), c.requests.maxRps, c.requests.total, c.requests.success, pctS(c.requests.errorPercent), ...times(c.requests.latency, ['min', 'avg', 'max', 'p10', 'p50', 'p90', 'p95', 'p99'])];
    }),
    'num',
  );
  // FunkLoad's "Bench content" totals: what a reader checks first against fl-build-report's.
  const o = s.overall;
  const errors = (n: number) => count(n, 'error');
  const content = [
    [o.tests.total, 'tests', o.tests.total - o.tests.success],
    [o.pages.total, 'pages', o.pages.total - o.pages.success],
    [o.requests.total, 'requests', o.requests.total - o.requests.success],
  ].map(([n, what, bad]) => `<b>${n}</b> ${what}, ${errors(bad as number)}`);
  return `<h3>Bench content</h3><p class="bench-content">The bench contains: ${content.join('; ')}.</p>
<h3>Test stats</h3><p>Successful <b>tests</b> per second (STPS) over concurrent users (CUs).</p>${test}
<h3>Page stats</h3><p>Successful <b>pages</b> per second (SPPS) over CUs; times over successful pages.</p>${page}
<h3>Request stats</h3><p><b>Requests</b> per second (RPS), successful or not, over CUs.</p>${request}
<p class="note">Apdex T = ${s.info.apdexT}s. Apdex is the standard one: a failed request is frustrated. * FL Apdex is FunkLoad's: by duration alone, a failed request counts as satisfied if it was fast, and the page Apdex is computed over response times, as FunkLoad does. Percentiles are nearest-rank (FunkLoad's definition), kept to within ${+(PERCENTILE_PRECISION * 100).toPrecision(1)} %.</p>`;
}

/**
 * fl-build-report's "Slowest requests": the 5 requests of the best cycle (FunkLoad's choice, see
 * bestCycle) with the highest average time, in FunkLoad's order, with their FunkLoad Apdex rating.
 */
export function slowestSection(s: RunSummary): string {
  const best = bestCycle(s.cycles);
  const items = best ? slowestSteps(best, SLOWEST) : [];
  if (!best || items.length === 0) return '<h3>Slowest requests</h3><p>No request was recorded.</p>';
  const rows = items.map((st) => [String(st.step).padStart(3, '0'), esc(st.apdex.rating), ms(st.latency.avg), esc(st.type), `<code>${esc(st.url)}</code>`, esc(st.description)]);
  return `<h3>Slowest requests</h3><p>The ${SLOWEST} slowest average response times during the best cycle, with <b>${best.cvus}</b> CUs: the most successful pages per second × FL Apdex* among the cycles whose FL Apdex* is 0.85 or more (else the first), as FunkLoad's report chooses it.</p>${table(['page', 'FL Apdex* rating', 'AVG', 'type', 'url', 'description'], rows)}`;
}

const share = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(0)}%` : '–');

/** Per fault window: what the load saw against what was injected and expected, and the recovery. */
export function windowsSection(m: Measures, t0: number): string {
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
export function attributionSection(m: Measures): string {
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

export function errorsSection(s: RunSummary, t0: number): string {
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

export function nodesSection(s: RunSummary): string {
  const nodes = s.nodes ?? [];
  if (nodes.length === 0) return '';
  const anyLost = nodes.some((n) => n.lost);
  return `<h2 id="nodes">Nodes</h2><p>Where the load came from: each node's share of the requests.</p>${table(
    ['node', 'TOTAL', 'SUCCESS', 'ERROR', 'AVG', 'P95', ...(anyLost ? ['LOST'] : [])],
    nodes.map((n) => [esc(n.node), n.requests, n.success, pctS(n.errorRate * 100), ms(n.avg), ms(n.p95), ...(anyLost ? [n.lost ? esc(lostLine(n.lost)) : ''] : [])]),
    'num',
  )}`;
}

/**
 * FunkLoad's page detail: each request (page and response number) with a row per cycle that has
 * it, FunkLoad's columns. Its url, type and description are its last response's (StepStats).
 */
export function stepsSection(s: RunSummary): string {
  const byCycle = s.cycles.map((c) => ({ c, steps: new Map(c.steps.map((st) => [st.key, st])) }));
  const named = new Map<string, StepSummary>();
  for (const { steps } of byCycle) for (const [k, st] of steps) named.set(k, st);
  if (named.size === 0) return '';
  const tables = [...named.keys()].sort().map((key) => {
    const st = named.get(key)!;
    const rows = byCycle.flatMap(({ c, steps }) => {
      const x = steps.get(key);
      return x ? [[c.cvus, apdexCell(x.apdex.score), x.total, x.success, pctS(x.errorPercent), ...times(x.latency, ['min', 'avg', 'max', 'p10', 'p50', 'p90', 'p95'])]] : [];
    });
    const title = `<p class="step"><b>${key}</b> ${esc(st.type)} <code>${esc(st.url)}</code>${st.description ? ` · ${esc(st.description)}` : ''}</p>`;
    return title + table(['CUs', 'FL Apdex*', 'TOTAL', 'SUCCESS', 'ERROR', 'MIN', 'AVG', 'MAX', 'P10', 'MED', 'P90', 'P95'], rows, 'num', ` data-step="${esc(key)}"`);
  });
  return `<h2 id="pages">Page detail</h2><p>Each request (page and response number) per cycle, as FunkLoad's page detail; FL Apdex* by duration alone.</p>${tables.join('\n')}`;
}

export function thresholdsSection(ts: ThresholdResult[]): string {
  if (ts.length === 0) return '';
  return `<h2 id="thresholds">Thresholds</h2>${table(
    ['', 'threshold', 'value', 'detail'],
    ts.map((t) => [`<span class="${t.skipped ? 'soon' : t.passed ? 'ok' : 'ko'}">${verdictWord(t)}</span>`, `<code>${esc(t.name)}</code>`, esc(formatValue(t.threshold.metric, t.actual)), esc(t.message)]),
  )}`;
}
