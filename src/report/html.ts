/**
 * The HTML report: ONE self-contained file (inline CSS and SVG, no script, no external asset;
 * a Content-Security-Policy forbids loading anything), readable offline and attachable to a CI
 * run. Sections follow FunkLoad's bench report (configuration, per-cycle test/page/request
 * tables, page detail, errors) and add what a chaos run needs: charts against time with the
 * proxy fault timeline drawn under the same time axis.
 */
import { runVerdict } from '../runners/verdict.js';
import { lostLine } from '../runners/nodes.js';
import { abortCoverage, abortReason, type RunSummary } from '../runners/results.js';
import type { ThresholdResult } from '../runners/thresholds.js';
import { perCycleCharts, faultTimeline, timeCharts } from './html-charts.js';
import { f1, f3, ms, table } from './html-kit.js';
import { attributionSection, cycleTables, errorsSection, nodesSection, slowestSection, stepsSection, thresholdsSection, windowsSection } from './html-sections.js';
import { MATRIX_CSS, matrixSection } from './matrix.js';
import type { Matrix } from '../runners/matrix.js';
import { esc } from './svg.js';

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
pre.output{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f5f9;padding:8px;overflow-x:auto;white-space:pre-wrap}
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
  const verdict = runVerdict(s, thresholds, opts.matrix);
  // The job's word for it: INTERRUPTED (exit 130) only for a run stopped from outside the test.
  const status = verdict.interrupted ? '<span class="status aborted">INTERRUPTED</span>' : !verdict.passed ? '<span class="status fail">FAILED</span>' : '<span class="status pass">PASSED</span>';
  const o = s.overall;
  // No request, nothing measured: a dash, not a 100 % success rate or a 0 ms p95.
  const measured = (text: string) => (o.requests.total ? text : '–');
  const cards = [
    ['requests', String(o.requests.total)],
    ['success rate', measured(`${(o.successRate * 100).toFixed(2)}%`)],
    ['requests/s', f1(o.requests.rps)],
    ['p95', measured(ms(o.requests.latency.p95))],
    ['p99', measured(ms(o.requests.latency.p99))],
    ['Apdex', measured(`${f3(o.apdex.score)} ${o.apdex.rating}`)],
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
  const covers = abortCoverage(s);
  const warnings = [
    ...(opts.warnings ?? []),
    ...(s.aborted ? [`The run ${verdict.interrupted ? 'was interrupted' : 'stopped before its end'} (${abortReason(s)}): the report is incomplete${covers ? `: it covers ${covers}.` : ', the last cycle is partial.'}${s.abort?.missing ? ` Not in it: ${s.abort.missing}.` : ''}`] : []),
    ...(s.nodes ?? []).flatMap((n) => (n.lost ? [`Node ${n.node}: ${lostLine(n.lost)}. The report holds what was recorded until then.`] : [])),
    // The reasons the sections below do not show already (thresholds, matrix, nodes, the interruption).
    ...(verdict.runFailed ? [`Failed: ${verdict.runFailed}.`] : []),
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
${s.abort?.output?.length ? `<p class="note">The lost node's last output:</p>\n<pre class="output">${esc(s.abort.output.join('\n'))}</pre>` : ''}
${opts.matrix ? matrixSection(opts.matrix) : ''}
<div class="cards">${cards}</div>
${thresholdsSection(thresholds)}
${nodesSection(s)}
<h2 id="users">Against concurrent users</h2>
${perCycleCharts(s)}
${cycleTables(s)}
${slowestSection(s)}
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
