/** The builtin runner: FunkLoad bench semantics over a YAML scenario of HTTP steps, no Python. */
export { builtinConfigSchema, stepSchema, DEFAULT_OK_CODES, HTTP_METHODS, LIMITS } from './config.js';
export type { BuiltinConfig, BuiltinConfigInput, ScenarioStep, HttpMethod } from './config.js';
export { runBench, sleep, resolveTargets, serverUrl, shareOf } from './bench.js';
export type { BenchOptions, BenchProgress, CycleEvent } from './bench.js';
export { runBuiltinJob, summaryLine } from './job.js';
export type { BuiltinJobOptions, BuiltinJobResult, ProxyEventLike, ProxyEventSource } from './job.js';
