/** `marteau-tui report`: HTML/JSON/JUnit from result files, thresholds with file:line errors, --diff. */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/exit.js';
import { runReportCommand } from '../../src/cli/report-command.js';
import { registerReportCommand } from '../../src/cli/report-register.js';
import { diffRuns, formatDiffText } from '../../src/report/diff.js';
import { buildJunitReport } from '../../src/report/junit.js';
import { readFunkloadXml } from '../../src/runners/funkload-xml.js';
import { newLocustRecord, writeLocustRecord } from '../../src/runners/locust/record.js';
import { defaultBench, newRunInfo } from '../../src/runners/results.js';
import { parseThresholds } from '../../src/config/thresholds.js';
import { evaluateThresholds } from '../../src/runners/thresholds.js';
import { cli, cliDone } from '../helpers/marteau-cli.js';
import { commandYaml, project, stateDir } from '../helpers/projects.js';

// Real FunkLoad 1.17.2 output (fixtures/funkload/real/CAPTURED.md); its own report is simple-bench.report.rst:
// 3 cycles of 1, 2, 4 users, 71 tests, 214 requests of which 11 errors.
const fixture = new URL('../../fixtures/funkload/real/simple-bench.xml', import.meta.url).pathname;
/** A real bench killed with SIGKILL during its second cycle. */
const killed = new URL('../../fixtures/funkload/real/killed-bench.xml', import.meta.url).pathname;

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  const text = { out: '', err: '' };
  out.on('data', (d) => (text.out += d));
  err.on('data', (d) => (text.err += d));
  return { io: { out, err }, text };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'marteau-rc-'));

describe('report command', () => {
  it('writes index.html, summary.json and junit.xml from a FunkLoad result file', async () => {
    const dir = tmp();
    const { io: streams, text } = io();
    const code = await runReportCommand([fixture], { output: dir }, streams);
    expect(code).toBe(0);
    for (const f of ['index.html', 'summary.json', 'junit.xml']) expect(existsSync(join(dir, f))).toBe(true);
    expect(text.out).toMatch(/^Simple FunkLoad tests: 3 cycle\(s\), 214 requests, 94\.86% ok, 14\.3 req\/s/m);
    const json = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(json.cycles.map((c: { cvus: number }) => c.cvus)).toEqual([1, 2, 4]);
    expect(json.passed).toBe(true);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toContain('Simple.test_simple');
  });

  it('merges the result files of a directory and ignores other XML files', async () => {
    const input = tmp();
    copyFileSync(fixture, join(input, 'node1-simple-bench.xml'));
    copyFileSync(fixture, join(input, 'node2-simple-bench.xml'));
    writeFileSync(join(input, 'junit.xml'), '<?xml version="1.0"?><testsuites/>');
    writeFileSync(join(input, 'stats.xml'), '<funkload version="1.17.2" time="2011-01-26T23:22:51.278543">\n<monitor host="a" key="x" time="1" />\n</funkload>\n');
    const dir = tmp();
    const { io: streams, text } = io();
    expect(await runReportCommand([input], { output: dir }, streams)).toBe(0);
    expect(text.out).toMatch(/428 requests/);
    const json = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(json.bench.cycles).toEqual([2, 4, 8]);
  });

  it('fails with exit 1 when a threshold fails, one JUnit case per threshold', async () => {
    const dir = tmp();
    const conf = join(dir, '.marteau.yml');
    writeFileSync(conf, 'name: simple\nthresholds:\n  success_rate: ">= 99%"\n  p95: "< 1s"\n  per_cycle:\n    rps: ">= 0.5"\n');
    const { io: streams, text } = io();
    expect(await runReportCommand([fixture], { output: dir, thresholds: conf }, streams)).toBe(1);
    expect(text.out).toMatch(/^FAIL success_rate >= 99%: 94\.86% \(failed\)$/m);
    expect(text.out).toMatch(/^PASS p95 < 1s: /m);
    expect(text.out).toMatch(/^PASS rps >= 0\.5 per cycle: worst 5\.8\/s$/m);
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(junit.match(/<testcase /g)!.length).toBe(4);
    expect(junit).toContain('<failure message="success_rate &gt;= 99%: 94.86% (failed)" type="threshold">');
  });

  it('points at the bad threshold expression with file:line:col', async () => {
    const dir = tmp();
    const conf = join(dir, 'bad.yml');
    writeFileSync(conf, 'name: simple\nthresholds:\n  success_rate: ">= 99%"\n  per_cycle:\n    p95: "< 300 parsecs"\n');
    const { io: streams } = io();
    const err = await runReportCommand([fixture], { output: dir, thresholds: conf }, streams).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(`${conf}:5:10: thresholds.per_cycle.p95: "parsecs" is not a time unit (ms, s, us) in "< 300 parsecs"\n  hint: e.g. "< 300ms", "<= 1.5s" (no unit means ms)`);
  });

  it('reads a bench killed on its node and says so: not passed, exit 1 as --ci gives the FunkLoad job it ended', async () => {
    const dir = tmp();
    const { io: streams, text } = io();
    expect(await runReportCommand([killed], { output: dir }, streams)).toBe(1);
    expect(text.err).toMatch(/warning: .*missing <\/funkload> tag/);
    const why = 'the run was aborted (the results end without </funkload>: fl-run-bench stopped before the end of its bench (killed, or aborted by Ctrl-C, SIGTERM or SIGQUIT))';
    expect(text.out).toContain(`FAILED: ${why}\n`);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(html).toContain('<span class="status fail">FAILED</span>');
    expect(html).not.toContain('INTERRUPTED');
    expect(html).toContain('The run stopped before its end (the results end without');
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))).toMatchObject({ aborted: true, interrupted: false, passed: false, reasons: [why], abort: { why: 'stopped' } });
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('type="aborted"/>');
  });

  it("a Locust run stopped by a lost worker: exit 3 and FAILED, as --ci gave the job (a node lost), not 130", async () => {
    // Locust 2.12.1's own CSV files (fixtures/locust/recorded), in the record the runner writes when worker "b" is lost.
    const rec = new URL('../../fixtures/locust/recorded/', import.meta.url).pathname;
    const dir = tmp();
    for (const f of ['cycle-1_stats.csv', 'cycle-1_failures.csv', 'cycle-1_exceptions.csv']) copyFileSync(join(rec, f), join(dir, f));
    const start = 1_795_646_570_000;
    const r = newLocustRecord(newRunInfo({ name: 'shop', runner: 'locust', start, end: start + 20_000, bench: { ...defaultBench(), cycles: [2], duration: 30 } }));
    r.cycles.push({ cycle: 0, cvus: 2, start: start + 1_000, end: start + 5_000, files: [{ node: 'a', stats: 'cycle-1_stats.csv', failures: 'cycle-1_failures.csv', exceptions: 'cycle-1_exceptions.csv' }], seconds: [] });
    const lostWhy = 'node "b": node lost: the connection closed';
    Object.assign(r, { aborted: true, abort: { why: 'stopped', reason: lostWhy, at: start + 4_900 }, lost: [{ node: 'b', at: start + 4_900, reason: 'the connection closed' }] });
    await writeLocustRecord(dir, r);
    const { io: streams, text } = io();
    const out = tmp();
    expect(await runReportCommand([dir], { output: out }, streams)).toBe(3);
    expect(text.out).toMatch(/^FAILED: the run was aborted \(node "b": node lost/m);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<span class="status fail">FAILED</span>');
  });

  it('a complete bench that recorded no request is no pass: FAILED, exit 1, and no "100% ok"', async () => {
    // The real bench's header (its configuration) and end, without a sample: cycles too short for a request to finish.
    const head = readFileSync(fixture, 'utf8').split('\n').filter((l) => l.startsWith('<funkload') || l.startsWith('<config'));
    const empty = join(tmp(), 'empty-bench.xml');
    writeFileSync(empty, `${head.join('\n')}\n</funkload>\n`);
    const dir = tmp();
    const { io: streams, text } = io();
    expect(await runReportCommand([empty], { output: dir }, streams)).toBe(1);
    expect(text.out).toMatch(/^Simple FunkLoad tests: 3 cycle\(s\), 0 requests, none ok,/m);
    expect(text.out).toContain('FAILED: no request was recorded (cycles too short for one to finish, or empty results)\n');
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))).toMatchObject({ passed: false });
    // Every view says so: the JUnit run case fails, the HTML shows dashes and why, not "100.00%".
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('<failure message="no request was recorded (cycles too short for one to finish, or empty results)" type="requests"/>');
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(html).toContain('<b>–</b><span>success rate</span>');
    expect(html).toContain('Failed: no request was recorded');
    expect(html).not.toContain('100.00%');
  });

  it('a job that left no load results (a command job without xml:) is told as the job ended, not as missing FunkLoad files', async () => {
    const dir = await project(`name: plain\n${commandYaml([process.execPath, '-e', '0'])}\n`);
    const run = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(run.code, run.err).toBe(0);
    const results = / results: (\S+)/.exec(run.out)![1];
    const r = await cliDone(['report', results, '-o', tmp()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/: this job left no load results to report on \(it ended succeeded in [\d.]+m?s \(1 node, exit 0\)\); a command job has them only when its config sets xml:\n$/);
  });

  it('an -o that cannot be written is a usage error naming it and why (the real CLI: exit 2, no stack trace)', async () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, 'x');
    for (const [out, why] of [['/dev/null', 'ENOTDIR: not a directory'], [file, 'ENOTDIR: not a directory'], ['/proc/x', 'ENOENT: no such file or directory']]) {
      const r = await cliDone(['report', fixture, '-o', out]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toBe(`marteau-tui: cannot write reports to ${out}: ${why} (give -o a directory you can write)\n`);
    }
    const { io: streams } = io();
    await expect(runReportCommand([], { diff: [fixture, fixture], output: '/dev/null' }, streams)).rejects.toThrow(/^cannot write reports to \/dev\/null: ENOTDIR/);
  });

  it('--thresholds: a config without a thresholds: key, or no such file, says so and how to fix it', async () => {
    const dir = tmp();
    const conf = join(dir, '.marteau.yml');
    writeFileSync(conf, 'name: shop\nrunner: builtin\nbase_url: http://127.0.0.1:8000\nscenario: [{get: /}]\n');
    const { io: streams } = io();
    const err = await runReportCommand([fixture], { output: dir, thresholds: conf }, streams).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      `${conf}: has no thresholds: key, so there is nothing to judge the run by\n  hint: add one, e.g. thresholds: {success_rate: ">= 99%", p95: "< 300ms"}, or give --thresholds a file holding only such a map`,
    );
    // A bare map with a misspelt metric is still told which names exist.
    writeFileSync(conf, 'success_rate: ">= 90%"\np59: "< 1s"\n');
    await expect(runReportCommand([fixture], { output: dir, thresholds: conf }, streams)).rejects.toThrow(/unknown threshold metric "p59"/);
    const r = await cliDone(['report', fixture, '-o', dir, '--thresholds', join(dir, 'nope.yml')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`marteau-tui: ${join(dir, 'nope.yml')}: cannot read the thresholds file: ENOENT: no such file or directory (give --thresholds a YAML file with a thresholds: map, or the map itself)\n`);
  });

  it('usage mistakes are UsageErrors (exit 2)', async () => {
    const { io: streams } = io();
    const nope = join(tmp(), 'nope.xml');
    await expect(runReportCommand([nope], {}, streams)).rejects.toThrow(`${nope}: no such file or directory (give a result XML file, a directory of them, or a job id: \`marteau-tui queue --all\` lists them)`);
    await expect(runReportCommand([], {}, streams)).rejects.toThrow('report takes one result file, directory or job id: report <results.xml|dir|job-id> -o DIR');
    await expect(runReportCommand([tmp()], {}, streams)).rejects.toThrow(/no FunkLoad bench result/);
    await expect(runReportCommand([fixture], { apdexT: 'x' }, streams)).rejects.toBeInstanceOf(UsageError);
    await expect(runReportCommand([], { diff: [fixture] }, streams)).rejects.toThrow(/exactly two runs/);
    const notBench = join(tmp(), 'x.xml');
    writeFileSync(notBench, '<testsuite/>');
    await expect(runReportCommand([notBench], {}, streams)).rejects.toThrow(/not a FunkLoad bench result/);
  });

  it('--diff compares two runs cycle by cycle', async () => {
    const dir = tmp();
    const slower = join(dir, 'slower.xml');
    // Same bench with every response twice as long.
    writeFileSync(slower, readFileSync(fixture, 'utf8').replace(/ duration="([\d.]+)"/g, (_m, d) => ` duration="${Number(d) * 2}"`));
    const { io: streams, text } = io();
    expect(await runReportCommand([], { output: dir, diff: [fixture, slower] }, streams)).toBe(0);
    expect(existsSync(join(dir, 'diff.html'))).toBe(true);
    const d = JSON.parse(readFileSync(join(dir, 'diff.json'), 'utf8'));
    expect(d.sameCycles).toBe(true);
    expect(d.cycles[0].avg.change).toBeCloseTo(1, 1);
    expect(d.cycles[0].rps.change).toBe(0);
    expect(text.out).toMatch(/#0 +1 +5\.8 → 5\.8 \+0\.0%/);
  });

  it('--diff of runs with other cycles draws each run at its own user counts', async () => {
    const dir = tmp();
    const more = join(dir, 'more-users.xml');
    // The same samples recorded as cycles of 3, 6 and 12 users.
    writeFileSync(more, readFileSync(fixture, 'utf8').replace('value="[1, 2, 4]"', 'value="[3, 6, 12]"').replace(/ cvus="(\d+)"/g, (_m, c) => ` cvus="${String(Number(c) * 3).padStart(3, '0')}"`));
    const { io: streams } = io();
    expect(await runReportCommand([], { output: dir, diff: [fixture, more] }, streams)).toBe(0);
    const html = readFileSync(join(dir, 'diff.html'), 'utf8');
    // Series are labelled with the runs' paths (A = fixture, B = more).
    const at = (series: string, file: string) => [...html.matchAll(new RegExp(`<title>${series} ${file.replace(/[.]/g, '\\.')}: [^<]* at (\\d+)</title>`, 'g'))].map((m) => Number(m[1]));
    expect(at('RPS', fixture)).toEqual([1, 2, 4]);
    expect(at('RPS', more)).toEqual([3, 6, 12]);
    expect(at('p95', fixture)).toEqual([1, 2, 4]);
  });

  it('registers on a commander program', async () => {
    const program = new Command('marteau-tui').exitOverride();
    const { io: streams } = io();
    let result: Promise<number> | undefined;
    registerReportCommand(program, streams, (r) => (result = r));
    const dir = tmp();
    await program.parseAsync(['node', 'marteau-tui', 'report', fixture, '-o', dir, '-T', '0.5']);
    expect(await result).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(json.apdex_t).toBe(0.5);
  });

  it('goes on when its output is closed (`| head -1`): its reports written, its exit code, no stack trace', async () => {
    for (const args of [[fixture], ['--diff', fixture, killed]]) {
      const dir = tmp();
      const run = cli(['report', ...args, '-o', dir]);
      // The reader is gone before the first line, as `head -1` is after it: every write meets EPIPE.
      run.child.stdout!.destroy();
      expect(await run.exited, run.err()).toBe(0);
      expect(run.err()).not.toMatch(/EPIPE|\n\s+at /);
      expect(existsSync(join(dir, args[0] === '--diff' ? 'diff.html' : 'index.html'))).toBe(true);
    }
  });
});

describe('diff and junit (pure)', () => {
  it('diff pairs cycles by position and flags different cycles', async () => {
    const a = (await readFunkloadXml(fixture)).results.summary();
    const b = { ...a, cycles: a.cycles.slice(0, 1) };
    const d = diffRuns(a, b);
    expect(d.sameCycles).toBe(false);
    expect(d.cycles[1].rps.b).toBeUndefined();
    expect(formatDiffText(d).split('\n')[0]).toBe('B vs A (cycles differ: compared by position)');
  });
  it('junit escapes names and counts failures', async () => {
    const s = (await readFunkloadXml(fixture)).results.summary();
    s.info.name = 'a<b>&"c"';
    const xml = buildJunitReport(s, evaluateThresholds(parseThresholds({ errors: '< 1', p95: '< 1s' }), s));
    expect(xml).toContain('name="a&lt;b&gt;&amp;&quot;c&quot;"');
    expect(xml).toMatch(/<testsuites name="marteau-tui" tests="3" failures="1"/);
    mkdirSync(tmp(), { recursive: true });
  });
});
