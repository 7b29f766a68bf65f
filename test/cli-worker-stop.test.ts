/**
 * `marteau-tui worker` stopped while it starts, as a service manager stops it: SIGTERM at set
 * points of its start, each the entry of a real system call (strace delivers the signal there,
 * no timing), must stop it as a SIGTERM once it runs does: the same exit code, no stack trace,
 * and no job left `running` in the queue with no one to run it. Before its handler was
 * installed (after the CLI, the engine's modules and the state dir had loaded) it was killed: 143.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dist } from './helpers/dist.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { queueJson } from './helpers/queue-cli.js';
import { haveServer } from './helpers/servers.js';
import { stoppedAt } from './helpers/stopped-at.js';

const strace = haveServer('strace');
afterAll(removeTemp);

describe.skipIf(!strace)('marteau-tui worker stopped while it starts', () => {
  it('as the CLI loads, as the engine loads, as it reads the state dir, as it claims a job: stopped as once running', async () => {
    // What a stop once running gives: the reference.
    const idle = await stateDir();
    const running = cli(['worker', '--state-dir', idle]);
    await running.waitFor(/running queued jobs/);
    running.child.kill('SIGTERM');
    const once = await running.exited;
    expect(once, running.out() + running.err()).toBe(130);

    const dir = await project(`name: sleeper\n${commandYaml(['sleep', '30'])}\n`);
    // Each a call made once, by one thread: strace counts per thread. The claim is the journal's first write.
    const points: [string, string, (state: string) => string, NodeJS.ProcessEnv, string][] = [
      ['as the CLI loads', 'openat', () => dist('src/cli.js'), {}, 'queued'],
      ['as the engine\'s modules load', 'openat', () => dist('src/core/engine.js'), {}, 'queued'],
      // One pool thread, as for the proxy's config (cli-proxy-stop): a file the pool opens again on
      // another thread would get a second SIGTERM there.
      ['as it reads the nodes it knew', 'openat', (state) => path.join(state, 'nodes-cache.json'), { UV_THREADPOOL_SIZE: '1' }, 'queued'],
      ['as it writes its claim of the job', 'write', (state) => path.join(state, 'journal.jsonl'), { UV_THREADPOOL_SIZE: '1' }, 'interrupted'],
    ];
    for (const [when, syscall, file, env, status] of points) {
      const state = await stateDir();
      expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
      const r = await stoppedAt(syscall, 1, file(state), ['worker', '--state-dir', state], env);
      const what = `SIGTERM ${when}: exit ${r.code} ${r.signal ?? ''}\n${r.out}${r.err}`;
      expect({ code: r.code, signal: r.signal }, what).toEqual({ code: once, signal: null });
      expect(r.err, what).not.toMatch(/\n\s+at /);
      // Not claimed when it came before the engine started; once claimed, stopped as a running job is.
      expect((await queueJson(state)).map((j) => j.status), what).toEqual([status]);
    }
  });

  it('however the command line is spelt (global options first, --flag=value, --): stopped as the CLI loads as with `worker` first', async () => {
    const dir = await project(`name: sleeper\n${commandYaml(['sleep', '30'])}\n`);
    // The bin looked at the first argument alone: these armed the stop only once the CLI had loaded.
    const spellings: ((state: string) => string[])[] = [
      (state) => ['--state-dir', state, 'worker'],
      (state) => [`--state-dir=${state}`, 'worker', '--drain'],
      (state) => ['--state-dir', state, '--', 'worker'],
    ];
    for (const spelt of spellings) {
      const state = await stateDir();
      expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
      const r = await stoppedAt('openat', 1, dist('src/cli.js'), spelt(state));
      const what = `SIGTERM as the CLI loads, ${spelt('S').join(' ')}: exit ${r.code} ${r.signal ?? ''}\n${r.out}${r.err}`;
      expect({ code: r.code, signal: r.signal }, what).toEqual({ code: 130, signal: null });
      expect(r.err, what).toContain('marteau-tui worker: SIGTERM: stopped before it started; no job was claimed');
      expect((await queueJson(state)).map((j) => j.status), what).toEqual(['queued']);
    }
  });
});
