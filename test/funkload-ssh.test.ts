/**
 * The funkload runner through the engine on real SSH nodes (OpenSSH on 127.0.0.x). FunkLoad
 * (Python 2) cannot be installed here, so the nodes' PATH holds the stand-ins of
 * fixtures/funkload/stand-in/: they parse FunkLoad's options, import the test module, and replay
 * recorded-format transcripts and XML (see fixtures/funkload/README.md). Everything else is
 * real: SSH, SFTP, the virtualenv and pip install of `deps`, the live console parsing, the XML
 * fetched back, our reports and thresholds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import type { SshNodeConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import type { EngineEvent } from '../src/core/events.js';
import type { Job } from '../src/core/jobs.js';
import { readFunkloadXml } from '../src/runners/funkload-xml.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

const standIn = new URL('../fixtures/funkload/stand-in', import.meta.url).pathname;
const recordedXml = new URL('../fixtures/funkload/simple-bench.recorded-format.xml', import.meta.url).pathname;

const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url'))
`;
/** The same test needing a dependency: it imports only where deps: were installed. */
const LOADTEST_WITH_DEP = `from funkload.FunkLoadTestCase import FunkLoadTestCase
import fl_demo_dep


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url') + fl_demo_dep.PATH)
`;
const CONF = '[main]\ntitle=Simple\ndescription=Simply testing a default static page\nurl=http://127.0.0.1:9/\n\n[bench]\nresult_path = simple-bench.xml\n';

/** A pure-Python wheel, built here (no index, no build backend needed to install it). */
function makeWheel(dir: string): string {
  const script = `
import base64, hashlib, sys, zipfile
out = sys.argv[1]
files = {'fl_demo_dep/__init__.py': 'PATH = "/index.html"\\n',
         'fl_demo_dep-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: fl-demo-dep\\nVersion: 1.0\\n',
         'fl_demo_dep-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}
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
  const wheel = path.join(dir, 'fl_demo_dep-1.0-py3-none-any.whl');
  execFileSync('python3', ['-c', script, wheel]);
  return wheel;
}

describe.skipIf(!haveServer('sshd') || !haveServer('python3'))('funkload runner on SSH nodes (stand-in FunkLoad)', () => {
  let dir: string;
  let user: UserKey;
  let a: Sshd;
  let b: Sshd;
  let bare: Sshd;
  let knownHosts: string;
  const events: EngineEvent[] = [];
  const jobs: Record<string, { id: string; done: Readonly<Job>; resultDir: string; log: string[] }> = {};

  const nodeConfig = (s: Sshd, name: string, o: Partial<SshNodeConfig> = {}): SshNodeConfig =>
    sshNode(s, name, { identity: user.privateKey, knownHosts, workDir: path.join(dir, `remote-${name}`), ...o });

  async function funkloadProject(extra: string, files: Record<string, string> = {}, head = 'cycles: "1:2"\nduration: 10\nnode_tags: [single]\n'): Promise<string> {
    const p = await project(`name: simple\nrunner: funkload\nscript: loadtest.py\ntest: Simple.test_simple\n${head}${extra}`, { 'loadtest.py': LOADTEST, 'Simple.conf': CONF, ...files });
    await mkdir(path.join(p, 'wheels'));
    makeWheel(path.join(p, 'wheels'));
    return p;
  }
  const argvLog = (name: string) => path.join(dir, `argv-${name}.jsonl`);
  const argvEnv = (name: string) => `env: {FL_STAND_IN_ARGV_LOG: ${JSON.stringify(argvLog(name))}}\n`;

  // One engine, every job queued at once: SSH sessions are slow on a loaded machine, the jobs are independent.
  beforeAll(async () => {
    dir = await temp('funkload-ssh');
    user = await makeUserKey(dir);
    const withStandIn = { setEnv: { PATH: `${standIn}:/usr/local/bin:/usr/bin:/bin` } };
    [a, b, bare] = await Promise.all([
      startSshd('127.0.0.2', user, withStandIn),
      startSshd('127.0.0.3', user, withStandIn),
      startSshd('127.0.0.4', user, { setEnv: { PATH: '/usr/local/bin:/usr/bin:/bin' } }),
    ]);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${a.knownHostsLine}\n${b.knownHostsLine}\n${bare.knownHostsLine}\n`);
    const projects: Record<string, string> = {
      pass: await funkloadProject(
        `deps: [fl-demo-dep]\npip_options: [--no-index, --find-links, wheels]\nthresholds: {success_rate: ">= 80%"}\n${argvEnv('pass')}`,
        { 'loadtest.py': LOADTEST_WITH_DEP },
      ),
      threshold: await funkloadProject('thresholds: {p95: "< 1ms"}\n'),
      status: await funkloadProject(''),
      // The stand-in's recording was made with cycles 1:2: asked for 1:3 it refuses, as FunkLoad refuses a bad option.
      usage: await funkloadProject('', {}, 'cycles: "1:3"\nnode_tags: [single]\n'),
      missing: await funkloadProject('', {}, 'node_tags: [bare]\n'),
      distributed: await funkloadProject(`thresholds: {success_rate: ">= 80%"}\n${argvEnv('distributed')}`, {}, 'cycles: "1:2"\nduration: 10\nnodes: 2\nnode_tags: [standin]\n'),
    };
    const e = new Engine({
      stateDir: await stateDir(),
      nodes: {
        ...localNodes(1),
        probeTimeoutMs: 30_000,
        probeIntervalMs: 5000,
        nodes: [
          nodeConfig(a, 'a', { maxJobs: 6, tags: ['standin', 'single'] }),
          nodeConfig(b, 'b', { tags: ['standin'] }),
          nodeConfig(bare, 'bare', { tags: ['bare'] }),
        ],
      },
      run: 'all',
    });
    e.events.on('*', (x) => {
      events.push(x);
      if (process.env.FL_DEBUG && x.type === 'log.line') process.stderr.write(`${new Date().toISOString()} ${x.jobId} ${x.line}\n`);
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
    await Promise.all([a?.stop(), b?.stop(), bare?.stop()]);
    await removeTemp();
  });

  const progressOf = (id: string) => events.flatMap((x) => (x.type === 'job.progress' && x.jobId === id ? [x.progress] : []));

  it('installs deps in a virtualenv, parses the console live, fetches the XML and reports; thresholds pass', async () => {
    const { id: jobId, done, log, resultDir } = jobs.pass;
    expect(done.status, log.join('\n')).toBe('succeeded');

    // The stand-in ran in the job's virtualenv (where the test module's import of the dep works), in the copy of the project, with our argv.
    const calls = (await readFile(argvLog('pass'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { argv: string[]; cwd: string; virtual_env: string });
    expect(calls).toHaveLength(1);
    expect(calls[0].argv).toEqual(['--cycles=1:2', '--duration=10', '--no-color', 'loadtest.py', 'Simple.test_simple']);
    expect(calls[0].cwd).toBe(path.join(dir, 'remote-a', jobId));
    expect(calls[0].virtual_env).toBe(path.join(dir, 'remote-a', `${jobId}-funkload`, 'venv'));
    expect(log.some((l) => /Successfully installed fl-demo-dep-1\.0/.test(l))).toBe(true);

    // Progress from the console as it came: both cycles with their users, outcomes counted.
    const progress = progressOf(jobId).filter((x) => x.cycle !== undefined);
    expect(progress.map((x) => [x.cycle, x.users])).toContainEqual([0, 1]);
    expect(progress.map((x) => [x.cycle, x.users])).toContainEqual([1, 2]);
    expect(progress.at(-1)).toMatchObject({ cycle: 1, users: 2, cycles: 2, message: '7 tests: 1 failed, 1 error; last cycle 0.20 successful tests/s' });

    // Our reports from the fetched XML, matching what the reader makes of the recording itself.
    const expected = (await readFunkloadXml(recordedXml)).results.summary();
    const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8'));
    expect(JSON.stringify(summary)).toContain(`"total":${expected.overall.requests.total}`);
    expect(summary.cycles).toHaveLength(2);
    expect(await readFile(path.join(resultDir, 'results.xml'), 'utf8')).toContain(`<config key="log_xml" value="${path.join(dir, 'remote-a', jobId, 'simple-bench.xml')}" />`);
    expect(await readFile(path.join(resultDir, 'junit.xml'), 'utf8')).toMatch(/<testcase [^>]*success_rate/);
    expect(await readFile(path.join(resultDir, 'index.html'), 'utf8')).toContain('<svg');
    // FunkLoad's own report, built on the node and fetched.
    expect(readdirSync(path.join(resultDir, 'funkload-report')).sort()).toEqual(['funkload.css', 'funkload.xml', 'index.html', 'index.rst']);
    expect(log).toContain(`a stdout: ${path.join(dir, 'remote-a', `${jobId}-funkload`, 'report', 'index.html')}`);
    // Nothing left on the node.
    expect(existsSync(path.join(dir, 'remote-a', jobId))).toBe(false);
    expect(existsSync(path.join(dir, 'remote-a', `${jobId}-funkload`))).toBe(false);
  });

  it('a failed threshold fails the job as a test failure', () => {
    const { done, log } = jobs.threshold;
    expect(done.status, log.join('\n')).toBe('failed');
    expect(done.failure, done.reason).toBe('test');
    expect(done.reason).toMatch(/^1 threshold\(s\) failed: p95/);
  });

  it("without thresholds FunkLoad's bench status decides", () => {
    expect(jobs.status.done).toMatchObject({
      status: 'failed',
      failure: 'test',
      reason: 'FunkLoad bench status ERROR: 1 failure(s), 1 error(s) (set thresholds: to judge the run by numbers instead)',
    });
  });

  it("nodes: 2 runs FunkLoad's distributed mode from the first node and merges the workers' results", async () => {
    const { id: jobId, done, log, resultDir } = jobs.distributed;
    expect(done.status, log.join('\n')).toBe('succeeded');
    const [master, other] = done.nodesTaken;
    const sshd = { a, b } as Record<string, Sshd>;
    const scratch = path.join(dir, `remote-${master}`, `${jobId}-funkload`);
    const { argv } = JSON.parse((await readFile(argvLog('distributed'), 'utf8')).trim()) as { argv: string[] };
    const me = os.userInfo().username;
    expect(argv).toEqual([
      '--cycles=1:2',
      '--duration=10',
      '--no-color',
      '--distribute',
      `--distribute-workers=${me}@${sshd[master].host}:${sshd[master].port},${me}@${sshd[other].host}:${sshd[other].port}`,
      `--distributed-log-path=${path.join(scratch, 'distributed')}`,
      'loadtest.py',
      'Simple.test_simple',
    ]);
    const messages = progressOf(jobId).flatMap((x) => (x.message ? [x.message] : []));
    expect(messages).toContain('preparing 2 FunkLoad workers');
    // FunkLoad names a worker by its host with ':' as '_'.
    const returned = messages.filter((m) => m.startsWith('worker ')).sort();
    expect(returned.map((m) => m.replace(/ \(\d\/2\)$/, ''))).toEqual([`worker ${a.host}_${a.port} done`, `worker ${b.host}_${b.port} done`]);
    expect(returned.map((m) => m.slice(-5)).sort()).toEqual(['(1/2)', '(2/2)']);
    // Both workers' files fetched and merged: twice the users in each cycle.
    expect(readdirSync(resultDir).filter((f) => f.startsWith('results-'))).toHaveLength(2);
    const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8'));
    const single = (await readFunkloadXml(recordedXml)).results.summary();
    expect(summary.cycles.map((c: { cvus: number }) => c.cvus)).toEqual(single.cycles.map((c) => c.cvus * 2));
  });

  it('fl-run-bench missing on the node is an infrastructure error naming the node and what to install', () => {
    expect(jobs.missing.done).toMatchObject({ status: 'failed', failure: 'infrastructure' });
    expect(jobs.missing.done.reason).toMatch(/^node "bare": fl-run-bench \(FunkLoad\) is not installed: install FunkLoad on the node \(pip install funkload/);
  });

  it('a usage error from fl-run-bench is a config failure quoting FunkLoad', () => {
    expect(jobs.usage.done).toMatchObject({ status: 'failed', failure: 'config' });
    expect(jobs.usage.done.reason).toMatch(/^node "a": fl-run-bench refused its arguments \(exit 2\): fl-run-bench: error: stand-in: the recording simple-bench was made with cycles \[1, 2\]/);
  });

  it('a module missing at load time is a config error at the `script:` line', async () => {
    const p = await project('name: x\nrunner: funkload\nscript: nothere.py\ntest: Simple.test_simple\n');
    const e = new Engine({ stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
    await e.start();
    const err = await e.enqueue(p).catch((x: Error) => x);
    await e.stop();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      `${path.join(p, '.marteau.yml')}:3:9: script: the test module "nothere.py" is not in ${p}\n  hint: give its path relative to the directory of .marteau.yml (or set wdir)`,
    );
  });
});
