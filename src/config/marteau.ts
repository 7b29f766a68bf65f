/**
 * `.marteau.yml`: what a load-test job is. The original Marteau keys keep their meaning (`name`,
 * `test`, `script`, `xml`, `wdir`, `nodes`, `deps`, `cycles`, `duration`, `email`; no `runner:` with
 * `script`/`test` means FunkLoad, as in Marteau) next to ours (`runner`, `command`, `proxies`, `thresholds`, `notify`, `env`, ...).
 * Loading validates everything up front so a mistake is reported at enqueue time, at its
 * file:line:col, never halfway through a run.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { MixError, parseMix, type BehaviorRegistry, type MixSpec } from '../proxy/mix.js';
import type { ProtocolName } from '../proxy/protocol.js';
import { protocolInfo } from '../proxy/protocols/index.js';
import type { ProxyOptions } from '../proxy/proxy.js';
import type { RecoveryOptions } from '../stats/recovery-options.js';
import { didYouMean } from '../text/closest.js';
import { checkEnd, checkTimeout, isServiceFault, parseChaos, type ChaosEntry, type RunLength, type ServiceFaultEntry } from './chaos.js';
import { ConfigError, errorAt, parseYaml, type SourceDoc } from './errors.js';
import { expandDocument, references, type Vars } from './interpolate.js';
import { fixtureSchema, hintAt, HINTS, knownKeysAt, marteauSchema, type RunnerName } from './marteau-schema.js';
import { findConfigFile } from './project-files.js';
import { loadConfigPlugins, parseProxiesConfig, type StatsdConfig } from './proxies.js';
import { expectList, recoveryOptions } from './recovery.js';
import { parseServices, proxyVars, serviceVars, type ServiceSpec } from './services.js';
import { applySweep, sweepOptionsOf, type SweepPlan } from './sweep.js';
import { durationMs, durationSchema, formatDuration } from './units.js';
import { splitWords, WordsError } from './words.js';
import { zodToConfigError } from './zod-errors.js';
import { unreadableWords } from '../fs/errors.js';

export interface FixtureSpec {
  name: string;
  proxy: string;
  behaviors: MixSpec;
  /** Offset from the start of the load; undefined: set up before the run. */
  atMs?: number;
  /** How long it stays; undefined: until the run ends. */
  forMs?: number;
  /** What the load should see meanwhile: "503", "5xx", "timeout", "connection" (error mapping). */
  expect?: string[];
}

export interface NotifyConfig {
  bell: boolean;
  webhook?: string;
  webhookTimeoutMs: number;
}

/** A validated, normalised job config. */
export interface MarteauConfig {
  /** The config file and the project directory it lives in. */
  file: string;
  projectDir: string;
  name: string;
  runner: RunnerName;
  command?: string[];
  nodes: number;
  nodeTags: string[];
  /** Absolute local directory the job runs in (projectDir + wdir). */
  workDir: string;
  wdir?: string;
  script?: string;
  test?: string;
  xml?: string;
  deps: string[];
  cycles?: number[];
  durationMs?: number;
  startupDelayMs?: number;
  sleepTimeMs?: number;
  sleepTimeMinMs?: number;
  sleepTimeMaxMs?: number;
  cycleTimeMs?: number;
  thresholds: Record<string, unknown>;
  /** How recovery after a fault window is judged (`recovery:`, defaults filled in). */
  recovery: RecoveryOptions;
  proxies: ProxyOptions[];
  /** The behaviors this config was checked against: the given ones plus its `plugins:`. */
  behaviors: BehaviorRegistry;
  /** Started before the load, stopped after; their `${...}` are expanded at start. */
  services: ServiceSpec[];
  statsd?: StatsdConfig;
  /** Serve the control APIs over the job's proxies while it runs. */
  api?: { listen: string; vaurienProxy?: string };
  fixtures: FixtureSpec[];
  /** `chaos:` entries, validated against the proxies, the behaviors and the run length. */
  chaos: ChaosEntry[];
  /** `chaos:` entries that fault a service's processes (`{service, fault}`). */
  serviceFaults: ServiceFaultEntry[];
  /** The schedule of `chaos: sweep`, and what each of its cells expects. */
  sweep?: SweepPlan;
  /** How long the load runs, as far as the config tells (the `timeout` otherwise). */
  runLength: RunLength;
  /** The job seed from the config; the engine draws one when there is none. */
  seed?: number | string;
  notify: NotifyConfig;
  env: Record<string, string>;
  timeoutMs: number;
  upload: boolean;
  artifacts: string[];
  keepRemote: boolean;
  /** Who is mailed the report link when the job ends (`email:`, Marteau's key). */
  email: string[];
  /** The whole parsed YAML, for runner-specific sections (scenario, ...). */
  raw: Record<string, unknown>;
}

/** What the loader needs to know about runners: which exist here, and their own checks. */
export interface RunnerCatalogEntry {
  /** Validates the runner's own keys (the whole config object is passed). */
  configSchema?: z.ZodType;
  /** The keys allowed at a path of the runner's own sections (e.g. a scenario step), for "did you mean" and the list of known keys. */
  knownKeysAt?(path: readonly (string | number)[]): readonly string[] | undefined;
  /** Cross-key checks; return a problem with its path, an error in another file of the project (e.g. FunkLoad's .conf), or nothing. */
  check?(config: MarteauConfig): { path: (string | number)[]; message: string; hint?: string } | ConfigError | undefined;
  /** How long the load of this config runs, when the runner knows (checks chaos times against it). */
  runLength?(config: MarteauConfig): RunLength | undefined;
  /** Without a runLength, the least the load lasts when the config tells (checked against the timeout only). */
  loadAtLeast?(config: MarteauConfig): RunLength | undefined;
  /** Whether a job of this config copies files to or from SSH nodes (SFTP); unsaid: it does. */
  movesFiles?(config: MarteauConfig): boolean;
}
export type RunnerCatalog = ReadonlyMap<string, RunnerCatalogEntry>;

export interface LoadOptions {
  runners: RunnerCatalog;
  behaviors: BehaviorRegistry;
  /** Reads a file of the project (`chaos: FILE`); the engine reads the job's snapshot instead. */
  readProjectFile?: (relPath: string) => string;
  /** The job's seed, once the engine has drawn it: it orders the steps of `chaos: sweep`. */
  seed?: string;
  /** The name without `name:` (a git project's repository); else the project directory's. */
  defaultName?: string;
}

const DEFAULT_TIMEOUT_MS = 3_600_000;

/** `edit`: changes the text before it is parsed, as the engine's enqueue does (`sweep` sets its chaos there). */
export async function loadMarteauConfig(target: string, options: LoadOptions, edit: (text: string) => string = (t) => t): Promise<MarteauConfig> {
  const file = await findConfigFile(target);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read the file: ${unreadableWords(e)}`);
  }
  const src = parseYaml(file, edit(text));
  return parseMarteauConfig(src, path.dirname(path.resolve(file)), { ...options, behaviors: await withPlugins(src, options.behaviors) });
}

/**
 * The registry a config's proxies, fixtures and chaos resolve behavior names in: the given one
 * plus the behaviors of its `plugins:` files (loaded now: importing is asynchronous, parsing not).
 */
export async function withPlugins(src: SourceDoc, behaviors: BehaviorRegistry): Promise<BehaviorRegistry> {
  const plugins = await loadConfigPlugins(src, behaviors);
  return plugins.length ? new Map([...behaviors, ...plugins.map((b) => [b.name, b] as const)]) : behaviors;
}

/** The variables a job defines once it runs; before that, placeholders that validate like them. */
export const JOB_VARS = ['MARTEAU_JOB_ID', 'MARTEAU_JOB_NAME', 'MARTEAU_RESULT_DIR'] as const;

/**
 * `vars`: the real values of `${MARTEAU_...}` references known so far (service ports, proxy
 * addresses); the others get placeholders, so a config validates the same before and during a run.
 */
export function parseMarteauConfig(source: SourceDoc, projectDir: string, options: LoadOptions, vars: Vars = {}): MarteauConfig {
  const rawData = source.doc.toJS() as unknown;
  if (rawData === null || rawData === undefined || typeof rawData !== 'object' || Array.isArray(rawData)) {
    throw new ConfigError(source.file, 1, 1, 'expected a map of settings (name:, runner:, ...)', 'see `marteau-tui schema` for the keys');
  }
  const names = (key: string) => {
    const v = (rawData as Record<string, unknown>)[key];
    return v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : [];
  };
  const placeholders: Record<string, string> = Object.fromEntries(JOB_VARS.map((v) => [v, v.toLowerCase()]));
  for (const s of names('services')) Object.assign(placeholders, serviceVars(s, 1));
  for (const p of names('proxies')) Object.assign(placeholders, proxyVars(p, '127.0.0.1:1', '127.0.0.1:1'));
  const src = expandDocument(source, { ...placeholders, ...vars }, ['services']);
  const data = src.doc.toJS() as Record<string, unknown>;
  rejectMarteauPythonPlugins(src, data as Record<string, unknown>);
  const parsed = marteauSchema.safeParse(data);
  if (!parsed.success) {
    throw zodToConfigError(src, data, parsed.error, {
      knownKeys: (p) => knownKeysAt(p),
      hint: hintAt,
    });
  }
  const c = parsed.data;
  // Marteau ran every config with FunkLoad: its `script` + `test` keep meaning a FunkLoad test.
  const runner: RunnerName = c.runner ?? (c.command !== undefined ? 'command' : c.script !== undefined || c.test !== undefined ? 'funkload' : 'builtin');
  const entry = options.runners.get(runner);
  if (!entry) {
    const available = [...options.runners.keys()].join(', ');
    throw errorAt(
      src,
      c.runner ? ['runner'] : [],
      `runner "${runner}" is not available in this version${c.runner ? '' : runner === 'funkload' ? ' (the default when script: or test: is given)' : ' (the default when no `command:` is given)'}`,
      `available runners: ${available}${options.runners.has('command') ? '; e.g. runner: command with command: [node, load.js]' : ''}`,
    );
  }
  if (entry.configSchema) {
    const r = entry.configSchema.safeParse(data);
    // The runner's messages say what a value should be; a key left out gets the hint of what to add.
    if (!r.success) {
      throw zodToConfigError(src, data, r.error, {
        knownKeys: (p) => entry.knownKeysAt?.(p),
        hint: (p) => (p.length === 1 && data[String(p[0])] === undefined ? HINTS[String(p[0])] : undefined),
      });
    }
  }

  let command: string[] | undefined;
  if (typeof c.command === 'string') {
    try {
      command = splitWords(c.command);
    } catch (e) {
      if (e instanceof WordsError) throw errorAt(src, ['command'], e.message, 'close the quote, or write the command as a list');
      throw e;
    }
    if (!command.length) throw errorAt(src, ['command'], 'the command is empty', HINTS.command);
  } else if (c.command) {
    command = c.command.map(String);
  }
  if (command?.some((a) => a.includes('\0'))) throw errorAt(src, ['command'], 'an argument contains a NUL byte');

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.env ?? {})) {
    if (k.startsWith('MARTEAU_')) throw errorAt(src, ['env', k], `"${k}": names starting with MARTEAU_ are set by marteau-tui`, 'pick another name', true);
    if (typeof v === 'string' && v.includes('\0')) throw errorAt(src, ['env', k], 'the value contains a NUL byte');
    env[k] = String(v);
  }

  const proxies = c.proxies ? parseProxiesConfig(src, options.behaviors).proxies : [];
  const services = parseServices(src, c.services ?? {}, projectDir, { proxies: proxies.map((p) => p.name), jobVars: JOB_VARS });
  checkProxyUpstreams(source, services);
  const protocolOf = new Map(proxies.map((p) => [p.name, p.protocol]));
  const fixtures = parseFixtures(src, c.fixtures ?? {}, protocolOf, options.behaviors);
  const workDir = c.wdir ? path.join(projectDir, c.wdir) : projectDir;
  const opt = (v: z.infer<typeof durationSchema> | undefined) => (v === undefined ? undefined : durationMs(v));

  const config: MarteauConfig = {
    file: src.file,
    projectDir,
    name: c.name ?? options.defaultName ?? path.basename(projectDir),
    runner,
    command,
    nodes: c.nodes,
    nodeTags: c.node_tags ?? [],
    workDir,
    wdir: c.wdir,
    script: c.script,
    test: c.test,
    xml: c.xml,
    deps: c.deps ?? [],
    cycles: c.cycles === undefined ? undefined : typeof c.cycles === 'number' ? [c.cycles] : typeof c.cycles === 'string' ? c.cycles.split(':').map(Number) : c.cycles,
    durationMs: opt(c.duration),
    startupDelayMs: opt(c.startup_delay),
    sleepTimeMs: opt(c.sleep_time),
    sleepTimeMinMs: opt(c.sleep_time_min),
    sleepTimeMaxMs: opt(c.sleep_time_max),
    cycleTimeMs: opt(c.cycle_time),
    thresholds: c.thresholds ?? {},
    recovery: recoveryOptions(c.recovery),
    proxies,
    behaviors: options.behaviors,
    services,
    statsd: c.statsd,
    api: c.api ? { listen: c.api.listen, vaurienProxy: c.api.vaurien_proxy } : undefined,
    fixtures,
    chaos: [],
    serviceFaults: [],
    runLength: { ms: 0, why: '' },
    seed: c.seed,
    notify: {
      bell: c.notify?.bell ?? true,
      webhook: c.notify?.webhook,
      webhookTimeoutMs: c.notify?.webhook_timeout === undefined ? 5000 : durationMs(c.notify.webhook_timeout),
    },
    env,
    timeoutMs: c.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationMs(c.timeout),
    upload: c.upload ?? true,
    artifacts: [...(c.xml ? [c.xml] : []), ...(c.artifacts ?? [])],
    keepRemote: c.keep_remote ?? false,
    email: c.email === undefined ? [] : typeof c.email === 'string' ? [c.email] : c.email,
    raw: data as Record<string, unknown>,
  };
  if (config.timeoutMs <= 0) throw errorAt(src, ['timeout'], 'must be more than 0');
  config.runLength = entry.runLength?.(config) ?? { ms: config.timeoutMs, why: `timeout ${formatDuration(config.timeoutMs)}`, byTimeout: true };
  const sweep = sweepOptionsOf(c.chaos);
  if (sweep) {
    // Before enqueue there is no job seed yet: the order checked then is the config seed's (or 0's).
    applySweep(src, sweep, rawData as Record<string, unknown>, config, options.seed ?? String(c.seed ?? 0), { window: c.recovery?.window !== undefined, baseline: c.recovery?.baseline !== undefined });
    const swept = entry.runLength?.(config);
    // The sweep wrote the cycle's duration: its schedule is what the user set.
    if (swept) config.runLength = { ...swept, why: `chaos: sweep, its lead and ${config.sweep!.cells.length} faults of ${formatDuration(config.sweep!.stepMs)} each with the gap after it` };
  } else if (typeof c.chaos === 'string' || Array.isArray(c.chaos)) {
    const items = parseChaos(src, c.chaos, {
      projectDir,
      proxies: protocolOf,
      serviceNames: new Set(services.map((s) => s.name)),
      behaviors: options.behaviors,
      runLength: config.runLength,
      readProjectFile: options.readProjectFile,
    });
    config.chaos = items.filter((e): e is ChaosEntry => !isServiceFault(e));
    config.serviceFaults = items.filter(isServiceFault);
  }
  // A fixture starting at or past the end of the run would never be applied: refused as a chaos
  // entry is, against the run's final length (a sweep sets it). One that starts in time may
  // outlast the run (its `for` is cut at the end; recoveryScheduleWarnings says what that costs).
  for (const f of fixtures) {
    if (f.atMs !== undefined) checkEnd(f.atMs, undefined, config.runLength, (p, m, h) => errorAt(src, ['fixtures', f.name, ...p], m, h));
  }
  checkTimeout(config.runLength.byTimeout ? (entry.loadAtLeast?.(config) ?? config.runLength) : config.runLength, config.timeoutMs, c.timeout !== undefined, (m, h) => errorAt(src, ['timeout'], m, h));
  const problem = entry.check?.(config);
  if (problem instanceof ConfigError) throw problem;
  if (problem) throw errorAt(src, problem.path, problem.message, problem.hint);
  return config;
}

/**
 * Proxies start between the two groups of services, so an upstream may name a service that
 * starts before them, never a proxy or a service that itself waits for the proxies.
 */
function checkProxyUpstreams(src: SourceDoc, services: readonly ServiceSpec[]): void {
  const proxies = (src.doc.toJS() as { proxies?: Record<string, { upstream?: unknown }> }).proxies ?? {};
  for (const [name, p] of Object.entries(proxies)) {
    if (typeof p?.upstream !== 'string') continue;
    for (const ref of references(p.upstream)) {
      const late = services.find((s) => s.afterProxies && ref in serviceVars(s.name, 0));
      if (ref.startsWith('MARTEAU_PROXY_') || late) {
        throw errorAt(
          src,
          ['proxies', name, 'upstream'],
          late ? `\${${ref}}: service "${late.name}" talks through a proxy, so it starts after the proxies and cannot be an upstream` : `\${${ref}}: a proxy's upstream cannot be another proxy's address`,
          'an upstream names a service that does not depend on a proxy, or a fixed host:port',
        );
      }
    }
  }
}

function parseFixtures(
  src: SourceDoc,
  fixtures: Record<string, z.infer<typeof fixtureSchema>>,
  protocolOf: ReadonlyMap<string, ProtocolName>,
  behaviors: BehaviorRegistry,
): FixtureSpec[] {
  return Object.entries(fixtures).map(([name, f]) => {
    const protocol = protocolOf.get(f.proxy);
    if (protocol === undefined) {
      throw errorAt(
        src,
        ['fixtures', name, 'proxy'],
        `unknown proxy "${f.proxy}"${didYouMean(f.proxy, [...protocolOf.keys()])}`,
        protocolOf.size ? `proxies declared in this file: ${[...protocolOf.keys()].join(', ')}` : 'declare it under `proxies:` in this file (listen, upstream, protocol)',
      );
    }
    try {
      parseMix(f.behaviors as MixSpec, behaviors, { protocol: protocolInfo(protocol) });
    } catch (e) {
      if (e instanceof MixError) throw errorAt(src, ['fixtures', name, 'behaviors', ...e.path], e.message, 'Vaurien form "20:delay,10:error" or a map {delay: 20}');
      throw e;
    }
    return {
      name,
      proxy: f.proxy,
      behaviors: f.behaviors as MixSpec,
      atMs: f.at === undefined ? (f.for === undefined ? undefined : 0) : durationMs(f.at),
      forMs: f.for === undefined ? undefined : durationMs(f.for),
      ...(f.expect !== undefined ? { expect: expectList(f.expect) } : {}),
    };
  });
}

/** Marteau's own fixtures were Python classes found through `lookup:`; say so plainly rather than "unknown key". */
function rejectMarteauPythonPlugins(src: SourceDoc, data: Record<string, unknown>): void {
  if ('lookup' in data) {
    throw errorAt(
      src,
      ['lookup'],
      "Marteau's lookup: imports Python modules that register fixture classes; marteau-tui has no Python fixtures",
      'remove lookup:, and describe each fixture as a proxy change: fixtures: {slow_db: {proxy: NAME, behaviors: "100:delay"}}',
      true,
    );
  }
  const fixtures = data.fixtures;
  if (!fixtures || typeof fixtures !== 'object') return;
  for (const [name, f] of Object.entries(fixtures)) {
    if (f && typeof f === 'object' && ('class' in f || 'arguments' in f)) {
      throw errorAt(
        src,
        ['fixtures', name, 'class' in f ? 'class' : 'arguments'],
        "Marteau's class-based fixtures (class:, arguments:) are not supported",
        'describe the proxy change instead: {proxy: NAME, behaviors: "100:delay", at: 10s, for: 5s}',
        true,
      );
    }
  }
}
