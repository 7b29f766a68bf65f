/**
 * `marteau-tui --ci` stopped while it starts, as a CI system stops a run: SIGTERM at set points
 * of its start, each the entry of a real system call (strace delivers the signal there, no
 * timing), must stop it as a SIGTERM once it runs does: the run cancelled, exit 130, no stack
 * trace, nothing left queued. Before its handler was installed (after the CLI, the engine's
 * modules and the project's configs had loaded) it was killed: 143.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/core/exit.js';
import { dist } from './helpers/dist.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { queueJson } from './helpers/queue-cli.js';
import { haveServer } from './helpers/servers.js';
import { stoppedAt } from './helpers/stopped-at.js';

const strace = haveServer('strace');
afterAll(removeTemp);

describe.skipIf(!strace)('marteau-tui --ci stopped while it starts', () => {
  it('as the CLI loads, as the engine loads, as it reads the config: the run cancelled, exit 130, nothing queued', async () => {
    const dir = await project(`name: sleeper\n${commandYaml(['sleep', '30'])}\n`);
    // Each a call made once, by one thread (strace counts per thread): one pool thread for the files.
    const points: [string, string][] = [
      ['as the CLI loads', dist('src/cli.js')],
      ['as the engine\'s modules load', dist('src/core/engine.js')],
      ['as it reads the project\'s config', path.join(dir, '.marteau.yml')],
    ];
    for (const [when, file] of points) {
      const state = await stateDir();
      const r = await stoppedAt('openat', 1, file, ['--ci', dir, '--state-dir', state], { UV_THREADPOOL_SIZE: '1' });
      const what = `SIGTERM ${when}: exit ${r.code} ${r.signal ?? ''}\n${r.out}${r.err}`;
      expect({ code: r.code, signal: r.signal }, what).toEqual({ code: EXIT.interrupted, signal: null });
      expect(r.err, what).toContain('SIGTERM: cancelling the run');
      expect(r.err, what).not.toMatch(/\n\s+at /);
      expect(await queueJson(state), what).toEqual([]);
    }
  });

  it('spelt --ci=DIR after a global option: stopped as the CLI loads as with --ci DIR', async () => {
    // The bin looked for a bare `--ci`: this line armed the stop only once the CLI had loaded.
    const dir = await project(`name: sleeper\n${commandYaml(['sleep', '30'])}\n`);
    const state = await stateDir();
    const r = await stoppedAt('openat', 1, dist('src/cli.js'), ['--state-dir', state, `--ci=${dir}`], { UV_THREADPOOL_SIZE: '1' });
    const what = `SIGTERM as the CLI loads: exit ${r.code} ${r.signal ?? ''}\n${r.out}${r.err}`;
    expect({ code: r.code, signal: r.signal }, what).toEqual({ code: EXIT.interrupted, signal: null });
    expect(r.err, what).toContain('SIGTERM: cancelling the run');
    expect(await queueJson(state), what).toEqual([]);
  });
});
