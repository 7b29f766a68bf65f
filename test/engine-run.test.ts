/**
 * The engine in-process with the command runner on this machine: the job lifecycle and its
 * events and snapshots, fixtures on a real proxy (restored on success, failure and cancel),
 * webhook notification, timeouts, cancel from another engine, jobs that cannot be placed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { EngineEvent, TimelineEvent } from '../src/core/events.js';
import { groupAlive } from '../src/core/owner.js';
import { startEchoServer } from './helpers/echo.js';
import { freePort } from './helpers/net.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';

afterAll(removeTemp);

const node = process.execPath;
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

async function engine(o: Partial<ConstructorParameters<typeof Engine>[0]> = {}): Promise<Engine> {
  const e = new Engine({ runners: loadRunners, stateDir: o.stateDir ?? (await stateDir()), nodes: localNodes(2), run: 'all', ...o });
  engines.push(e);
  await e.start();
  return e;
}

function record(e: Engine): EngineEvent[] {
  const events: EngineEvent[] = [];
  e.events.on('*', (x) => events.push(x));
  return events;
}

async function until<T>(fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('engine: a command job on this machine', () => {
  it('runs it: events in order, live snapshot, results on disk', async () => {
    const dir = await project(`name: hello\n${commandYaml([node, '-e', 'console.log("hi from " + process.env.MARTEAU_NODE); console.error("warn"); console.log(process.env.GREETING)'])}\nenv: {GREETING: bonjour}\n`);
    const e = await engine();
    const events = record(e);
    const snapshots = new Set<unknown>();
    e.subscribe(() => snapshots.add(e.getSnapshot()));
    const before = e.getSnapshot();
    expect(e.getSnapshot()).toBe(before); // same identity while nothing changes
    const job = await e.enqueue(dir);
    const [done] = await e.waitFor([job.id]);
    expect(done).toMatchObject({ status: 'succeeded', exitCode: 0, nodesTaken: ['local'] });
    expect(e.getSnapshot()).not.toBe(before);
    expect(snapshots.size).toBeGreaterThan(2);
    expect(Object.isFrozen(e.getSnapshot().jobs)).toBe(true);
    const types = events.filter((x) => 'job' in x || ('jobId' in x && x.jobId === job.id)).map((x) => x.type);
    expect(types[0]).toBe('job.enqueued');
    expect(types.indexOf('job.started')).toBeLessThan(types.indexOf('log.line'));
    expect(types[types.length - 1]).toBe('job.finished');
    const lines = events.flatMap((x) => (x.type === 'log.line' && x.stream !== 'engine' ? [`${x.node} ${x.stream} ${x.line}`] : []));
    // Two pipes: order is kept within a stream, not across them.
    expect(lines.filter((l) => l.includes('stdout'))).toEqual(['local stdout hi from local', 'local stdout bonjour']);
    expect(lines.filter((l) => l.includes('stderr'))).toEqual(['local stderr warn']);
    const finished = events.find((x) => x.type === 'job.finished');
    expect(finished).toMatchObject({ summary: expect.stringMatching(/^succeeded in .* \(1 node, exit 0\)$/), resultDir: e.resultDir(job.id) });
    const result = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'result.json'), 'utf8'));
    expect(result).toMatchObject({ id: job.id, status: 'succeeded', nodes: ['local'] });
    expect(await readFile(path.join(e.resultDir(job.id), 'console.log'), 'utf8')).toMatch(/local stdout hi from local\n/);
  });

  it('a non-zero exit fails the job as a test failure', async () => {
    const e = await engine();
    const [done] = await e.waitFor([(await e.enqueue(await project(`${commandYaml([node, '-e', 'process.exit(4)'])}\n`))).id]);
    expect(done).toMatchObject({ status: 'failed', failure: 'test', exitCode: 4, reason: 'node "local": exit 4' });
  });

  it('a program that fails at once says why in the job\'s reason: its last line on stderr', async () => {
    const e = await engine();
    // The queue row and the message read 'node "local": exit 3', the why only in the output.
    const script = "console.error('connecting to 127.0.0.1:1'); console.log('working'); console.error('boom: cannot connect to the db at 127.0.0.1:1'); process.exit(3)";
    const [done] = await e.waitFor([(await e.enqueue(await project(`${commandYaml([node, '-e', script])}\n`))).id]);
    expect(done).toMatchObject({ status: 'failed', failure: 'test', exitCode: 3, reason: 'node "local": exit 3: boom: cannot connect to the db at 127.0.0.1:1' });
  });

  it('times out: failed with the reason, the process group killed', async () => {
    const e = await engine();
    const events = record(e);
    const job = await e.enqueue(await project(`${commandYaml(['sh', '-c', 'sleep 30 & sleep 30'])}\ntimeout: 500ms\n`));
    const [done] = await e.waitFor([job.id]);
    expect(done).toMatchObject({ status: 'failed', failure: 'test', reason: 'timed out after 500ms (timeout:)' });
    expect(events.some((x) => x.type === 'job.finished')).toBe(true);
    // The node's line says why it was stopped: the timeout, not a cancel.
    const lines = events.flatMap((x) => (x.type === 'log.line' && x.stream === 'engine' ? [x.line] : []));
    expect(lines).toContain("stopped: by the job's timeout:");
    for (const p of done.procs) await until(() => !groupAlive(p.pgid) || undefined, 4000);
  });

  it('cancel from another engine on the same state dir stops the running job', async () => {
    const dir = await stateDir();
    const runner = await engine({ stateDir: dir });
    const job = await runner.enqueue(await project(`${commandYaml(['sh', '-c', 'echo started; sleep 30'])}\n`));
    await until(() => runner.getSnapshot().jobs.find((j) => j.id === job.id)?.lines?.some((l) => l.line === 'started'));
    const other = await engine({ stateDir: dir, run: 'none' });
    const asked = await other.cancel(job.id.slice(0, 8));
    // A request to the engine running it (which may already have acted by the time we read back).
    expect(asked.cancelRequested).toBe(true);
    expect(['running', 'cancelled']).toContain(asked.status);
    const [done] = await runner.waitFor([job.id]);
    expect(done).toMatchObject({ status: 'cancelled' });
    for (const p of done.procs) await until(() => !groupAlive(p.pgid) || undefined, 4000);
    await other.queue.sync();
    expect(other.queue.get(job.id)!.status).toBe('cancelled');
  });

  it('a job needing more nodes than exist fails at once as an infrastructure error', async () => {
    const e = await engine();
    const [done] = await e.waitFor([(await e.enqueue(await project(`${commandYaml(['true'])}\nnodes: 3\n`))).id]);
    expect(done).toMatchObject({ status: 'failed', failure: 'infrastructure' });
    expect(done.reason).toBe('needs 3 nodes but only 1 is enabled ((test nodes))');
  });

  it('a disabled node takes no job: the job waits, says why once, and runs when the node is enabled again', async () => {
    const e = await engine({ nodes: localNodes(1), nodeWaitMs: undefined });
    const events = record(e);
    await e.setNodeEnabled('local', false);
    const job = await e.enqueue(await project(`${commandYaml(['true'])}\n`));
    await new Promise((r) => setTimeout(r, 300));
    // Disabled is for a while (as a cordoned node): the job is left queued, not failed.
    expect(e.queue.get(job.id)!.status).toBe('queued');
    const said = events.flatMap((x) => (x.type === 'log.line' && /leaves job/.test(x.line) ? [x.line] : []));
    expect(said).toEqual([`leaves job ${job.id.slice(0, 8)} queued: needs 1 node and local is disabled (marteau-tui nodes --enable local)`]);
    await e.setNodeEnabled('local', true);
    expect((await e.waitFor([job.id]))[0].status).toBe('succeeded');
  });

  it('a job waiting for a busy node says so in its log, once, and runs when the node is free', async () => {
    const e = await engine({ nodes: localNodes(1), nodeWaitMs: undefined });
    const events = record(e);
    const first = await e.enqueue(await project(`${commandYaml([node, '-e', 'setTimeout(() => {}, 1500)'])}\n`));
    const second = await e.enqueue(await project(`${commandYaml(['true'])}\n`));
    const done = await e.waitFor([first.id, second.id]);
    expect(done.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
    const said = (id: string) => events.flatMap((x) => (x.type === 'log.line' && x.jobId === id && /waits for/.test(x.line) ? [x.line] : []));
    expect(said(second.id)).toEqual(['waits for 1 free node: local busy 1/1']);
    expect(said(first.id)).toEqual([]);
  });

  it('--ci: a job whose only node is disabled fails after the node wait, saying the node is disabled', async () => {
    const e = await engine({ nodes: localNodes(1), nodeWaitMs: 1000 });
    await e.setNodeEnabled('local', false);
    const [done] = await e.waitFor([(await e.enqueue(await project(`${commandYaml(['true'])}\n`))).id]);
    expect(done).toMatchObject({ status: 'failed', failure: 'infrastructure', reason: 'waited 1s for 1 free node: local disabled' });
  });

  it('stopped while a job is being claimed: the job starts, is stopped with the engine, and its end is recorded', async () => {
    const state = await stateDir();
    const e = new Engine({ runners: loadRunners, stateDir: state, nodes: localNodes(1), run: 'all' });
    await e.start();
    const events = record(e);
    // A claim whose answer is slow to come back (a shared queue over a loaded link).
    const claimFirst = e.queue.claimFirst.bind(e.queue);
    e.queue.claimFirst = async (...a) => {
      const got = await claimFirst(...a);
      await new Promise((r) => setTimeout(r, 300));
      return got;
    };
    const job = await e.enqueue(await project(`${commandYaml(['sleep', '30'])}\n`));
    await until(() => e.queue.get(job.id)?.status === 'running' || undefined);
    // Claimed in the queue, not yet started here: a worker --drain must not take this for idle.
    expect(e.busy()).toBe(true);
    await e.stop();
    expect(e.busy()).toBe(false);
    expect(events.filter((x) => x.type === 'log.line' && x.level === 'error').map((x) => x.type === 'log.line' && x.line)).toEqual([]);
    const after = await engine({ stateDir: state, run: 'none' });
    expect(after.queue.get(job.id)).toMatchObject({ status: 'interrupted', reason: 'the engine was stopped during the run' });
  });

  it('max_jobs: jobs beyond the node capacity wait for it', async () => {
    const e = await engine({ nodes: localNodes(1) });
    const dir = await project(`${commandYaml([node, '-e', 'setTimeout(() => {}, 300)'])}\n`);
    const a = await e.enqueue(dir);
    const b = await e.enqueue(dir);
    const [ja, jb] = await e.waitFor([a.id, b.id]);
    expect([ja.status, jb.status]).toEqual(['succeeded', 'succeeded']);
    // b waited for a's end (polling for a's `running` could miss a short run on a loaded machine).
    expect(jb.startedAt!).toBeGreaterThanOrEqual(ja.endedAt!);
  });
});

describe('engine: fixtures on a real proxy', () => {
  const fixtureProject = async (script: string, extra = '', duringFor = '300ms') => {
    const echo = await startEchoServer();
    const dir = await project(`name: chaos
${commandYaml([node, '-e', script])}
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp, behaviors: "5:delay"}
fixtures:
  around: {proxy: db, behaviors: "10:error"}
  during: {proxy: db, behaviors: {blackout: 100}, at: 200ms, for: ${duringFor}}
  never: {proxy: db, behaviors: "1:hang", at: 60s}
${extra}`);
    return { dir, close: () => echo.close() };
  };
  const mixes = (t: readonly TimelineEvent[]) => t.map((x) => `${x.fixture} ${x.action} ${x.mix}`);

  it('applies and restores in order, with timestamps, and exports the proxy address', async () => {
    const p = await fixtureProject('console.log(process.env.MARTEAU_PROXY_DB); setTimeout(() => {}, 900)');
    const e = await engine();
    const job = await e.enqueue(p.dir);
    const [done] = await e.waitFor([job.id]);
    expect(done.status).toBe('succeeded');
    const timeline: TimelineEvent[] = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'timeline.json'), 'utf8'));
    expect(mixes(timeline)).toEqual([
      'around apply 10:error',
      'during apply 100:blackout',
      'during restore 10:error',
      'around restore 5:delay',
    ]);
    const t = timeline.map((x) => x.at);
    // The schedule's times count from the load's start (after `around` applied): a late apply
    // shortens the window, the restore is never before at + for.
    expect(t[2] - t[0]).toBeGreaterThanOrEqual(500);
    expect(t[2] - t[1]).toBeGreaterThan(0);
    expect(t[2] - t[1]).toBeLessThan(1500);
    expect(JSON.parse(await readFile(path.join(e.resultDir(job.id), 'result.json'), 'utf8')).timeline).toHaveLength(4);
    const lines = e.getSnapshot().jobs.find((j) => j.id === job.id);
    expect(lines).toBeDefined();
    await p.close();
  });

  it('restores the previous mix when the command fails during a fixture', async () => {
    const p = await fixtureProject('setTimeout(() => process.exit(2), 350)');
    const e = await engine();
    const job = await e.enqueue(p.dir);
    const [done] = await e.waitFor([job.id]);
    expect(done.status).toBe('failed');
    const timeline: TimelineEvent[] = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'timeline.json'), 'utf8'));
    // Whether `during` ended before the command's exit was seen, the end of the run gives the
    // proxy its own mix back.
    const seen = mixes(timeline);
    expect(seen.slice(0, 2)).toEqual(['around apply 10:error', 'during apply 100:blackout']);
    expect(seen.at(-1)).toMatch(/^(during|around) restore 5:delay$/);
    await p.close();
  });

  it('a mix set by hand is recorded and pauses the schedule: nothing overwrites it, even at the end', async () => {
    // `during` lasts long enough that the hand-set mix surely comes while it is in force.
    const p = await fixtureProject('console.log("up"); setTimeout(() => {}, 30000)', '', '20s');
    const e = await engine();
    const job = await e.enqueue(p.dir);
    await until(() => e.getSnapshot().jobs.find((j) => j.id === job.id)?.timeline?.length === 2 || undefined);
    expect(await e.setMix('db', '7:delay')).toBe('7:delay');
    await e.cancel(job.id);
    const [done] = await e.waitFor([job.id]);
    expect(done.status).toBe('cancelled');
    const timeline: TimelineEvent[] = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'timeline.json'), 'utf8'));
    // The proxy is paused by hand while `during` is in force; the end of the run (here a
    // cancel) does not restore over the hand-set mix.
    expect(mixes(timeline)).toEqual(['around apply 10:error', 'during apply 100:blackout', 'manual manual 7:delay']);
    expect(timeline[2].source).toBe('manual');
    await p.close();
  });
});

describe('engine: notification', () => {
  it('POSTs a JSON summary to the webhook', async () => {
    const got: unknown[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        got.push({ method: req.method, type: req.headers['content-type'], body: JSON.parse(body) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const e = await engine();
    const job = await e.enqueue(await project(`name: hooked\n${commandYaml(['true'])}\nnotify: {webhook: "http://127.0.0.1:${port}/hook/SECRET"}\n`));
    await e.waitFor([job.id]);
    await until(() => got.length || undefined);
    expect(got[0]).toMatchObject({
      method: 'POST',
      type: 'application/json',
      body: { event: 'job.finished', job: { id: job.id, name: 'hooked', status: 'succeeded', nodes: ['local'] }, result_dir: e.resultDir(job.id) },
    });
    const body = (got[0] as { body: { job: Record<string, unknown> } }).body.job;
    expect(typeof body.duration_ms).toBe('number');
    expect(typeof body.wait_ms).toBe('number');
    server.close();
  });

  it('a failing webhook is logged (without its secret path) and does not fail the job', async () => {
    const server = http.createServer((_, res) => { res.statusCode = 500; res.end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const e = await engine();
    const events = record(e);
    const job = await e.enqueue(await project(`${commandYaml(['true'])}\nnotify: {webhook: "http://127.0.0.1:${port}/hook/SECRET"}\n`));
    const [done] = await e.waitFor([job.id]);
    expect(done.status).toBe('succeeded');
    const warn = await until(() => events.find((x) => x.type === 'log.line' && x.level === 'warn' && x.line.includes('webhook')));
    expect(warn).toMatchObject({ line: `webhook http://127.0.0.1:${port}/… answered HTTP 500` });
    expect(JSON.stringify(events)).not.toContain('SECRET');
    server.close();
  });
});

describe('engine: sources and hostile names', () => {
  it('enqueues from a git URL: cloned into the job directory at a recorded commit', async () => {
    const { execFileSync } = await import('node:child_process');
    const repo = await project(`name: from-git\n${commandYaml([node, '-e', 'console.log(require("fs").readFileSync("VERSION", "utf8").trim())'])}\n`, { VERSION: 'v1\n' });
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], { cwd: repo }).toString().trim();
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'v1');
    const v1 = git('rev-parse', 'HEAD');
    git('tag', 'first');
    const { writeFile } = await import('node:fs/promises');
    // A branch that is not the default: in a clone it exists only as origin/feature.
    git('checkout', '-q', '-b', 'feature');
    await writeFile(path.join(repo, 'VERSION'), 'feature\n');
    git('commit', '-q', '-am', 'feature');
    git('checkout', '-q', 'main');
    await writeFile(path.join(repo, 'VERSION'), 'v2\n');
    git('commit', '-q', '-am', 'v2');
    const e = await engine();
    const events = record(e);
    const head = await e.enqueue(`file://${repo}`);
    const tagged = await e.enqueue(`file://${repo}#first`);
    const branch = await e.enqueue(`file://${repo}#feature`);
    const bySha = await e.enqueue(`file://${repo}#${v1}`);
    expect(branch.source).toMatchObject({ ref: 'feature', commit: git('rev-parse', 'feature') });
    expect(bySha.source).toMatchObject({ commit: v1 });
    await expect(e.enqueue(`file://${repo}#nope`)).rejects.toThrow('git ref "nope" is not a branch, tag or commit of the repository');
    expect(head.source).toMatchObject({ kind: 'git', url: `file://${repo}`, commit: git('rev-parse', 'HEAD') });
    expect(tagged.source).toMatchObject({ kind: 'git', ref: 'first', commit: v1 });
    expect(tagged.source.dir).toBe(path.join(e.resultDir(tagged.id), 'src'));
    const done = await e.waitFor([head.id, tagged.id, branch.id, bySha.id]);
    expect(done.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const out = (id: string) => events.flatMap((x) => (x.type === 'log.line' && x.jobId === id && x.stream === 'stdout' ? [x.line] : []));
    expect(out(head.id)).toEqual(['v2']);
    expect(out(tagged.id)).toEqual(['v1']);
    expect(out(branch.id)).toEqual(['feature']);
    expect(out(bySha.id)).toEqual(['v1']);
    // It said only git's advice: 'git clone failed: Please make sure you have the correct access rights and the repository exists.'
    await expect(e.enqueue(`file://${repo}-missing`)).rejects.toThrow(`git clone failed: fatal: '${repo}-missing' does not appear to be a git repository fatal: Could not read from remote repository.`);
  });

  it('names a git project without name: after its repository, not after the clone (src)', async () => {
    const { execFileSync } = await import('node:child_process');
    const repo = await project(`${commandYaml([node, '-e', 'console.log(process.env.MARTEAU_JOB_NAME)'])}\n`, {}, 'shop.git');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], { cwd: repo });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'v1');
    const e = await engine();
    const events = record(e);
    const job = await e.enqueue(`file://${repo}`);
    expect(job.name).toBe('shop');
    const [done] = await e.waitFor([job.id]);
    expect(done.status).toBe('succeeded');
    expect(events.flatMap((x) => (x.type === 'log.line' && x.stream === 'stdout' ? [x.line] : []))).toEqual(['shop']);
  });

  it('leaves no job directory without a journal record: a failed enqueue removes its own, start removes old orphans', async () => {
    const { mkdir, readdir, utimes, writeFile } = await import('node:fs/promises');
    const dir = await stateDir();
    const jobs = path.join(dir, 'jobs');
    const make = async (id: string, files: string[], ageMs: number) => {
      await mkdir(path.join(jobs, id), { recursive: true });
      for (const f of files) await writeFile(path.join(jobs, id, f), 'x');
      const t = (Date.now() - ageMs) / 1000;
      await utimes(path.join(jobs, id), t, t);
    };
    await make('0aaaaaaaaaaa', ['marteau.yml'], 3_600_000); // killed between config and record: removed
    await make('0bbbbbbbbbbb', ['marteau.yml'], 0); // maybe another process enqueueing right now: kept
    await make('0ccccccccccc', ['marteau.yml', 'console.log'], 3_600_000); // output of a run: kept
    const e = await engine({ stateDir: dir });
    expect((await readdir(jobs)).sort()).toEqual(['0bbbbbbbbbbb', '0ccccccccccc']);
    const bad = await project('name: x\ncommand: echo\nnodes: zero\n');
    await expect(e.enqueue(bad)).rejects.toThrow(/nodes/);
    await expect(e.enqueue(`file://${bad}-missing`)).rejects.toThrow(/git clone failed/);
    expect((await readdir(jobs)).sort()).toEqual(['0bbbbbbbbbbb', '0ccccccccccc']);
  });

  it('a hostile project path, job name and env value reach the command as plain text', async () => {
    const name = "shop $(touch PWNED6) `id` 'q' \"dq\"\nsecond line";
    const value = "$(touch PWNED7); rm -rf /nonexistent 'x'";
    const dir = await project(
      `name: ${JSON.stringify(name)}\n${commandYaml([node, '-e', 'console.log(JSON.stringify([process.env.MARTEAU_JOB_NAME, process.env.EVIL, process.cwd()]))'])}\nenv: {EVIL: ${JSON.stringify(value)}}\n`,
      {},
      "we'ird $(touch PWNED8) dir",
    );
    const e = await engine();
    const events = record(e);
    const job = await e.enqueue(dir);
    expect(job.name).toBe(name);
    const [done] = await e.waitFor([job.id]);
    expect(done.status).toBe('succeeded');
    const line = events.find((x) => x.type === 'log.line' && x.stream === 'stdout');
    expect(JSON.parse((line as { line: string }).line)).toEqual([name, value, dir]);
    const { readdir } = await import('node:fs/promises');
    for (const d of [dir, path.dirname(dir), process.cwd()]) expect((await readdir(d)).filter((f) => f.startsWith('PWNED'))).toEqual([]);
  });
});

describe('engine: the control API over a job\'s proxies (`api:` in .marteau.yml)', () => {
  it('serves the Toxiproxy routes while the job runs, and stops with it', async () => {
    const echo = await startEchoServer();
    const port = await freePort();
    // The job itself asks the API what runs, as a test script driving the proxy would.
    const script = `fetch("http://127.0.0.1:${port}/proxies").then((r) => r.json()).then((j) => console.log("API " + Object.keys(j).join(",") + " " + j.db.upstream))`;
    const dir = await project(`name: api
${commandYaml([node, '-e', script])}
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
api: {listen: "127.0.0.1:${port}"}
`);
    const e = await engine();
    const events = record(e);
    const [done] = await e.waitFor([(await e.enqueue(dir)).id]);
    expect(done.status).toBe('succeeded');
    const lines = events.flatMap((x) => (x.type === 'log.line' ? [x.line] : []));
    expect(lines).toContain(`API db 127.0.0.1:${echo.port}`);
    expect(lines.some((l) => l.startsWith(`api listening on http://127.0.0.1:${port}`))).toBe(true);
    await expect(fetch(`http://127.0.0.1:${port}/version`)).rejects.toThrow();
    await echo.close();
  });

  it('a mix set through the API is a change by hand: recorded as manual, it pauses the chaos scenario', async () => {
    const echo = await startEchoServer();
    const port = await freePort();
    // The job sets a mix through the native API while a 60 s chaos step is in force.
    const script = `fetch("http://127.0.0.1:${port}/marteau/proxies/db/mix", {method: "PUT", headers: {"content-type": "application/json"}, body: JSON.stringify({mix: "7:delay"})}).then((r) => console.log("PUT " + r.status))`;
    const dir = await project(`name: api-manual
${commandYaml([node, '-e', `setTimeout(() => { ${script} }, 300)`])}
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
api: {listen: "127.0.0.1:${port}"}
timeout: 2m
chaos:
  - {name: slow, proxy: db, at: 0s, for: 60s, behaviors: "50:delay"}
`);
    const e = await engine();
    const events = record(e);
    const job = await e.enqueue(dir);
    await e.waitFor([job.id]);
    expect(events.flatMap((x) => (x.type === 'log.line' ? [x.line] : []))).toContain('PUT 200');
    const timeline: TimelineEvent[] = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'timeline.json'), 'utf8'));
    // No restore at the end: the scenario was paused by the change by hand.
    expect(timeline.map((x) => `${x.fixture} ${x.action} ${x.mix}`)).toEqual(['slow apply 50:delay', 'manual manual 7:delay']);
    await echo.close();
  });

  it('PUT /marteau/proxies/{proxy}/scenario pauses and resumes the chaos scenario a change by hand paused', async () => {
    const echo = await startEchoServer();
    const port = await freePort();
    // In turn: a bad body, an unknown proxy, one with no scenario, a change by hand, then resume.
    const put = (route: string, body: unknown) => `await fetch("http://127.0.0.1:${port}/marteau/proxies/${route}", {method: "PUT", headers: {"content-type": "application/json"}, body: ${JSON.stringify(JSON.stringify(body))}}).then(async (r) => console.log("PUT ${route} " + r.status + " " + JSON.stringify(await r.json())))`;
    const steps = [put('db/scenario', { paused: 'yes' }), put('nope/scenario', { paused: true }), put('cache/scenario', { paused: true }), put('db/mix', { mix: '7:delay' }), put('db/scenario', { paused: false })];
    const dir = await project(`name: api-scenario
${commandYaml([node, '-e', `setTimeout(async () => { ${steps.join('; ')} }, 300)`])}
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
  cache: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
api: {listen: "127.0.0.1:${port}"}
timeout: 2m
chaos:
  - {name: slow, proxy: db, at: 0s, for: 60s, behaviors: "50:delay"}
`);
    const e = await engine();
    const events = record(e);
    const job = await e.enqueue(dir);
    await e.waitFor([job.id]);
    const said = events.flatMap((x) => (x.type === 'log.line' && x.line.startsWith('PUT ') ? [x.line] : []));
    expect(said.map((l) => l.replace(/ \{.*/, ''))).toEqual(['PUT db/scenario 400', 'PUT nope/scenario 404', 'PUT cache/scenario 409', 'PUT db/mix 200', 'PUT db/scenario 200']);
    expect(said[0]).toContain('give {\\"paused\\": true} or {\\"paused\\": false}');
    expect(said[2]).toContain('proxy \\"cache\\" has no chaos scenario');
    expect(JSON.parse(said[4].slice('PUT db/scenario 200 '.length))).toMatchObject({ proxy: 'db', paused: false, manual: false, current: { entry: 'slow' } });
    const timeline: TimelineEvent[] = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'timeline.json'), 'utf8'));
    expect(timeline.map((x) => `${x.fixture} ${x.action} ${x.mix}`).slice(0, 3)).toEqual(['slow apply 50:delay', 'manual manual 7:delay', 'slow apply 50:delay']);
    await echo.close();
  });

  it('GET /marteau lists every route the job\'s API serves under /marteau, and each one answers', async () => {
    const echo = await startEchoServer();
    const port = await freePort();
    // The job walks the index: each route called as listed ({proxy}: db; a PUT with an empty body).
    // An event stream is left once its headers came.
    const walk = `const base = "http://127.0.0.1:${port}";
      const index = await (await fetch(base + "/marteau")).json();
      for (const route of index.routes) {
        const [method, target] = route.split(" ");
        const stop = new AbortController();
        const r = await fetch(base + target.replace("{proxy}", "db"), {method, signal: stop.signal, headers: {"content-type": "application/json"}, body: method === "PUT" ? "{}" : undefined});
        const text = (r.headers.get("content-type") ?? "").startsWith("text/event-stream") ? "(events)" : await r.text();
        stop.abort();
        console.log("ROUTE " + route + " " + r.status + " " + text.replace(/\\s+/g, " ").slice(0, 100));
      }`;
    const dir = await project(`name: api-index
${commandYaml([node, '-e', `(async () => { ${walk} })()`])}
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
api: {listen: "127.0.0.1:${port}"}
timeout: 2m
chaos:
  - {name: slow, proxy: db, at: 0s, for: 60s, behaviors: "50:delay"}
`);
    const e = await engine();
    const events = record(e);
    const [done] = await e.waitFor([(await e.enqueue(dir)).id]);
    expect(done.status).toBe('succeeded');
    const said = events.flatMap((x) => (x.type === 'log.line' && x.line.startsWith('ROUTE ') ? [x.line.slice('ROUTE '.length)] : []));
    const routes = said.map((l) => l.split(' ').slice(0, 2).join(' '));
    // README's table, route by route; the scenario route is the job's (core/scenario-route.ts).
    expect(routes).toEqual(expect.arrayContaining([
      'GET /marteau', 'GET /marteau/proxies', 'GET /marteau/proxies/{proxy}', 'PUT /marteau/proxies/{proxy}/mix', 'GET /marteau/stats',
      'GET /marteau/proxies/{proxy}/stats', 'GET /marteau/behaviors', 'GET /marteau/events?proxy=&types=&stats=', 'PUT /marteau/proxies/{proxy}/scenario',
    ]));
    for (const line of said) {
      const [, status, text] = /^\S+ \S+ (\d+) (.*)$/.exec(line)!;
      // Served: not the router's 'no route' nor 'not allowed', whatever the handler made of the call.
      expect(text, line).not.toMatch(/no route|not allowed/);
      expect(['200', '400'], line).toContain(status);
    }
    await echo.close();
  });
});
