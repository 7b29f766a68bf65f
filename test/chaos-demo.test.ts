/**
 * The scenario demo (fixtures/scenario) end to end with `--ci`: the engine starts redis and the
 * demo app, the chaos proxy blacks redis out for 10 s in the middle of a 20 s builtin run. The
 * app that reconnects passes its threshold (exit 0); the one that does not fails it (exit 1).
 * Each run prints its seed, and the report shows the blackout on the fault timeline.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dist, ROOT } from './helpers/dist.js';
import { cliDone } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

const run = haveServer('redis-server');

/** The demo config, copied elsewhere, with an absolute path to the built app. */
async function demo(file: string): Promise<string> {
  const text = await readFile(path.join(ROOT, 'fixtures/scenario', file), 'utf8');
  return path.join(await project(text.replaceAll('../../dist/fixtures/scenario/app.js', dist('fixtures/scenario/app.js'))), '.marteau.yml');
}

describe.runIf(run)('fixtures/scenario: a 10 s redis blackout under load', () => {
  it('the reconnecting app passes (exit 0), the one that does not fails its threshold (exit 1)', { timeout: 120_000 }, async () => {
    const state = await stateDir();
    const [ok, broken] = await Promise.all([
      cliDone(['--ci', await demo('.marteau.yml'), '--state-dir', state]),
      cliDone(['--ci', await demo('no-reconnect.marteau.yml'), '--state-dir', state]),
    ]);
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(broken.code, broken.out + broken.err).toBe(1);
    for (const r of [ok, broken]) {
      expect(r.out).toMatch(new RegExp(`seed \\d+ \\(marteau-tui replay [0-9a-f]{8} --state-dir ${state} runs the same faults again\\)`));
      expect(r.out).toMatch(/chaos redis_blackout \(step\): applied redis mix 100:blackout/);
      expect(r.out).toMatch(/chaos redis_blackout \(end of step\): restored redis mix pass-through/);
    }
    expect(ok.out).toMatch(/PASS success_rate >= 50%/);
    expect(broken.out).toMatch(/FAIL success_rate >= 50%/);
    // The report's fault timeline has the blackout: its faults, and both mix changes with why.
    const report = /report: (\S+index\.html)/.exec(ok.out)![1];
    const html = await readFile(report, 'utf8');
    expect(html).toMatch(/data-proxy="redis" data-behavior="blackout"/);
    expect(html).toMatch(/redis: 100:blackout \(chaos redis_blackout: step\) at [4-6]\.\ds/);
    expect(html).toMatch(/redis: pass-through \(chaos redis_blackout: end of step\) at 1[4-6]\.\ds/);
  });
});
