/**
 * `marteau-tui demo --plain` (what `npm start | tee log` and a CI log get): the control center's
 * demo job run headless, as `--ci` runs one. Here Ctrl-C mid-run: nothing may be lost, so the
 * job must end cancelled in the demo's own queue with its results and reports written, their
 * paths printed, and the exit code that `--ci` gives (130). The run to success without a
 * terminal is in engine-cli.test.ts, beside the other `--ci` exit codes.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../behaviors/index.js';
import { EXIT } from '../src/core/exit.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { removeTemp, stateDir } from './helpers/projects.js';

afterAll(removeTemp);

describe('marteau-tui demo --plain', () => {
  it('SIGINT mid-run: exit 130, the job cancelled and kept in the demo queue, its reports written and printed', async () => {
    const state = await stateDir();
    // 30 s: three 10 s cycles, so the signal surely lands while the load runs.
    const run = cli(['demo', '--plain', '--duration', '30', '--state-dir', state]);
    await run.waitFor(/progress: cycle 1\/3, \d+ users/, 30_000);
    run.child.kill('SIGINT');
    const code = await run.exited;
    const out = run.out();
    expect(code, out + run.err()).toBe(EXIT.interrupted);
    expect(run.err()).toContain('SIGINT: cancelling the run');
    // --plain asked for it: no "not a terminal" notice.
    expect(out).not.toContain('(not a terminal');
    const done = /job (\w+) cancelled: by a user .* report: (\S+)  json: (\S+)  junit: (\S+)/.exec(out);
    expect(done, out).not.toBeNull();
    for (const file of done!.slice(2)) expect(existsSync(file), file).toBe(true);
    expect(out).toContain('marteau-tui --ci: 1 job: 1 cancelled');
    const kept = /demo: its queue, results and reports are kept in (\S+)/.exec(out)![1];
    expect(path.dirname(kept)).toBe(path.join(state, 'demo'));
    expect(done![2].startsWith(kept + path.sep)).toBe(true);
    expect(out).toContain('next: `npm run sweep`');
    // The demo's queue is a queue like any other: the job is there, cancelled, not lost.
    const q = await cliDone(['queue', '--all', '--json', '--state-dir', kept]);
    expect(q.code, q.err).toBe(0);
    const jobs = JSON.parse(q.out) as { id: string; name: string; status: string }[];
    expect(jobs).toEqual([expect.objectContaining({ name: 'demo-shop', status: 'cancelled' })]);
    expect(jobs[0].id.startsWith(done![1])).toBe(true);
  }, 90_000);

  it('SIGTERM mid-run (a CI runner stopping the step): the job and its reports say who cancelled it', async () => {
    const state = await stateDir();
    const run = cli(['demo', '--plain', '--duration', '30', '--state-dir', state]);
    await run.waitFor(/progress: cycle 1\/3, \d+ users/, 30_000);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.out() + run.err()).toBe(EXIT.interrupted);
    const done = /job \w+ cancelled: by SIGTERM .* json: (\S+)/.exec(run.out());
    expect(done, run.out()).not.toBeNull();
    const summary = JSON.parse(readFileSync(done![1], 'utf8')) as { passed: boolean; reasons: string[]; abort: { why: string; reason: string } };
    expect(summary.passed).toBe(false);
    expect(summary.abort).toMatchObject({ why: 'cancel', reason: 'cancelled by SIGTERM' });
    // The job's record lists each file it left once (results.xml is a report's file and the runner's).
    const { artifacts } = JSON.parse(readFileSync(path.join(path.dirname(done![1]), 'result.json'), 'utf8')) as { artifacts: string[] };
    expect(artifacts).toContain('results.xml');
    expect(artifacts).toEqual([...new Set(artifacts)]);
  }, 90_000);
});

describe('marteau-tui demo --behaviors', () => {
  /** The names an unknown-behavior message lists after "nown behaviors: ". */
  const listed = (err: string) => /nown behaviors: ([\w, ]+)/.exec(err)?.[1].split(', ');

  it("a name it does not know: exit 2, and the names it lists are every one a proxy takes, Toxiproxy's noop too", async () => {
    const state = await stateDir();
    const [demo, proxy] = await Promise.all([
      cliDone(['demo', '--plain', '--behaviors', '10:delai', '--state-dir', state]),
      cliDone(['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--behaviors', '10:delai']),
    ]);
    expect(demo.code, demo.err).toBe(EXIT.usage);
    expect(demo.err).toContain('--behaviors: unknown behavior "delai"');
    expect(demo.err).not.toMatch(/\n\s+at /);
    expect(listed(demo.err), demo.err).toEqual([...defaultRegistry.keys()].sort());
    expect(listed(demo.err)).toContain('noop');
    expect(listed(demo.err), proxy.err).toEqual(listed(proxy.err));
  }, 30_000);

  it('a name it lists is one its job runs with: 100:noop gets the demo proxy running', async () => {
    const state = await stateDir();
    const run = cli(['demo', '--plain', '--duration', '15', '--behaviors', '100:noop', '--state-dir', state]);
    try {
      // A mix that injects nothing reads as such (mixWords).
      await run.waitFor(/proxy shop http \S+ -> \S+ mix pass-through/, 30_000);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
    expect(run.err()).not.toContain('unknown behavior');
  }, 60_000);
});
