/**
 * `npx marteau-tui -- --ci DIR`, as older npm needed it and as the README once said: npx (npm 7
 * and later, checked on npm 11) hands that `--` on to the program, where commander took it as the
 * end of the options and ran `--ci` as a command name ("unknown command", exit 2). A leading `--`
 * is dropped.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';

afterAll(async () => {
  await removeTemp();
});

describe('a leading -- (as npx passes it on)', () => {
  it('runs --ci DIR as without it: the job, its exit code', async () => {
    const dir = await project(`name: dashes\n${commandYaml(['true'])}\n`);
    const r = await cliDone(['--', '--ci', dir, '--state-dir', await stateDir()]);
    expect(r.err).not.toContain('unknown command');
    expect(r.out).toContain('1 job: 1 succeeded');
    expect(r.code).toBe(0);
  }, 60_000);

  it('runs a command and the global flags as without it', async () => {
    const version = await cliDone(['--', '--version']);
    expect(version).toMatchObject({ code: 0, out: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
    const queue = await cliDone(['--', 'queue', '--state-dir', await stateDir()]);
    expect(queue.err).toBe('');
    expect(queue.code).toBe(0);
  });
});
