/**
 * The chaos report of a `command` job: when the job has proxies or service faults, besides its
 * exit status it gets our report (index.html, summary.json, junit.xml), whose verdict the job
 * shares (command.ts; runners/verdict.ts: a run whose every request failed fails), with
 * the fault timeline, each fault window, and the proxies' fault and exchange counts. When the
 * command writes FunkLoad's XML (`xml:`, e.g. fl-run-bench or any tool writing that format), its
 * per-request times measure each window's effect and recovery exactly as a funkload job's do;
 * without it no request is known, so recovery reads "no baseline".
 */
import path from 'node:path';
import { applyChaos, type ChaosRecord } from './chaos-capture.js';
import { FunkloadFormatError, readFunkloadXmlFiles } from './funkload-xml.js';
import { reportResults, type JobReport, type ReportWriter } from './job-report.js';
import { jobMeta, newRunInfo, RunResults } from './results.js';
import type { RunnerContext } from '../core/runner-contract.js';

export async function commandChaosReport(ctx: RunnerContext, writeReports: ReportWriter, record: ChaosRecord, fetched: readonly string[]): Promise<JobReport> {
  const xml = ctx.config.xml;
  const files = xml ? fetched.filter((f) => f.endsWith(xml)).map((f) => path.resolve(ctx.resultDir, f)) : [];
  const warnings: string[] = [];
  let results: RunResults | undefined;
  if (files.length) {
    try {
      const read = await readFunkloadXmlFiles(files, { onModel: (r) => warnings.push(...applyChaos(r, record)) });
      warnings.push(...read.warnings);
      results = read.results;
      results.info.runner = 'command';
    } catch (e) {
      if (!(e instanceof FunkloadFormatError)) throw e;
      warnings.push(`${xml} is not FunkLoad XML (${e.message}): the report has the fault windows without the command's requests`);
    }
  }
  if (!results) {
    results = new RunResults(newRunInfo({ name: ctx.job.name, runner: 'command', start: record.loadStart, meta: {} }));
    warnings.push(...applyChaos(results, record));
    results.finish(Date.now());
  }
  results.info.name = ctx.job.name;
  Object.assign(results.info.meta, jobMeta(ctx.job));
  for (const w of warnings) ctx.log(w, { stream: 'engine', level: 'warn' });
  return reportResults(results, { resultDir: ctx.resultDir, writeReports, log: (line) => ctx.log(line) });
}
