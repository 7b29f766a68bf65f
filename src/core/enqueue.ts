/**
 * Putting a job in the queue: a project's config checked and snapshotted (so the config as
 * enqueued is what runs), or a finished job's snapshot copied to run again (retry, replay).
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { MarteauConfig } from '../config/marteau.js';
import { syncTree } from '../fs/durable.js';
import type { EngineCore } from './engine-types.js';
import { CHAOS_SNAPSHOT, CONFIG_SNAPSHOT, SEED_FILE, SNAPSHOT_FILES } from './job-files.js';
import { isTerminal, type Job, type JobSource, type JobSpec } from './jobs.js';
import { newJobId, QueueError, short } from './queue.js';

export interface EnqueueOptions {
  origin?: string;
  runHere?: boolean;
  /** Rewrites the config text before it is checked and kept (a command's own settings). */
  edit?: (text: string) => string;
  /** Told what in the config is valid but will likely mislead (a fault too close to the load's end). */
  warn?: (message: string) => void;
}

export interface RequeueOptions {
  runHere?: boolean;
  /** Who asks (as for enqueue); a `--ci` run's origin is never inherited. */
  origin?: string;
}

/** Validate a project's config and queue it. `target`: a directory, a config file or a git URL. */
export async function enqueue(core: EngineCore, target: string, o: EnqueueOptions = {}): Promise<Readonly<Job>> {
  mayWrite(core);
  return commit(core, await prepare(core, target, o), o);
}

/** Said before a job directory is made: its mkdir would fail with a bare EROFS. */
function mayWrite(core: EngineCore): void {
  const readOnly = core.queue.readOnly?.();
  if (readOnly) throw new QueueError(readOnly);
}

/** Targets that could not be queued, each with its error; the others were not queued either. */
export class NotQueued extends Error {
  constructor(readonly failures: readonly { target: string; error: unknown }[]) {
    super(`nothing queued: ${failures.map((f) => f.target).join(', ')} cannot be queued`);
    this.name = 'NotQueued';
  }
}

/**
 * A batch whose append failed part way (a disk full or failing, a queue offline): those before it
 * are queued, and their records, read by every process, cannot be taken back; `failure`'s target
 * and those after it are not queued. Each target is a config file (or a git URL).
 */
export class PartlyQueued extends Error {
  constructor(
    readonly queued: readonly { target: string; job: Readonly<Job> }[],
    readonly failure: { target: string; error: unknown },
    readonly untried: readonly string[],
  ) {
    super(`${failure.target}: ${(failure.error as Error).message}`);
    this.name = 'PartlyQueued';
  }
}

/**
 * Validate every target, then queue them all: one bad target queues none (a half-queued batch
 * would run its good part twice once the mistake is fixed and the batch given again). A
 * directory means each of its configs, as for `--ci` (`projectConfigFiles`). Should an append
 * fail once they are valid, PartlyQueued says which are queued.
 */
export async function enqueueAll(core: EngineCore, targets: readonly string[], o: EnqueueOptions = {}): Promise<Readonly<Job>[]> {
  mayWrite(core);
  const kit = await core.kit();
  const ready: (Prepared & { target: string })[] = [];
  const failures: { target: string; error: unknown }[] = [];
  for (const target of targets) {
    try {
      const files = kit.m.parseGitTarget(target) ? [target] : await kit.m.projectConfigFiles(path.resolve(core.options.cwd ?? process.cwd(), target));
      for (const f of files) ready.push({ ...(await prepare(core, f, o)), target: f });
    } catch (error) {
      failures.push({ target, error });
    }
  }
  if (failures.length) {
    await Promise.all(ready.map((p) => discard(core, p.id)));
    throw new NotQueued(failures);
  }
  const jobs: Readonly<Job>[] = [];
  for (const [i, p] of ready.entries()) {
    try {
      jobs.push(await commit(core, p, o));
    } catch (error) {
      // Not queued: their snapshots go now, not at a start's sweep 15 minutes later.
      const untried = ready.slice(i + 1);
      await Promise.all(untried.map((u) => discard(core, u.id)));
      if (ready.length === 1) throw error;
      throw new PartlyQueued(jobs.map((job, k) => ({ target: ready[k].target, job })), { target: p.target, error }, untried.map((u) => u.target));
    }
  }
  return jobs;
}

/** A job checked and its snapshot kept in its directory, not in the queue yet. */
interface Prepared {
  id: string;
  spec: Omit<JobSpec, 'id' | 'origin' | 'retryOf'>;
  files: Record<string, string>;
}

async function prepare(core: EngineCore, target: string, o: EnqueueOptions): Promise<Prepared> {
  const id = newJobId();
  try {
    return await prepareAs(core, id, target, o);
  } catch (e) {
    // Not queued (a bad config, a failed clone): leave no directory behind.
    await discard(core, id);
    throw e;
  }
}

async function discard(core: EngineCore, id: string): Promise<void> {
  if (!core.queue.get(id)) await rm(core.state.jobDir(id), { recursive: true, force: true }).catch(() => {});
}

async function commit(core: EngineCore, p: Prepared, o: EnqueueOptions): Promise<Readonly<Job>> {
  if (o.runHere ?? core.options.run === 'own') core.own.add(p.id);
  const job = await queued(core, p.id, () => core.queue.enqueue({ id: p.id, ...p.spec, origin: o.origin }, p.files));
  core.kick();
  return job;
}

/**
 * A new job's record appended by `append`: on failure nothing is queued and its directory goes.
 * (A record written whole whose sync failed is no failure: the job is queued and the queue says
 * so, see FileLog.append; its snapshot stays, else the job could never run.)
 */
async function queued(core: EngineCore, id: string, append: () => Promise<Readonly<Job>>): Promise<Readonly<Job>> {
  try {
    return await append();
  } catch (e) {
    await discard(core, id);
    throw e;
  }
}

async function prepareAs(core: EngineCore, id: string, target: string, o: EnqueueOptions): Promise<Prepared> {
  const jobDir = core.state.jobDir(id);
  let source: JobSource;
  let config: MarteauConfig;
  const kit = await core.kit();
  const git = kit.m.parseGitTarget(target);
  const defaultName = git && kit.m.gitProjectName(git.url);
  if (git) {
    const dir = path.join(jobDir, 'src');
    const commit = await kit.m.cloneGit(git, dir);
    // Run from the clone: on disk before the record, as the snapshot (see JobFiles.keepHere).
    await syncTree(dir);
    config = await loadConfig(core, dir, defaultName);
    source = { kind: 'git', url: git.url, ref: git.ref, commit, dir, configFile: config.file };
  } else {
    const abs = path.resolve(core.options.cwd ?? process.cwd(), target);
    config = await loadConfig(core, abs);
    source = { kind: 'dir', dir: config.projectDir, configFile: path.resolve(config.file) };
  }
  // The config as enqueued is what runs, even if the file is edited while the job waits.
  let text = await readFile(config.file, 'utf8');
  if (o.edit) {
    // A command's settings (`sweep --only ...`) go into the snapshot, so a replay has them.
    text = o.edit(text);
    const src = kit.m.parseYaml(config.file, text);
    config = kit.m.parseMarteauConfig(src, config.projectDir, { runners: kit.runners, behaviors: await kit.m.withPlugins(src, kit.behaviors), defaultName });
  }
  for (const w of kit.m.recoveryScheduleWarnings(config)) o.warn?.(`${config.name}: ${w}`);
  const files: Record<string, string> = { [CONFIG_SNAPSHOT]: text };
  if (typeof config.raw.chaos === 'string' && !config.sweep) files[CHAOS_SNAPSHOT] = await readFile(path.join(config.projectDir, config.raw.chaos), 'utf8');
  await core.files.keepHere(id, files);
  const moves = kit.runners.get(config.runner)?.movesFiles?.(config) ?? true;
  return { id, spec: { name: config.name, source, runner: config.runner, nodes: config.nodes, nodeTags: config.nodeTags, ...(moves ? {} : { files: false as const }), proxies: config.proxies.map((p) => p.name) }, files };
}

/** Run a finished job again from its config snapshot, with a new seed (unless the config sets one). */
export async function retry(core: EngineCore, idOrPrefix: string, o: RequeueOptions = {}): Promise<Readonly<Job>> {
  return requeue(core, idOrPrefix, SNAPSHOT_FILES, o);
}

/** Run a finished job again with its config snapshot and its recorded seed: the same faults for the same traffic. */
export async function replay(core: EngineCore, idOrPrefix: string, o: RequeueOptions = {}): Promise<Readonly<Job> & { seed: string }> {
  const old = core.queue.get(core.queue.resolve(idOrPrefix))!;
  const seed = await core.files.read(old.id, SEED_FILE);
  if (seed === undefined) throw new QueueError(`job ${short(old.id)} never started, so it has no seed to replay; use retry`);
  return { ...(await requeue(core, old.id, [...SNAPSHOT_FILES, SEED_FILE], o)), seed: seed.trim() };
}

async function requeue(core: EngineCore, idOrPrefix: string, files: readonly string[], o: RequeueOptions): Promise<Readonly<Job>> {
  mayWrite(core);
  const old = core.queue.get(core.queue.resolve(idOrPrefix))!;
  const id = newJobId();
  if (!isTerminal(old.status)) throw new QueueError(`job ${short(old.id)} is still ${old.status}; cancel it first or wait for it`);
  // From this terminal's state dir, else from the shared queue: the job may have run anywhere.
  const texts: Record<string, string> = {};
  for (const f of files) {
    const text = await core.files.read(old.id, f);
    if (text !== undefined) texts[f] = text;
    else if (f === CONFIG_SNAPSHOT) throw new QueueError(`job ${short(old.id)} has no config snapshot here${core.queue.label ? ` nor in ${core.queue.label}` : ''} (purged?)`);
  }
  if (o.runHere ?? core.options.run === 'own') core.own.add(id);
  const job = await queued(
    core,
    id,
    async () => {
      await core.files.keepHere(id, texts);
      // A --ci run's job is left to that run; its retry is not (that run may be long gone).
      return core.queue.retry(old.id, { id, origin: o.origin ?? (old.origin === 'ci' ? undefined : old.origin), files: texts });
    },
  );
  core.kick();
  return job;
}

async function loadConfig(core: EngineCore, target: string, defaultName?: string): Promise<MarteauConfig> {
  const kit = await core.kit();
  return kit.m.loadMarteauConfig(target, { runners: kit.runners, behaviors: kit.behaviors, defaultName });
}
