/** The builtin runner: FunkLoad bench semantics over a YAML scenario of HTTP steps, no Python. */
export { builtinConfigSchema } from './config.js';
export { runBench } from './bench.js';
export type { BenchProgress } from './bench.js';
export { runBuiltinJob } from './job.js';
