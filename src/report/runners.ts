/**
 * The runners this build ships, loaded on first use: the engine is handed this loader, so a
 * command that only reads the queue or the nodes never loads a runner. It lives in report/, the
 * lowest layer that knows both the runners and the report writer they end with (report/ renders
 * runners' results, so runners cannot import it and are handed writeReports instead).
 */
import type { RunnerRegistry } from '../core/runner-contract.js';

export const loadRunners = (): Promise<RunnerRegistry> =>
  Promise.all([import('../runners/index.js'), import('./index.js')]).then(([runners, report]) => runners.defaultRunners(report.writeReports));
