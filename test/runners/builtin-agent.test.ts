/**
 * The builtin agent's pieces without SSH: how users are shared, what the shipped bundle holds
 * (followed from the compiled imports), the agent's arguments and job file, progress sums, and
 * the agent itself run as a process against the demo app.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApp, type DemoApp } from '../../fixtures/demo/app.js';
import { parseFunkloadXml } from '../../src/runners/funkload-xml.js';
import { AGENT_BAD_JOB, AGENT_ENTRY, agentArgs, clockOffset, commandLine, parseAgentArgs, parseCommand, parseAgentJob, parseAgentLine, parseResultLine, resultText, type AgentJob } from '../../src/runners/builtin/agent-protocol.js';
import { shareOf, type BenchProgress } from '../../src/runners/builtin/bench.js';
import { agentBundle, agentClosure, importSpecifiers, packageName } from '../../src/runners/builtin/bundle.js';
import { builtinConfigSchema } from '../../src/runners/builtin/config.js';
import { sumProgress } from '../../src/runners/builtin/distributed.js';
import { dist, ROOT } from '../helpers/dist.js';

const run = promisify(execFile);
const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('sharing users over nodes', () => {
  it('gives every user to exactly one node, the counts differing by at most one', () => {
    for (let cvus = 1; cvus <= 40; cvus++) {
      for (let of = 1; of <= 7; of++) {
        const shares = Array.from({ length: of }, (_, index) => shareOf(cvus, { index, of }));
        expect(shares.reduce((a, b) => a + b, 0)).toBe(cvus);
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
        // Node i runs users t with t % of == i: count them directly.
        shares.forEach((n, index) => expect(n).toBe(Array.from({ length: cvus }, (_, t) => t).filter((t) => t % of === index).length));
      }
    }
  });
});

describe('the agent bundle', () => {
  it('reads import specifiers of compiled modules', () => {
    const src = [
      "import { a } from './a.js';",
      "import b, { c } from \"../b.js\";",
      "export { d } from './d.js';",
      "export * from 'undici/lib/x.js';",
      "import './side.js';",
      "const m = await import('node:fs');",
      "// from 'not-an-import' in a comment line that does not start with import",
    ].join('\n');
    expect(importSpecifiers(src).sort()).toEqual(['../b.js', './a.js', './d.js', './side.js', 'node:fs', 'undici/lib/x.js']);
    expect(['undici/lib/x.js', '@scope/p/sub', 'node:fs', 'zod'].map(packageName)).toEqual(['undici', '@scope/p', undefined, 'zod']);
  });

  it('holds the agent\'s import closure only: no CLI, TUI, config loader or zod', async () => {
    dist(path.relative('dist', AGENT_ENTRY));
    const c = await agentClosure();
    expect(c.packages).toEqual(['undici']);
    expect(c.modules).toContain(AGENT_ENTRY);
    expect(c.modules).toContain('dist/src/runners/builtin/bench.js');
    expect(c.modules.filter((m) => /\/(ui|cli|config|core|proxy|report)\//.test(m) || m.endsWith('cli.js'))).toEqual([]);
    expect(c.files.some((f) => f.endsWith('.d.ts') || f.endsWith('.map'))).toBe(false);
    const b = await agentBundle();
    expect(b.id).toMatch(new RegExp(`^${version.replace(/\./g, '\\.')}-[0-9a-f]{16}$`));
    expect(b.bytes).toBeLessThan(3 * 1024 * 1024);
    // The pack lists exactly the files and sizes it carries.
    const raw = gunzipSync(readFileSync(b.pack));
    const nl = raw.indexOf(10);
    const head = JSON.parse(raw.subarray(0, nl).toString()) as { id: string; files: [string, number][] };
    expect(head.id).toBe(b.id);
    expect(head.files.map(([f]) => f)).toEqual(b.files);
    expect(nl + 1 + head.files.reduce((n, [, size]) => n + size, 0)).toBe(raw.length);
    // Same build, same id: the cache key is stable.
    expect((await agentBundle()).id).toBe(b.id);
  });
});

describe('agent protocol', () => {
  it('arguments round-trip; bad ones are refused', () => {
    expect(parseAgentArgs(agentArgs('job.json'))).toEqual({ jobFile: 'job.json' });
    expect(parseAgentArgs(['--version'])).toEqual({ version: true });
    expect(() => parseAgentArgs(['job.json', '--start-at', '12'])).toThrow(/usage: agent\.js/);
    expect(() => parseAgentArgs(['--verbose'])).toThrow(/usage/);
    expect(() => parseAgentArgs([])).toThrow(/usage/);
  });

  it('commands on the agent\'s stdin round-trip; others are ignored', () => {
    expect(commandLine({ type: 'ping', id: 3 })).toBe('ping 3\n');
    expect(parseCommand(commandLine({ type: 'ping', id: 3 }))).toEqual({ type: 'ping', id: 3 });
    expect(parseCommand(commandLine({ type: 'start', at: 1700000000123.6 }))).toEqual({ type: 'start', at: 1700000000124 });
    for (const bad of ['', 'ping', 'ping x', 'start 1 2', 'stop 1']) expect(parseCommand(bad), bad).toBeUndefined();
  });

  it('the clock offset comes from the ping with the shortest round trip: the smallest shift that round trip allows', () => {
    // The agent's clock is about 500 ms ahead; the second ping queued 40 ms on its way back. The
    // fastest (2 ms) puts the offset in [499, 501]: 499 is kept.
    const samples = [
      { sent: 1000, at: 1503, received: 1006 },
      { sent: 2000, at: 2504, received: 2048 },
      { sent: 3000, at: 3501, received: 3002 },
    ];
    expect(clockOffset(samples)).toEqual({ offsetMs: 499, roundTripMs: 2 });
    // Behind as well as ahead.
    expect(clockOffset([{ sent: 1000, at: 700, received: 1010 }])).toEqual({ offsetMs: -300, roundTripMs: 10 }); // midpoint -305, give or take 5
    // Within the measurement's own error (one machine): left alone, not moved by the midpoint's error.
    expect(clockOffset([{ sent: 1000, at: 1008, received: 1010 }])?.offsetMs).toBe(0);
    expect(clockOffset([{ sent: 1000, at: 1000.2, received: 1010 }])?.offsetMs).toBe(0);
    expect(clockOffset([])).toBeUndefined();
  });

  it('a job file from another version or without a share is refused with the reason', () => {
    const ok = { version, name: 'x', node: 'a', share: { index: 0, of: 1 }, config: { cycles: [1], scenario: [] } };
    expect(parseAgentJob(JSON.stringify(ok), version).node).toBe('a');
    expect(() => parseAgentJob('{', version)).toThrow(/not JSON/);
    expect(() => parseAgentJob(JSON.stringify({ ...ok, version: '0.0.1' }), version)).toThrow(`written by marteau-tui 0.0.1, this agent is ${version}`);
    expect(() => parseAgentJob(JSON.stringify({ ...ok, share: { index: 2, of: 2 } }), version)).toThrow(/share/);
  });

  it('marked lines are messages, anything else is console text', () => {
    expect(parseAgentLine('@@marteau-agent {"type":"done","requests":3,"errors":0,"tests":3,"aborted":false}')).toEqual({ type: 'done', requests: 3, errors: 0, tests: 3, aborted: false });
    expect(parseAgentLine('Cycle #0 with 2 virtual users')).toBeUndefined();
    expect(parseAgentLine('@@marteau-agent {broken')).toBeUndefined();
    // Result lines: each line of a slice marked, and only those read back as result lines.
    const text = '<funkload version="x">\n<response cycle="000" />\n';
    const marked = resultText(text).split('\n');
    expect(marked).toEqual(['@@marteau-xml <funkload version="x">', '@@marteau-xml <response cycle="000" />', '']);
    expect(marked.slice(0, 2).map(parseResultLine)).toEqual(['<funkload version="x">', '<response cycle="000" />']);
    expect(parseResultLine('Cycle #0 with 2 virtual users')).toBeUndefined();
    expect(parseAgentLine(marked[0])).toBeUndefined();
  });

  it('sums the nodes\' progress; the slowest node\'s cycle shows', () => {
    const p = (o: Partial<BenchProgress>): BenchProgress => ({ cycle: 0, cycles: 2, cvus: 1, users: 1, phase: 'recording', elapsed: 1, requestsPerSecond: 10, errorsPerSecond: 0, requests: 10, errors: 0, ...o });
    expect(sumProgress([p({ cycle: 1, users: 3, requests: 30, elapsed: 5 }), p({ cycle: 0, phase: 'stopping', users: 2, errors: 1, elapsed: 4 })], 2)).toEqual({
      cycle: 0, cycles: 2, cvus: 2, users: 5, phase: 'stopping', elapsed: 5, requestsPerSecond: 20, errorsPerSecond: 0, requests: 40, errors: 1,
    });
    expect(sumProgress([], 2)).toBeUndefined();
  });
});

describe('the agent process', () => {
  let app: DemoApp;
  beforeAll(async () => {
    app = await startDemoApp(0);
  });
  afterAll(async () => app?.close());

  it('runs its share, streams its FunkLoad XML on stdout and reports done; a bad job file exits 2 with the reason', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-agent-'));
    const config = builtinConfigSchema.parse({ base_url: `http://127.0.0.1:${app.port}`, cycles: [5], duration: 0.5, startup_delay: 0, scenario: [{ get: '/' }] });
    const job: AgentJob = { version, name: 'agent-test', node: 'n1', config, share: { index: 1, of: 2 } };
    await writeFile(path.join(dir, 'job.json'), JSON.stringify(job));
    const entry = dist(path.relative('dist', AGENT_ENTRY));
    // The engine's side: wait for ready, ping, then start 200 ms ahead on the agent's clock.
    const child = spawn(process.execPath, [entry, ...agentArgs('job.json')], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      const m = parseAgentLine(l);
      if (m?.type === 'ready') child.stdin.write(commandLine({ type: 'ping', id: 7 }));
      if (m?.type === 'pong') child.stdin.write(commandLine({ type: 'start', at: m.at + 200 }));
    });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    const pong = lines.map(parseAgentLine).find((m) => m?.type === 'pong');
    expect(pong).toMatchObject({ type: 'pong', id: 7 });
    expect(Math.abs((pong as { at: number }).at - Date.now())).toBeLessThan(60_000);
    expect(lines).toContain('Cycle #0 with 2 virtual users (of 5 on 2 nodes)');
    const done = lines.map(parseAgentLine).find((m) => m?.type === 'done');
    // Its result came on stdout as marked lines; the node keeps no file of it.
    const read = parseFunkloadXml(lines.flatMap((l) => parseResultLine(l) ?? []).join('\n'));
    expect((await readdir(dir)).sort()).toEqual(['job.json']);
    const s = read.results.summary();
    expect(read.truncated).toBe(false);
    expect(s.cycles[0].cvus).toBe(2);
    expect(s.info.node).toBe('n1');
    expect(done).toEqual({ type: 'done', requests: s.overall.requests.total, errors: 0, tests: s.overall.tests.total, aborted: false });
    expect(s.overall.requests.total).toBeGreaterThan(0);

    await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ ...job, version: '9.9.9' }));
    const bad = await run(process.execPath, [entry, 'bad.json'], { cwd: dir }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: AGENT_BAD_JOB });
    expect((bad as { stderr: string }).stderr).toBe(`marteau-tui builtin agent: the job file was written by marteau-tui 9.9.9, this agent is ${version}\n`);

    // The engine gone before the start (stdin closed): no load, exit 1, said on stderr.
    const orphan = spawn(process.execPath, [entry, 'job.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    orphan.stdout.on('data', (d: Buffer) => (out += d));
    orphan.stderr.on('data', (d: Buffer) => (err += d));
    expect(((await once(orphan, 'close')) as [number])[0]).toBe(1);
    expect(err).toBe('marteau-tui builtin agent: stopped before the start (the engine went away or cancelled)\n');
    expect(out).not.toContain('Cycle #0');
  });
});
