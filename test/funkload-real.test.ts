/**
 * The funkload runner with the real FunkLoad 1.17.2 (../shared/vendor, Python 2.7), through the
 * engine: on this machine and on real SSH nodes (OpenSSH on 127.0.0.x), against a real HTTP
 * server. FunkLoad found at a node's `funkload:` path or on the PATH; deps installed for its
 * Python; one fl-run-bench per node, merged; its console parsed live; our reports next to
 * FunkLoad's own (fl-build-report --html, gnuplot).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig, SshNodeConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { EngineEvent } from '../src/core/events.js';
import type { Job } from '../src/core/jobs.js';
import { groupAlive } from '../src/core/owner.js';
import { readFunkloadXml } from '../src/runners/funkload-xml.js';
import type { RunSummary } from '../src/runners/results.js';
import { PERCENTILE_PRECISION } from '../src/stats/histogram.js';
import { compareSlowest, compareWithFunkload, parseFlReport } from './helpers/fl-build-report.js';
import { funkloadSessionEnv, realFunkload, simpleConf } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { freePort } from './helpers/net.js';
import { cliDone } from './helpers/marteau-cli.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';
import { OWNER_MARKER } from '../src/exec/ssh-job-dirs.js';

const fl = realFunkload();

/** Every 4th test of a process fails (an assertion): FunkLoad's FAILURE, counted as it counts them. */
const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase
N = [0]


class Simple(FunkLoadTestCase):
    def test_simple(self):
        N[0] += 1
        self.get(self.conf_get('main', 'url') + '/home', description='Get home')
        if N[0] % 4 == 0:
            self.fail('every 4th test fails')
`;
/** Needs a dependency: it imports only where deps: were installed. */
const LOADTEST_WITH_DEP = `from funkload.FunkLoadTestCase import FunkLoadTestCase
import fl_demo_dep


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url') + fl_demo_dep.PATH)
`;
const conf = (url: string) => simpleConf(url, 2);

/** A pure-Python wheel for Python 2 and 3, built here (no index, no build backend needed to install it). */
function makeWheel(dir: string): void {
  const script = `
import base64, hashlib, sys, zipfile
out = sys.argv[1]
files = {'fl_demo_dep/__init__.py': 'PATH = "/from-dep"\\n',
         'fl_demo_dep-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: fl-demo-dep\\nVersion: 1.0\\n',
         'fl_demo_dep-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py2-none-any\\nTag: py3-none-any\\n'}
rec = []
with zipfile.ZipFile(out, 'w') as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        rec.append('%s,sha256=%s,%d' % (name, h, len(data)))
    rec.append('fl_demo_dep-1.0.dist-info/RECORD,,')
    z.writestr('fl_demo_dep-1.0.dist-info/RECORD', '\\n'.join(rec) + '\\n')
`;
  execFileSync('python3', ['-c', script, path.join(dir, 'fl_demo_dep-1.0-py2.py3-none-any.whl')]);
}

/**
 * The job's own report against the one FunkLoad built from the same files (funkload-report/):
 * every table figure (summary.json) and the slowest requests (index.html).
 */
async function expectFunkloadFigures(resultDir: string, summary: RunSummary): Promise<void> {
  const fl = parseFlReport(await readFile(path.join(resultDir, 'funkload-report', 'index.rst'), 'utf8'));
  expect(fl.requests.length).toBeGreaterThan(0);
  expect(compareWithFunkload(summary, fl, { percentile: PERCENTILE_PRECISION })).toEqual([]);
  expect(compareSlowest(await readFile(path.join(resultDir, 'index.html'), 'utf8'), fl)).toEqual([]);
}

const testResults = async (file: string) => (await readFile(file, 'utf8')).match(/<testResult /g)?.length ?? 0;
/**
 * FunkLoad writes a test's <testResult> while the test runs and counts it in its console totals
 * after it returns, each only while recording: a test ending as recording starts or stops is in
 * one and not the other (BenchRunner.py). At most one per user thread and cycle edge.
 */
const expectCountsAgree = (xml: number, console: number, threads: number) => {
  expect(Math.abs(xml - console), `${xml} <testResult> in the XML, ${console} in FunkLoad's console totals`).toBeLessThanOrEqual(threads);
};

describe.skipIf(!fl || !haveServer('sshd') || !haveServer('gnuplot'))('funkload runner with the real FunkLoad', () => {
  let dir: string;
  let user: UserKey;
  let a: Sshd;
  let b: Sshd;
  let bare: Sshd;
  /** Crashed while it builds FunkLoad's own report, after the bench. */
  let lossy: Sshd;
  let app: Awaited<ReturnType<typeof startHttpServer>>;
  const events: EngineEvent[] = [];
  const jobs: Record<string, { id: string; done: Readonly<Job>; resultDir: string; log: string[] }> = {};

  const ssh = (s: Sshd, name: string, knownHosts: string, o: Partial<SshNodeConfig>): SshNodeConfig =>
    sshNode(s, name, { identity: user.privateKey, knownHosts, workDir: path.join(dir, `remote-${name}`), ...o });

  async function flProject(head: string, extra = '', files: Record<string, string> = {}): Promise<string> {
    const p = await project(`name: simple\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1:2"\nduration: 2\n${head}${extra}`, {
      'loadtest.py': LOADTEST,
      'Simple.conf': conf(`http://127.0.0.1:${app.port}`),
      ...files,
    });
    return p;
  }

  // One engine, every job queued at once: SSH sessions and Python start slowly on a loaded machine, the jobs are independent.
  beforeAll(async () => {
    dir = await temp('funkload-real');
    user = await makeUserKey(dir);
    app = await startHttpServer();
    const env = { setEnv: funkloadSessionEnv(fl!) };
    [a, b, bare, lossy] = await Promise.all([startSshd('127.0.0.2', user, env), startSshd('127.0.0.3', user, env), startSshd('127.0.0.4', user, env), startSshd('127.0.0.5', user, env)]);
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${a.knownHostsLine}\n${b.knownHostsLine}\n${bare.knownHostsLine}\n${lossy.knownHostsLine}\n`);
    const wheels = await temp('fl-wheels');
    makeWheel(wheels);
    const projects: Record<string, string> = {
      local: await flProject('node_tags: [here]\n', 'thresholds: {success_rate: ">= 50%"}\nartifacts: [Simple.conf]\n'),
      // FunkLoad on the PATH of the job (no funkload: for node b), and a dependency installed for its Python 2.
      path: await flProject(
        'node_tags: [plain]\n',
        `deps: [fl-demo-dep]\npip_options: [--no-index, --find-links, ${JSON.stringify(wheels)}]\nenv: {PATH: ${JSON.stringify(`${fl!.bin}:/usr/bin:/bin`)}}\nthresholds: {success_rate: ">= 99%"}\n`,
        { 'loadtest.py': LOADTEST_WITH_DEP },
      ),
      status: await flProject('node_tags: [a]\n'),
      distributed: await flProject('nodes: 2\nnode_tags: [pair]\n', 'thresholds: {success_rate: ">= 50%"}\n'),
      missing: await flProject('node_tags: [bare]\n'),
      lostInReport: await flProject('node_tags: [lossy]\n', 'thresholds: {success_rate: ">= 50%"}\n'),
      noclass: await flProject('', '', { '.marteau.yml': 'name: noclass\nscript: loadtest.py\ntest: Nope.test_simple\nnode_tags: [a]\n' }),
    };
    const nodes: NodeConfig[] = [
      { type: 'local', name: 'local', maxJobs: 1, tags: ['here'], enabled: true, funkload: fl!.bin },
      ssh(a, 'a', knownHosts, { maxJobs: 4, tags: ['a', 'pair'], funkload: fl!.bin }),
      ssh(b, 'b', knownHosts, { tags: ['pair'], funkload: fl!.bin }),
      // The same machine as b without funkload:: FunkLoad must come from the PATH.
      ssh(b, 'plain', knownHosts, { tags: ['plain'] }),
      ssh(bare, 'bare', knownHosts, { tags: ['bare'], funkload: path.join(dir, 'no-funkload-here') }),
      ssh(lossy, 'lossy', knownHosts, { tags: ['lossy'], funkload: fl!.bin }),
    ];
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 5000, nodes }, run: 'all' });
    e.events.on('*', (x) => {
      events.push(x);
      // fl-build-report prints this line as it ends: the bench is over, its XML fetched and judged.
      if (x.type === 'log.line' && x.node === 'lossy' && x.line.startsWith('Creating html report')) lossy.crash();
      if (process.env.FL_DEBUG && x.type === 'log.line') process.stderr.write(`${new Date().toISOString()} ${x.jobId} ${x.node ?? ''} ${x.line}\n`);
    });
    await e.start();
    const ids: Record<string, string> = {};
    for (const [name, p] of Object.entries(projects)) ids[name] = (await e.enqueue(p)).id;
    const done = await e.waitFor(Object.values(ids));
    await e.stop();
    for (const [name, id] of Object.entries(ids)) {
      jobs[name] = {
        id,
        done: done.find((j) => j.id === id)!,
        resultDir: e.resultDir(id),
        log: events.flatMap((x) => (x.type === 'log.line' && x.jobId === id ? [`${x.node ?? '-'} ${x.stream}: ${x.line}`] : [])),
      };
    }
  }, 600_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), bare?.stop(), lossy?.stop(), app?.close()]);
    await removeTemp();
  });

  const progressOf = (id: string) => events.flatMap((x) => (x.type === 'job.progress' && x.jobId === id ? [x.progress] : []));
  /** FunkLoad's own totals (`* Success: N` ...) from a node's console in the job log. */
  const totals = (log: string[], node: string) => {
    const n = (what: string) => Number(log.find((l) => l.startsWith(`${node} stdout: * ${what}: `))?.split(': ').at(-1));
    return { success: n('Success'), failure: n('Failures'), error: n('Errors') };
  };

  it('runs on this machine from the funkload: path: live progress counts what FunkLoad counts, our reports and FunkLoad\'s own', async () => {
    const { id, done, log, resultDir } = jobs.local;
    expect(done.status, `${done.reason}\n${log.join('\n')}`).toBe('succeeded');
    expect(log).toContainEqual(expect.stringMatching(new RegExp(`^local engine: running ${fl!.bin}/fl-run-bench --cycles=1:2 --duration=2 --no-color loadtest.py Simple.test_simple$`)));
    const t = totals(log, 'local');
    expect(t.success).toBeGreaterThan(0);
    expect(t.failure).toBeGreaterThan(0);
    // The live progress ends on FunkLoad's own count (tests ending while it records), which is what the XML holds.
    const [live, last] = progressOf(id).slice(-2);
    expect(live).toMatchObject({ cycle: 1, cycles: 2, users: 2 });
    expect(live.message).toMatch(new RegExp(`^${t.success + t.failure + t.error} tests: ${t.failure} failed, ${t.error} errors`));
    expectCountsAgree(await testResults(path.join(resultDir, 'results.xml')), t.success + t.failure + t.error, 1 + 2);
    const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8'));
    // The last says the report's figures.
    const { requests, tests } = summary.overall;
    expect(last).toEqual({ cycle: 1, cycles: 2, users: 0, requests: requests.total, errors: requests.total - requests.success, message: `${tests.total} tests: ${tests.failures} failed, ${tests.errors} errors, done` });
    expect(summary.cycles.map((c: { cvus: number }) => c.cvus)).toEqual([1, 2]);
    expect(await readFile(path.join(resultDir, 'index.html'), 'utf8')).toContain('<svg');
    // FunkLoad's own HTML report, charts included (gnuplot).
    expect(readdirSync(path.join(resultDir, 'funkload-report'))).toEqual(expect.arrayContaining(['index.html', 'index.rst', 'funkload.css', 'tests.png', 'requests_rps.png']));
    await expectFunkloadFigures(resultDir, summary);
    expect(await readFile(path.join(resultDir, 'nodes', 'local', 'Simple.conf'), 'utf8')).toContain('[bench]');
    expect(existsSync(path.join(os.tmpdir(), `marteau-tui-${id}-funkload`))).toBe(false);
  });

  it('finds FunkLoad on the PATH of an SSH node and installs deps: for its Python 2', async () => {
    const { id, done, log, resultDir } = jobs.path;
    expect(done.status, `${done.reason}\n${log.join('\n')}`).toBe('succeeded');
    expect(log).toContainEqual(expect.stringMatching(/^plain stdout: Successfully installed fl-demo-dep-1\.0/));
    // The dependency's path was requested by the test: the import worked under FunkLoad.
    expect(await readFile(path.join(resultDir, 'results.xml'), 'utf8')).toContain(`url="/from-dep"`);
    expect(existsSync(path.join(dir, 'remote-plain', `${id}-funkload`))).toBe(false);
    expect(existsSync(path.join(dir, 'remote-plain', id))).toBe(false);
  });

  it("without thresholds FunkLoad's bench status decides", () => {
    const { done, log } = jobs.status;
    const t = totals(log, 'a');
    expect(done, `${done.reason}\n${log.join('\n')}`).toMatchObject({ status: 'failed', failure: 'test' });
    expect(done.reason).toBe(`FunkLoad bench status FAILURE: ${t.failure} failure(s), 0 error(s) (set thresholds: to judge the run by numbers instead)`);
  });

  it('nodes: 2 runs one fl-run-bench per node and merges them as fl-build-report does', async () => {
    const { id, done, log, resultDir } = jobs.distributed;
    expect(done.status, `${done.reason}\n${log.join('\n')}`).toBe('succeeded');
    expect([...done.nodesTaken].sort()).toEqual(['a', 'b']);
    const files = readdirSync(resultDir).filter((f) => f.startsWith('results-')).sort();
    expect(files).toEqual(['results-a.xml', 'results-b.xml']);
    // Every node ran every cycle: the merged cycles have twice the users.
    const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8'));
    expect(summary.cycles.map((c: { cvus: number }) => c.cvus)).toEqual([2, 4]);
    const both = (await testResults(path.join(resultDir, files[0]))) + (await testResults(path.join(resultDir, files[1])));
    const ta = totals(log, 'a');
    const tb = totals(log, 'b');
    const counted = ta.success + ta.failure + ta.error + tb.success + tb.failure + tb.error;
    expectCountsAgree(both, counted, 2 * (1 + 2));
    // The live progress sums the nodes: users of both, FunkLoad's counts of both (the last line is the report's).
    const live = progressOf(id).at(-2)!;
    expect(live).toMatchObject({ cycle: 1, users: 4 });
    expect(live.message).toMatch(new RegExp(`^${counted} tests: ${ta.failure + tb.failure} failed`));
    expect(progressOf(id).at(-1)!.requests).toBe(summary.overall.requests.total);
    // FunkLoad's own report, merged by fl-build-report from both files (on the first node).
    const rst = await readFile(path.join(resultDir, 'funkload-report', 'index.rst'), 'utf8');
    expect(rst).toMatch(/Cycles of concurrent users: \[2, 4\]/);
    await expectFunkloadFigures(resultDir, summary);
    for (const n of ['a', 'b']) expect(existsSync(path.join(dir, `remote-${n}`, `${id}-funkload`))).toBe(false);
  });

  it('a node whose funkload: path holds no FunkLoad: infrastructure error naming the node and the setting', () => {
    expect(jobs.missing.done, jobs.missing.done.reason).toMatchObject({ status: 'failed', failure: 'infrastructure' });
    expect(jobs.missing.done.reason).toBe(
      `node "bare": no fl-run-bench at ${path.join(dir, 'no-funkload-here')} (nor in its bin/): set funkload: in marteau.nodes.yml to a FunkLoad virtualenv, its bin directory or the fl-run-bench file`,
    );
  });

  it("a node lost while it builds FunkLoad's own report: the job keeps the verdict its reports give, the node is down", async () => {
    const job = jobs.lostInReport;
    // Failed for the machines (exit 3) before, while summary.json, index.html and `report` said PASS.
    expect(job.done, `${job.done.reason}\n${job.log.join('\n')}`).toMatchObject({ status: 'succeeded' });
    expect(JSON.parse(await readFile(path.join(job.resultDir, 'summary.json'), 'utf8'))).toMatchObject({ passed: true });
    expect(job.log.some((l) => /^lossy engine: FunkLoad's own HTML report is skipped: node "lossy": /.test(l)), job.log.join('\n')).toBe(true);
    expect(events.some((x) => x.type === 'node.status' && x.node === 'lossy' && x.status === 'down'), 'the node is marked down').toBe(true);
  });

  it('a test class that is not in the module: a config failure quoting FunkLoad', () => {
    expect(jobs.noclass.done, jobs.noclass.done.reason).toMatchObject({ status: 'failed', failure: 'config' });
    expect(jobs.noclass.done.reason).toBe(`node "a": fl-run-bench stopped before benching (exit 1): AttributeError: 'module' object has no attribute 'Nope'`);
  });

  it('shows the tests live while a cycle records, then cancel stops fl-run-bench during the bench', async () => {
    const p = await flProject('', '', { '.marteau.yml': 'name: long\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1"\nduration: 60\n' });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), nodes: [{ type: 'local', name: 'local', maxJobs: 1, tags: [], enabled: true, funkload: fl!.bin }] }, run: 'all' });
    // FunkLoad prints a mark per test with no newline until the cycle's 60 s are over: the
    // progress must count them as they come, long before that.
    let live = false;
    e.events.on('job.progress', (x) => {
      if (x.progress.cycle === 0 && /^[1-9]\d* tests?:/.test(x.progress.message ?? '')) live = true;
    });
    await e.start();
    const job = await e.enqueue(p);
    const end = Date.now() + 40_000;
    while (!live && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(live).toBe(true);
    await e.cancel(job.id);
    const [done] = await e.waitFor([job.id]);
    await e.stop();
    expect(done.status).toBe('cancelled');
    expect(done.procs.length).toBeGreaterThan(0);
    for (const proc of done.procs) expect(groupAlive(proc.pgid)).toBe(false);
    // Killed during its first cycle: FunkLoad's result file was never closed.
    expect(await readFile(path.join(p, 'simple-bench.xml'), 'utf8')).not.toContain('</funkload>');
  }, 120_000);

  it('on an SSH node, the scratch space is marked as the run\'s, as its project copy is (a lost run leaves both for a later job to remove)', async () => {
    const p = await flProject('', '', { '.marteau.yml': 'name: long\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1"\nduration: 60\n' });
    const knownHosts = path.join(dir, 'known_hosts');
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, nodes: [ssh(a, 'a', knownHosts, { funkload: fl!.bin })] }, run: 'all' });
    let benching = false;
    e.events.on('job.progress', (x) => { if (x.progress.cycle === 0) benching = true; });
    await e.start();
    const job = await e.enqueue(p);
    const work = path.join(dir, 'remote-a');
    try {
      const end = Date.now() + 60_000;
      while (!benching && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(benching).toBe(true);
      for (const d of [job.id, `${job.id}-funkload`]) expect(existsSync(path.join(work, d, OWNER_MARKER)), d).toBe(true);
    } finally {
      await e.cancel(job.id);
      await e.waitFor([job.id]);
      await e.stop();
    }
    expect(existsSync(path.join(work, `${job.id}-funkload`))).toBe(false);
  }, 120_000);

  describe('marteau-tui --ci exit codes (built CLI, the packaged nodes file: this machine)', () => {
    const ci = async (dir: string, env: NodeJS.ProcessEnv = {}) => cliDone(['--ci', dir, '--state-dir', await stateDir()], env);
    const withFl = { PATH: `${fl?.bin}:${process.env.PATH}` };

    it('a failed threshold: exit 1', async () => {
      const r = await ci(await flProject('', 'thresholds: {p95: "< 0.01ms"}\n'), withFl);
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.out).toMatch(/FAIL p95/);
    }, 120_000);

    it('the app down: FunkLoad\'s FAILURE is said as what it is, where nothing answered, not as thresholds to set', async () => {
      const dead = await freePort();
      const dir = await flProject('', '', { 'Simple.conf': conf(`http://127.0.0.1:${dead}`) });
      const r = await ci(dir, withFl);
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.out).toMatch(
        new RegExp(`failed: every one of the \\d+ requests failed \\(first: error: \\[Errno 111\\] Connection refused; nothing accepts connections at 127\\.0\\.0\\.1:${dead}: is the app up and listening there\\?\\) in `),
      );
    }, 120_000);

    it('no .conf beside the test: exit 2 quoting FunkLoad and saying where it looks, not an unreadable result', async () => {
      const dir = await flProject('');
      await rm(path.join(dir, 'Simple.conf'));
      const r = await ci(dir, withFl);
      expect(r.code, r.out + r.err).toBe(2);
      expect(r.out).toContain(
        `failed: node "local": fl-run-bench stopped before benching (exit 1): ConfigParser.NoSectionError: No section: 'main' (fl-run-bench reads Simple.conf in the directory it runs in: wdir, or FL_CONF_PATH)`,
      );
      expect(r.out).not.toContain('unreadable');
    }, 120_000);

    it('fl-run-bench not installed: exit 3, naming the node and what to install', async () => {
      const r = await ci(await flProject(''), { PATH: '/usr/bin:/bin' });
      expect(r.code, r.out + r.err).toBe(3);
      expect(r.out + r.err).toContain('node "local": fl-run-bench (FunkLoad) is not installed: install FunkLoad on the node');
    }, 120_000);
  });

  it('reads back the XML it fetched as FunkLoad wrote it', async () => {
    const r = await readFunkloadXml(path.join(jobs.local.resultDir, 'results.xml'));
    expect(r.truncated).toBe(false);
    expect(r.results.info.version).toMatch(/1\.17\.2/);
  });
});

// The module that was missing at load time is a config error before any node is used: no FunkLoad needed.
describe('funkload config errors at enqueue', () => {
  it('the test module missing: exit 2 at the script line, no stack trace', async () => {
    const dir = await project('name: no-module\nscript: tests/loadtest.py\ntest: Simple.test_simple\n');
    await mkdir(path.join(dir, 'tests'));
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toContain(`${path.join(dir, '.marteau.yml')}:2:9: script: the test module "tests/loadtest.py" is not in ${dir}`);
    expect(r.err).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('a .conf lacking keys: every one named at once, at its section, exit 2 before any node', async () => {
    // FunkLoad itself stops on the first (a traceback per run): here [main] lacks one, [bench] four (a key of [DEFAULT] counts, keys are case-blind; url: is given in .marteau.yml).
    const conf = '# the bench\n[main]\ntitle=Simple\n\n[bench]\ncycles = 1:2\nDuration: 2\n  continued\n[DEFAULT]\nsleep_time = 0.1\n';
    const dir = await project('name: fl-conf\nscript: loadtest.py\ntest: Simple.test_simple\nurl: http://127.0.0.1:1\n', { 'loadtest.py': LOADTEST, 'Simple.conf': conf });
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(2);
    const file = path.join(dir, 'Simple.conf');
    expect(r.err).toBe(
      `marteau-tui: ${file}:2:1: [main] lacks description, which fl-run-bench reads\n  hint: add to [main]: description = What this bench loads\n` +
        `${file}:5:1: [bench] lacks startup_delay, cycle_time, sleep_time_min and sleep_time_max, which fl-run-bench reads\n` +
        '  hint: add to [bench]: startup_delay = 0.05, cycle_time = 0, sleep_time_min = 0, sleep_time_max = 0.5 (or set startup_delay:, sleep_time_min: and sleep_time_max: in .marteau.yml)\n',
    );
    await writeFile(file, '[bench]\ncycles = 1\n');
    const noMain = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(noMain.err).toContain(`marteau-tui: ${file}: no [main] section: it needs title and description, which fl-run-bench reads\n  hint: add a [main] section with: title = My app, description = What this bench loads\n`);
  }, 120_000);
});
