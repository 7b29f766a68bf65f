/**
 * The funkload runner's keys of .marteau.yml. Marteau's own keys keep their meaning (`script`,
 * `test`, `deps`, `cycles`, `duration`, `nodes`, `wdir`, `xml`), plus FunkLoad's `[bench]`
 * overrides that fl-run-bench takes on its command line (`startup_delay`, `sleep_time`,
 * `sleep_time_min`, `sleep_time_max`, `url`):
 *
 *   script: loadtest.py          # the test module (relative to wdir); with test: and no runner:, funkload
 *   test: Simple.test_simple     # Class.method
 *   deps: [requests, ./vendor/mylib]   # pip requirements, installed for FunkLoad's Python on each node
 *   pip_options: [--no-index, --find-links, wheels]
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { httpUrlSchema } from '../../config/http-url.js';
import type { RunLength } from '../../config/chaos.js';
import type { MarteauConfig, RunnerCatalogEntry } from '../../config/marteau.js';
import { isInnerPath } from '../../config/paths.js';
import { apdexTSchema } from '../builtin/config.js';
import { cyclesLength } from '../cycles-length.js';
import { checkThresholds } from '../job-report.js';
import { checkConfFile } from './conf-file.js';

const notAnOption = (what: string) =>
  z.string().min(1).refine((s) => !s.startsWith('-'), { error: `${what} cannot start with "-" (it would be read as an option)` });

export const funkloadConfigSchema = z.object({
  script: notAnOption('script')
    .refine(isInnerPath, { error: 'must be a path inside the project (relative, no ..)' })
    .describe('the FunkLoad test module, e.g. loadtest.py (relative to wdir)'),
  test: z
    .string()
    .regex(/^[A-Za-z_]\w*\.[A-Za-z_]\w*$/, 'expected ClassName.method_name, e.g. Simple.test_simple')
    .describe('the test to bench: ClassName.method_name'),
  deps: z.array(notAnOption('a dependency')).default([]).describe("pip requirements, installed for FunkLoad's Python on each node (pip install --target, first on PYTHONPATH)"),
  pip_options: z.array(z.string().min(1)).default([]).describe('extra pip install options, e.g. [--no-index, --find-links, wheels]'),
  url: httpUrlSchema('url').optional().describe('server under test (fl-run-bench --url, FunkLoad [main] url)'),
  apdex_t: apdexTSchema,
});

export type FunkloadConfig = z.output<typeof funkloadConfigSchema>;

/**
 * When .marteau.yml gives the cycles and their duration (else the .conf does, unread here): each
 * cycle starts its users startup_delay apart, then records; starting fl-run-bench adds to that.
 */
export function funkloadLoadAtLeast(config: MarteauConfig): RunLength | undefined {
  const { cycles, durationMs, startupDelayMs = 0, cycleTimeMs = 0 } = config;
  if (!cycles || durationMs === undefined) return undefined;
  return { ...cyclesLength(cycles, durationMs / 1000, cycleTimeMs / 1000, { seconds: (users) => ((users - 1) * startupDelayMs) / 1000, words: `users started ${startupDelayMs / 1000}s apart` }), atLeast: true };
}

/** Cross-key checks at load time, so a mistake is a config error at its line, not a failed run. */
export const checkFunkloadConfig: NonNullable<RunnerCatalogEntry['check']> = (config: MarteauConfig) => {
  const script = config.script!;
  const file = path.resolve(config.workDir, script);
  if (!existsSync(file) || !statSync(file).isFile()) {
    return {
      path: ['script'],
      message: `the test module "${script}" is not in ${config.workDir}`,
      hint: config.wdir ? `script is relative to wdir (${config.wdir})` : 'give its path relative to the directory of .marteau.yml (or set wdir)',
    };
  }
  if (config.durationMs !== undefined && (config.durationMs % 1000 !== 0 || config.durationMs === 0)) {
    return { path: ['duration'], message: 'fl-run-bench takes a whole number of seconds per cycle', hint: 'e.g. duration: 10' };
  }
  if (config.cycleTimeMs !== undefined) {
    return {
      path: ['cycle_time'],
      message: 'fl-run-bench has no command-line option for cycle_time',
      hint: `set "cycle_time = N" in the [bench] section of ${config.test?.split('.')[0] ?? 'the test'}.conf`,
    };
  }
  return checkConfFile(config) ?? checkThresholds(config);
};
