/**
 * `--ci` exit codes that tell the machine's fault from the test's, through the built CLI: a
 * job's program that cannot start on its node is the node's lack (3, as Locust not installed or
 * Node.js missing for the builtin agent), while a program that starts and fails is the test's (1).
 */
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';

afterAll(removeTemp);

describe('marteau-tui --ci: a command that cannot start', () => {
  it('one not on the PATH is an infrastructure failure: exit 3, with what is missing and how to fix it', async () => {
    const dir = await project(`name: missing\n${commandYaml(['no-such-program-9c1e', '--users', '10'])}\n`);
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain(`failed: node "local": exit 127: marteau-tui: cannot run "no-such-program-9c1e" in ${dir}: ENOENT: not found on this machine's PATH (install it, or give its full path)`);
    expect(r.out).toMatch(/\nmarteau-tui --ci: 1 job: 1 failed \([^)]*\) exit 3\n$/);
  });

  it('one without its x bit too; a program that starts and exits 127 itself stays the test\'s failure, exit 1', async () => {
    const dir = await project(`name: noexec\n${commandYaml(['./load.sh'])}\n`, { 'load.sh': '#!/bin/sh\nexit 0\n' });
    await chmod(path.join(dir, 'load.sh'), 0o644);
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain('EACCES: permission denied');
    const own = await project(`name: own127\n${commandYaml(['sh', '-c', 'echo gave up >&2; exit 127'])}\n`);
    const o = await cliDone(['--ci', own, '--state-dir', await stateDir()]);
    expect(o.code, o.out + o.err).toBe(1);
    expect(o.out).toContain('failed: node "local": exit 127: gave up');
  });
});
