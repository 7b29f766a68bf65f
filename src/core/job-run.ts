/**
 * Running one job this process claimed: its services, proxies, control API and chaos players
 * set up in order, the runner given its context, everything torn down, then its end recorded.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/config-error.js';
import type { Vars } from '../config/interpolate.js';
import type { MarteauConfig } from '../config/marteau.js';
import { identityProblem } from '../config/identity-files.js';
import type { NodeConfig } from '../config/nodes.js';
import { NodeError, type Executor } from '../exec/executor.js';
import type { RunnerContext, RunnerNode, RunOutcome } from './runner-contract.js';
import type { ProxyEvent } from '../proxy/proxy.js';
import type { ProxySet } from '../proxy/proxy-set.js';
import { mixWords } from '../text/mix-words.js';
import { ListenError, listenMistake } from '../proxy/proxy-errors.js';
import type { Behavior } from '../proxy/plugin.js';
import type { ApiServer } from '../proxy/api/server.js';
import type { Route } from '../proxy/api/http.js';
import { ConsoleFile, TAIL_LINES, type LogLine } from './console-file.js';
import type { EngineCore, LiveJob } from './engine-types.js';
import type { LogStream } from './events.js';
import { CHAOS_SNAPSHOT } from './job-files.js';
import { notifyJobEnd, recordFinish, writeJobResult } from './job-end.js';
import { decideOutcome, isExpectedError, timelineLine, unsteadyOutcome, type AbortWhy } from './job-outcome.js';
import { GroupFiles } from './leftovers.js';
import { downFor } from './node-pool.js';
import type { Job, JobOutcome } from './jobs.js';
import { short } from './queue.js';
import { stateDirFlag } from './state-dir.js';
import { endSummary } from './result-file.js';
import { isDiskFull } from './state-space.js';
import { syncTree } from '../fs/durable.js';
import { fsReason } from '../fs/errors.js';
import { mkdirp } from '../fs/mkdirp.js';

/** Log lines of a service carry this prefix where a runner's carry the node name. */
export const SERVICE_NODE = 'service:';

export async function runJob(core: EngineCore, job: Readonly<Job>, claim: string, nodeConfigs: NodeConfig[], live: LiveJob): Promise<void> {
  const resultDir = core.state.jobDir(job.id);
  await mkdirp(resultDir, 0o700);
  // Its output lost silently would read as a job that printed nothing.
  const consoleFile = new ConsoleFile(path.join(resultDir, 'console.log'), (why) => log(why, { level: 'warn' }));
  // `quiet`: kept in console.log only, because views already show it from a job.* event.
  const log = (line: string, o: { node?: string; stream?: LogStream; level?: 'info' | 'warn' | 'error'; quiet?: boolean } = {}) => {
    const entry: LogLine = { at: Date.now(), node: o.node, stream: o.stream ?? 'engine', line };
    if (o.quiet) return consoleFile.write(entry);
    live.lines.push(entry);
    if (live.lines.length > TAIL_LINES) live.lines.splice(0, live.lines.length - TAIL_LINES);
    consoleFile.write(entry);
    core.queue.publishLine?.(job.id, { ...entry, level: o.level });
    core.events.emit({ type: 'log.line', at: entry.at, jobId: job.id, node: o.node, stream: entry.stream, level: o.level, line });
    core.changed();
  };
  const started = Date.now();
  let config: MarteauConfig | undefined;
  let outcome: RunOutcome | undefined;
  let error: unknown;
  /** Why a sweep's load was not steady before its first fault. */
  let unsteady: string | undefined;
  let loadStarted = false;
  // The job's `plugins:` join this registry once its config is read (the set resolves names in it).
  const kit = await core.kit();
  const { m } = kit;
  const registry = new Map(kit.behaviors);
  const proxies = new m.ProxySet(registry);
  let api: ApiServer | undefined;
  let shared: ApiServer | undefined;
  live.proxies = proxies;
  const executors: Executor[] = [];
  let timer: NodeJS.Timeout | undefined;
  const groups: number[] = [];
  const groupFiles = new GroupFiles(resultDir, claim, (line) => log(line, { level: 'warn' }));
  const recordProcess = (node: string, pgid: number, local: boolean) => {
    const recorded = core.queue.recordProcess(job.id, claim, node, pgid);
    // A remote group's record only shows it: its connection's sentinel stops it should this engine die.
    if (!local) return void recorded.catch(() => {});
    core.watchdog.add(pgid);
    groups.push(pgid);
    void groupFiles.add(node, pgid, recorded);
  };
  const services = new m.ServiceSet({
    log: (line, o) => log(line, { node: `${SERVICE_NODE}${o.service}`, stream: o.stream, level: o.level }),
    started: (name, pgid) => recordProcess(`${SERVICE_NODE}${name}`, pgid, true),
  });
  try {
    // A key deleted or replaced since the nodes file was loaded is still the file's mistake: said
    // at its identity: before anything starts (exit 2), not as the job's connection failing (exit 3).
    if (nodeConfigs.some((n) => identityProblem(n))) {
      const bad = await (await import('../config/nodes.js')).identityErrorsIn(core.pool.config.file, nodeConfigs);
      if (bad) throw bad;
    }
    const jobVars = { MARTEAU_JOB_ID: job.id, MARTEAU_JOB_NAME: job.name, MARTEAU_RESULT_DIR: resultDir };
    // Enqueued elsewhere: the config, its `chaos:` file and a replay's seed come from the shared queue.
    await core.files.fetch(job.id);
    config = await snapshotConfig(core, job, jobVars);
    for (const [name, b] of config.behaviors) registry.set(name, b);
    const runner = kit.runners.get(config.runner);
    if (!runner) throw new ConfigError(config.file, undefined, undefined, `runner "${config.runner}" is not available in this version`);
    timer = setTimeout(() => live.abort.abort('timeout' satisfies AbortWhy), config.timeoutMs);
    log(`job ${short(job.id)} ${JSON.stringify(job.name)} on ${nodeConfigs.map((n) => n.name).join(', ')} (runner ${config.runner})`, { quiet: true });
    const seed = await core.files.seed(job, config);
    live.seed = seed;
    if (config.proxies.length) log(`seed ${seed} (marteau-tui replay ${short(job.id)}${replayFlags(core)} runs the same faults again)`);
    // Services a proxy points at, the proxies, then services that talk through a proxy; the
    // config is read again at each step so `${...}` get the addresses known by then.
    const early = config.services.filter((s) => !s.afterProxies);
    const late = config.services.filter((s) => s.afterProxies);
    await services.start(early, jobVars, live.abort.signal);
    if (early.length) config = await snapshotConfig(core, job, { ...jobVars, ...services.vars() });
    // One stream per proxy, from the job seed and its name: adding a proxy shifts no other's draws.
    await proxies.start(config.proxies.map((p) => ({ ...p, seed: p.seed ?? `${seed}/${p.name}` })), config.statsd, (m) => log(m, { level: 'warn' })).catch(async (e: unknown) => {
      throw await listenConfigError(core, job, e);
    });
    for (const p of proxies.proxies.values()) log(`proxy ${p.name} ${p.options.protocol} ${p.listenAddress} -> ${p.upstream} mix ${mixWords(p.mix.text)}`);
    const addresses = (): Vars => Object.assign({ ...jobVars, ...services.vars() }, ...[...proxies.proxies.values()].map((p) => m.proxyVars(p.name, p.listenAddress, p.upstream))) as Vars;
    await services.start(late, addresses(), live.abort.signal);
    if (config.services.length || config.proxies.length) config = await snapshotConfig(core, job, addresses());
    const routes = m.scenarioRoutes(() => live.chaos);
    api = await startJobApi(core, config, proxies, routes, (m) => log(m, { level: 'warn' }));
    if (api) log(`api listening on ${api.url} (Toxiproxy /proxies, Vaurien /vaurien/<proxy>/behavior, /marteau)`);
    shared = await shareJobApi(core, proxies, registry, routes, (m) => log(m, { level: 'warn' }));
    live.sharedApi = shared?.url;
    core.presence?.publish();
    const chaos = new m.ChaosPlayer(
      m.compileSchedule(config.chaos, config.fixtures, config.runLength.ms),
      proxies.proxies,
      (e) => {
        live.timeline.push(e);
        core.events.emit({ type: 'job.fixture', at: e.at, jobId: job.id, event: e });
        log(timelineLine(e, chaos.view().some((v) => v.proxy === e.proxy && (v.current || v.remaining > 0))));
      },
      (m, level) => log(m, { level }),
      () => core.changed(),
    );
    live.chaos = chaos;
    const serviceFaults = new m.ServiceFaultPlayer(
      config.serviceFaults,
      services,
      (e) => {
        live.timeline.push(e);
        core.events.emit({ type: 'job.fixture', at: e.at, jobId: job.id, event: e });
        log(timelineLine(e, false));
      },
      (m, level) => log(m, { level }),
    );
    // The player gives every change it makes a reason; one without came from outside (the
    // control API): a change by hand.
    for (const p of proxies.proxies.values()) {
      p.on('event', (e: ProxyEvent) => {
        if (e.type === 'proxy.mix' && e.reason === undefined) chaos.observed(e.proxy, e.mix);
      });
    }
    const nodes: RunnerNode[] = nodeConfigs.map((n, index) => {
      // Views showed these when the probe said them; the job's record keeps them.
      for (const told of core.pool.takeNotices(n.name)) log(`${told}, by the node's probe before this job`, { node: n.name, quiet: true });
      const executor = core.pool.executor(n.name, (detail) => log(detail, { node: n.name, level: 'warn' }));
      executors.push(executor);
      return n.type === 'ssh'
        ? { name: n.name, index, executor, kind: n.type, remoteBase: n.workDir, nodeBin: n.nodeBin, marteauTui: n.marteauTui, funkload: n.funkload }
        : { name: n.name, index, executor, kind: n.type, funkload: n.funkload };
    });
    let loadStart = 0;
    const ctx: RunnerContext = {
      job: { id: job.id, name: job.name, ...(config.proxies.length || config.serviceFaults.length ? { seed } : {}) },
      config,
      nodes,
      resultDir,
      env: { ...config.env, ...jobEnv(config), ...addresses() },
      signal: live.abort.signal,
      cancelCause: () => core.queue.get(job.id)?.cancelCause ?? live.cancelCause,
      log,
      progress: (p) => {
        live.progress = p;
        core.events.emit({ type: 'job.progress', at: Date.now(), jobId: job.id, progress: p });
        core.changed();
      },
      loadStarted: () => {
        if (loadStarted) return;
        loadStarted = true;
        loadStart = Date.now();
        // A sweep waits for the steady-state check of its lead before it arms anything.
        if (config?.sweep) return;
        chaos.start(loadStart);
        serviceFaults.start(loadStart);
      },
      steadyState: (v) => {
        if (!config?.sweep || unsteady !== undefined) return;
        if (v.ok) {
          chaos.start(loadStart);
          serviceFaults.start(loadStart);
          return;
        }
        unsteady = v.why ?? 'the steady-state check failed';
        log(`unsteady before the first fault: ${unsteady}; no fault is injected`, { level: 'error' });
      },
      proxies: proxies.proxies,
      // Proxy changes and service faults, in the order they happened.
      timeline: () => [...live.timeline],
      nodeFailed: (node, message) => core.pool.markDown(node, message),
      recordProcess: (node, pgid, local) => recordProcess(node, pgid, local ?? nodeConfigs.find((n) => n.name === node)?.type === 'local'),
    };
    try {
      await chaos.setup();
      outcome = await runner.run(ctx);
    } finally {
      await serviceFaults.teardown();
      await chaos.teardown();
    }
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
    await services.stop();
    live.sharedApi = undefined;
    await Promise.all([api, shared].map((a) => a?.close().catch(() => {})));
    await proxies.close(0).catch(() => {});
    await Promise.all(executors.map((x) => x.close().catch(() => {})));
    for (const g of groups) core.watchdog.remove(g);
    core.files.forget(job.id);
  }

  for (const line of outcome?.closing ?? []) log(line);
  const why = live.abort.signal.aborted ? (live.abort.signal.reason as AbortWhy) : undefined;
  const final = roomOutcome(core, error, loadStarted) ?? unsteadyOutcome(why, unsteady) ?? decideOutcome(why, outcome, error, config?.timeoutMs, core.queue.get(job.id)?.cancelCause ?? live.cancelCause);
  if (error instanceof NodeError) core.pool.markDown(error.node, error.message, downFor(error));
  // A start put back in the queue for want of room is told by the engine's warning, once.
  if (error && !isExpectedError(error) && !final.requeue) {
    log(`error: ${(error as Error).message}`, { level: 'error' });
  }
  const endedAt = Date.now();
  const summary = endSummary(final, endedAt - started, outcome?.summary);
  log(`job ${short(job.id)} ${summary}`, { quiet: true });
  core.summaries.set(job.id, { summary, claim, report: outcome?.report, bell: config?.notify.bell ?? false, seed: live.seed, timeline: Object.freeze([...live.timeline]) });
  await writeJobResult(resultDir, {
    id: job.id,
    name: job.name,
    ...final,
    summary,
    startedAt: new Date(started).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    nodes: nodeConfigs.map((n) => n.name),
    artifacts: outcome?.artifacts ?? [],
    report: outcome?.report,
    seed: live.seed,
    timeline: live.timeline,
  });
  await consoleFile.close();
  // The end's record must not outlive, through a power cut, the results it says are there (the
  // sample log, reports, result.json): they may be only in the page cache. The clone (`src`) is
  // the project, not a result.
  await syncTree(resultDir, new Set(['src'])).catch((e: unknown) => log(`cannot force the job's results to disk (${fsReason(e) ?? String(e)}): a power cut may lose them`, { level: 'warn' }));
  await recordFinish(core, job.id, claim, nodeConfigs, final, log);
  if (config) await notifyJobEnd(core, job.id, config, { summary, resultDir, report: outcome?.report });
}

/**
 * A job that could not write its files for want of room before its load: a worker (or the control
 * center) puts it back in the queue and holds its starts, else it would fail every queued job
 * within a second. A `--ci` run fails it: it owes an exit code, not a wait for a disk.
 */
function roomOutcome(core: EngineCore, error: unknown, loadStarted: boolean): JobOutcome | undefined {
  if (loadStarted || !isDiskFull(error) || core.options.run !== 'all') return undefined;
  const { code, path: file } = error as NodeJS.ErrnoException;
  const why = `the state dir ${core.state.root} is full (${code} writing ${file})`;
  core.stateDirFull(why);
  return { status: 'interrupted', failure: 'infrastructure', reason: `${why}: put back in the queue`, requeue: true };
}

/**
 * The config snapshotted at enqueue, resolved against the project directory, with the
 * `${MARTEAU_...}` values known so far (job, then services, then proxies).
 */
async function snapshotConfig(core: EngineCore, job: Readonly<Job>, vars: Vars): Promise<MarteauConfig> {
  const dir = core.state.jobDir(job.id);
  const kit = await core.kit();
  const src = kit.m.parseYaml(job.source.configFile, await core.files.configText(job.id));
  return kit.m.parseMarteauConfig(
    src,
    job.source.dir,
    { runners: kit.runners, behaviors: await kit.m.withPlugins(src, kit.behaviors), readProjectFile: () => readFileSync(path.join(dir, CHAOS_SNAPSHOT), 'utf8'), seed: core.live.get(job.id)?.seed },
    vars,
  );
}

/**
 * A proxy's listen: that is the file's mistake (an address this machine does not have, a name
 * that does not resolve, a port below 1024 without root) as a config error at that listen: (exit
 * 2). A port in use is not: another process holds it, which the file cannot know (exit 3).
 */
async function listenConfigError(core: EngineCore, job: Readonly<Job>, e: unknown): Promise<unknown> {
  if (!(e instanceof ListenError) || e.code === 'EADDRINUSE') return e;
  const words = listenMistake(e.address, e.code);
  if (!words) return e;
  const { m } = await core.kit();
  const src = m.parseYaml(job.source.configFile, await core.files.configText(job.id));
  return m.errorAt(src, ['proxies', e.proxy, 'listen'], words);
}

/** The control APIs over a job's proxies, when its config has `api:` (loopback only: no token here). */
async function startJobApi(core: EngineCore, config: MarteauConfig, proxies: ProxySet, routes: Route[], onError: (m: string) => void): Promise<ApiServer | undefined> {
  if (!config.api) return undefined;
  const { m } = await core.kit();
  const [host, port] = m.splitHostPort(config.api.listen);
  const control = new m.Control(proxies, new Map(config.behaviors), { vaurienProxy: config.api.vaurienProxy });
  try {
    return await m.startApiServer({ control, host, port, version: await m.packageVersion(), routes, onError });
  } catch (e) {
    const why = e instanceof m.ApiConfigError ? e.message : `cannot listen on ${config.api.listen} (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
    throw new ConfigError(config.file, undefined, undefined, `api: ${why}`, 'bind the API to 127.0.0.1 on a free port');
  }
}

/**
 * The control API over a job's proxies that control centers beside this process use (their
 * presence says where): on loopback, a free port, the token of the presence. Without it the job
 * runs all the same; its proxies are only not seen from there.
 */
async function shareJobApi(core: EngineCore, proxies: ProxySet, registry: Map<string, Behavior>, routes: Route[], warn: (m: string) => void): Promise<ApiServer | undefined> {
  if (!core.presence || !proxies.proxies.size) return undefined;
  const { m } = await core.kit();
  try {
    return await m.startApiServer({ control: new m.Control(proxies, registry), host: '127.0.0.1', port: 0, token: core.presence.token, version: await m.packageVersion(), routes, onError: warn });
  } catch (e) {
    warn(`cannot share this job's proxies with the control centers beside this process (${(e as Error).message}): their counts and mixes are shown only here`);
    return undefined;
  }
}

/** The job's settings a test command may want, next to the addresses (MARTEAU_PROXY_*, ...). */
function jobEnv(config: MarteauConfig): Record<string, string> {
  const env: Record<string, string> = {};
  if (config.cycles) env.MARTEAU_CYCLES = config.cycles.join(':');
  if (config.durationMs !== undefined) env.MARTEAU_DURATION = String(config.durationMs / 1000);
  return env;
}


/**
 * What `marteau-tui replay` needs to find this job: `--state-dir DIR` when the journal is not in
 * the default state dir (the demo's, a --ci run's own), where the command as printed answered
 * 'no job ... in the queue'. A team queue is found without it.
 */
function replayFlags(core: EngineCore): string {
  // A shared queue has a label (queue-types.ts), as enqueue and whoRuns read it.
  return core.queue.label !== undefined ? '' : stateDirFlag(core.state.root);
}
