/**
 * Writes a run's reports into one directory: index.html (self-contained), summary.json and
 * junit.xml. Used by `marteau-tui report`, and handed to the runners (report/runners.ts) for the
 * end of each job.
 */
import { replaceFilesSynced } from '../fs/durable.js';
import { mkdirp } from '../fs/mkdirp.js';
import { join } from 'node:path';
import type { RunSummary } from '../runners/results.js';
import type { ReportFiles } from '../runners/job-report.js';
import type { ThresholdResult } from '../runners/thresholds.js';
import { renderHtmlReport, type HtmlOptions } from './html.js';
import { buildJsonReport, formatJsonReport } from './json.js';
import { buildJunitReport } from './junit.js';
import { matrixJunitCases } from './matrix.js';

export { renderHtmlReport } from './html.js';
export { buildJsonReport, formatJsonReport } from './json.js';
export { buildJunitReport } from './junit.js';

/** Where writeReports puts a run's three reports in `dir`. */
export function reportFiles(dir: string): ReportFiles {
  return { html: join(dir, 'index.html'), json: join(dir, 'summary.json'), junit: join(dir, 'junit.xml') };
}

export async function writeReports(dir: string, summary: RunSummary, thresholds: ThresholdResult[] = [], opts: HtmlOptions = {}): Promise<ReportFiles> {
  await mkdirp(dir, 0o777);
  const files = reportFiles(dir);
  // Each replaced whole: a crash mid-write leaves the previous file or none, never a torn
  // summary.json, which a later rebuild would read as holding no measures.
  await replaceFilesSynced(
    [
      { file: files.html, text: renderHtmlReport(summary, thresholds, opts) },
      // A sweep's matrix comes first, as in the HTML.
      { file: files.json, text: formatJsonReport({ ...(opts.matrix ? { matrix: opts.matrix } : {}), ...buildJsonReport(summary, thresholds, opts.matrix) }) },
      { file: files.junit, text: buildJunitReport(summary, thresholds, opts.matrix ? matrixJunitCases(opts.matrix, summary.info.name || 'bench') : undefined) },
    ].map((f) => ({ ...f, mode: 0o666 })),
  );
  return files;
}
