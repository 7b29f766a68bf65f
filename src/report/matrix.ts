/**
 * The resilience matrix (built and judged in runners/matrix.ts) as the report shows it: an HTML
 * section, the report's first, and JUnit test cases, one per cell.
 */
import type { SweepKind } from '../config/sweep.js';
import { cellMix, matrixLines, seconds, steadyText, whyBeyond, type Matrix } from '../runners/matrix.js';
import { pct } from '../runners/measures/index.js';
import { escapeXml } from './junit.js';
import { esc } from './svg.js';

/** The report's first section: one row per backend, one column per fault kind. */
export function matrixSection(m: Matrix): string {
  const head = `<tr><th>backend</th>${m.kinds.map((k) => `<th>${esc(KIND_TITLES[k])}</th>`).join('')}</tr>`;
  const rows = m.backends.map((b) => {
    const tds = m.kinds.map((k) => {
      const c = m.cells.find((x) => x.backend === b && x.kind === k);
      if (!c) return '<td class="na">n/a</td>';
      return `<td class="cell ${c.verdict}" data-cell="${esc(c.name)}" data-verdict="${c.verdict}"><b>${c.verdict.toUpperCase()}</b> <span class="fault">${esc(c.fault)}</span><br>${esc(cellMix(c))}<br>errors ${c.error_rate === undefined ? '-' : pct(c.error_rate, 1)} · p95 ${c.p95_ms === undefined ? '-' : esc(seconds(c.p95_ms))} · expect ${esc(c.expect.join('/'))} within ${esc(seconds(c.within_ms))}<br>${esc(c.recovery.text)}${whyBeyond(c) ? `<br><span class="why">${esc(whyBeyond(c))}</span>` : ''}</td>`;
    });
    return `<tr><th>${esc(b)}</th>${tds.join('')}</tr>`;
  });
  const passed = m.cells.filter((c) => c.verdict === 'pass').length;
  return `<h2 id="matrix">Resilience matrix</h2>
<p class="sub">${passed}/${m.cells.length} cells pass${esc(steadyText(m))} · seed ${esc(m.seed)} (<code>marteau-tui sweep --seed ${esc(m.seed)}</code> runs the same schedule) · each fault ${seconds(m.step_ms)}, then ${seconds(m.gap_ms)} to recover</p>
<table class="matrix" data-passed="${m.passed}">${head}${rows.join('')}</table>
<p class="note">A cell passes when every request during the fault either succeeded or got what the backend's expectation says (default a 5xx), p95 within its bound, and the app was back to its pre-fault success rate and p95 before the next fault.</p>`;
}

export const MATRIX_CSS = `table.matrix td.cell{vertical-align:top;font-size:12px}table.matrix td.pass{background:#dcfce7}table.matrix td.fail{background:#fee2e2}table.matrix td.skip{background:#fef3c7}
table.matrix td.na{color:#94a3b8;text-align:center}table.matrix .why{color:#b91c1c}table.matrix .fault{color:#475569}`;

/** JUnit test cases, one per cell, and how many failed or were not judged. */
export function matrixJunitCases(m: Matrix, suite: string): { cases: string[]; failures: number; skipped: number } {
  const cases = m.cells.map((c) => {
    const head = `    <testcase classname="${escapeXml(`marteau.${suite}.matrix.${c.backend}`)}" name="${escapeXml(`${c.kind}: ${c.fault}`)}" time="${c.for_s.toFixed(3)}"`;
    const line = matrixLines({ ...m, cells: [c] })[1];
    if (c.verdict === 'pass') return `${head}>\n      <system-out>${escapeXml(line)}</system-out>\n    </testcase>`;
    if (c.verdict === 'skip') return `${head}>\n      <skipped message="${escapeXml(c.why)}"/>\n    </testcase>`;
    return `${head}>\n      <failure message="${escapeXml(c.why)}" type="resilience">${escapeXml(line)}</failure>\n    </testcase>`;
  });
  const steady = m.steady ? (['before', 'after'] as const).map((when) => {
    const v = m.steady![when];
    const head = `    <testcase classname="${escapeXml(`marteau.${suite}.matrix`)}" name="steady state ${when}" time="0"`;
    if (v.skipped) return `${head}>\n      <skipped message="${escapeXml(v.why ?? 'not judged')}"/>\n    </testcase>`;
    return v.ok ? `${head}/>` : `${head}>\n      <failure message="${escapeXml(v.why ?? 'not steady')}" type="steady-state"/>\n    </testcase>`;
  }) : [];
  const unsteady = m.steady ? [m.steady.before, m.steady.after].filter((v) => !v.ok).length : 0;
  const skipped = m.cells.filter((c) => c.verdict === 'skip').length + (m.steady?.after.skipped ? 1 : 0);
  return { cases: [...steady, ...cases], failures: m.cells.filter((c) => c.verdict === 'fail').length + unsteady, skipped };
}

const KIND_TITLES: Record<SweepKind, string> = { down: 'down (blackout)', slow: 'slow (delay)', errors: 'protocol errors', process: 'process fault (real)' };
