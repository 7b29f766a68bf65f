/**
 * The seed line a job with proxies prints names the replay command that finds it: with a state
 * dir that is not the default one, the command says it, so that it can be run as printed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';

afterAll(removeTemp);

const JOB = `name: seeded\n${commandYaml(['true'])}\nproxies:\n  p: {listen: "127.0.0.1:0", upstream: "127.0.0.1:9", protocol: tcp}\n`;

describe('the seed line of --ci', () => {
  it('gives the replay command with --state-dir when the state dir is not the default; run as printed, it queues the replay', async () => {
    const dir = await project(JOB);
    const state = await stateDir();
    const r = await cliDone(['--ci', dir, '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(0);
    const m = /seed \d+ \((marteau-tui replay [0-9a-f]{8} --state-dir (\S+)) runs the same faults again\)/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    expect(m![2]).toBe(state);
    const replay = await cliDone(m![1].split(' ').slice(1));
    expect(replay.code, replay.err).toBe(0);
    expect(replay.out).toMatch(/^queued [0-9a-f]{8} "seeded" \(replay of [0-9a-f]{8}, seed \d+\)/);
  });

  it('gives it bare with the default state dir', async () => {
    const home = await stateDir();
    const r = await cliDone(['--ci', await project(JOB)], { XDG_STATE_HOME: home });
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/seed \d+ \(marteau-tui replay [0-9a-f]{8} runs the same faults again\)/);
  });
});
