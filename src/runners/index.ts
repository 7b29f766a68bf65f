/** The runners this build knows. Add a runner here to make it available to configs and the engine. */
import { builtinRunner } from './builtin/runner.js';
import { commandRunner } from './command.js';
import { funkloadRunner } from './funkload/runner.js';
import { locustRunner } from './locust/runner.js';
import type { ReportWriter } from './job-report.js';
import { runnerRegistry, type RunnerRegistry } from '../core/runner-contract.js';

/** Each writes its reports with `writeReports`, report/'s writer, which report/runners.ts hands in. */
export function defaultRunners(writeReports: ReportWriter): RunnerRegistry {
  return runnerRegistry([builtinRunner(writeReports), funkloadRunner(writeReports), locustRunner(writeReports), commandRunner(writeReports)]);
}
