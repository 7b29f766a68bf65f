/**
 * JUnit XML for CI systems: one test case per threshold (a failing threshold is a failure with
 * its message), plus one case for the run itself that fails when it was interrupted or stopped
 * before its end or, without thresholds, every request failed.
 */
import { windowLine } from '../runners/measures/index.js';
import { nodeLine } from '../runners/nodes.js';
import { abortCoverage, abortReason, type RunSummary } from '../runners/results.js';
import type { ThresholdResult } from '../runners/thresholds.js';
import { runVerdict } from '../runners/verdict.js';

export function escapeXml(s: string): string {
  // XML 1.0 forbids most control characters even as references: drop them.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

/** `extra`: more test cases, their failures and skipped ones (a sweep's matrix cells, matrix.ts). */
export function buildJunitReport(summary: RunSummary, thresholds: ThresholdResult[], extra: { cases: string[]; failures: number; skipped?: number } = { cases: [], failures: 0 }): string {
  const suite = summary.info.name || 'bench';
  const seconds = summary.info.end !== undefined ? Math.max(0, (summary.info.end - summary.info.start) / 1000) : 0;
  const cases: string[] = [...extra.cases];
  const runCase = `run ${summary.info.suite}.${summary.info.test}`;
  // The run's own case: failed when it was interrupted or ended early, when (no thresholds to judge it) the
  // load tool failed it or every request failed, or when none was recorded.
  const { runFailed, interrupted } = runVerdict(summary, thresholds);
  // Where the run was cut and what the report lacks, when known: its figures are of that much.
  const covers = abortCoverage(summary);
  const cut = [covers && `the report covers ${covers}`, summary.abort?.missing && `not in the report: ${summary.abort.missing}`].filter(Boolean).map((x) => `; ${x}`).join('');
  const runFailure = summary.aborted
    ? interrupted
      ? { message: `the run was interrupted: ${abortReason(summary)}${cut}`, type: 'interrupted' }
      : { message: `the run stopped before its end: ${abortReason(summary)}${cut}`, type: 'aborted' }
    : runFailed
      ? { message: runFailed, type: runFailed === summary.info.toolVerdict ? 'bench' : 'requests' }
      : undefined;
  const runHead = `    <testcase classname="${escapeXml(`marteau.${suite}`)}" name="${escapeXml(runCase)}" time="${seconds.toFixed(3)}"`;
  // A node lost before the load: its last lines, as a failed step's output.
  const output = summary.abort?.output?.length ? `>${escapeXml(summary.abort.output.join('\n'))}</failure>` : '/>';
  cases.push(runFailure ? `${runHead}>\n      <failure message="${escapeXml(runFailure.message)}" type="${runFailure.type}"${output}\n    </testcase>` : `${runHead}/>`);
  for (const t of thresholds) {
    const head = `    <testcase classname="${escapeXml(`marteau.${suite}.thresholds`)}" name="${escapeXml(t.name)}" time="0"`;
    // Not judged (a recovery the run ended too soon to see) is a skipped case, not a pass.
    if (t.skipped) cases.push(`${head}>\n      <skipped message="${escapeXml(t.message)}"/>\n    </testcase>`);
    else if (t.passed) cases.push(`${head}>\n      <system-out>${escapeXml(t.message)}</system-out>\n    </testcase>`);
    else cases.push(`${head}>\n      <failure message="${escapeXml(t.message)}" type="threshold">${escapeXml(t.message)}</failure>\n    </testcase>`);
  }
  // One informative case per fault window: its effect and recovery in the CI's test view. Its
  // pass/fail is the thresholds' job (a window may be meant to fail every request).
  const windows = summary.measures?.windows ?? [];
  windows.forEach((w, i) => {
    const at = ((w.start - summary.info.start) / 1000).toFixed(1);
    cases.push(`    <testcase classname="${escapeXml(`marteau.${suite}.faults`)}" name="${escapeXml(`${w.name} at ${at}s #${i + 1}`)}" time="0">\n      <system-out>${escapeXml(windowLine(w))}</system-out>\n    </testcase>`);
  });
  const failures = thresholds.filter((t) => !t.passed).length + (runFailure ? 1 : 0) + extra.failures;
  const tests = thresholds.length + 1 + windows.length + extra.cases.length;
  const skipped = thresholds.filter((t) => t.skipped).length + (extra.skipped ?? 0);
  // Which nodes the load came from, and each one's share: a CI's test view shows the suite's properties.
  const nodes = summary.nodes ?? [];
  const properties = nodes.length
    ? ['    <properties>', `      <property name="nodes" value="${escapeXml(nodes.map((n) => n.node).join(', '))}"/>`, ...nodes.map((n) => `      <property name="${escapeXml(`node.${n.node}`)}" value="${escapeXml(nodeLine(n))}"/>`), '    </properties>']
    : [];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="marteau-tui" tests="${tests}" failures="${failures}" errors="0" time="${seconds.toFixed(3)}">`,
    `  <testsuite name="${escapeXml(suite)}" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds.toFixed(3)}" timestamp="${new Date(summary.info.start || 0).toISOString().slice(0, 19)}">`,
    ...properties,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
