/**
 * The TUI on a terminal whose environment says CI (a developer's shell in a CI image, a
 * `CI=true` left exported): Ink must still draw live frames, so it reads CI with it hidden, but
 * what the TUI starts (a queued job's command on this machine) gets the user's environment whole. Ink's
 * reading was once the whole of Ink's import, while the engine and the job already started beside it.
 */

/**
 * Ink's import made slow (a module hook that holds its resolution), as on a loaded machine: the
 * job then starts while Ink still loads.
 */
async function slowInk(): Promise<string> {
  const dir = await temp('slow-ink');
  writeFileSync(path.join(dir, 'hooks.mjs'), "export async function resolve(s, c, next) { if (s === 'ink') await new Promise((r) => setTimeout(r, 4000)); return next(s, c); }\n");
  writeFileSync(path.join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
  return `--import ${path.join(dir, 'register.mjs')}`;
}
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, expect, it } from 'vitest';
import { BIN } from './helpers/dist.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { execFileSync } from 'node:child_process';
import { haveServer } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

let session: TmuxSession | undefined;
afterEach(async () => {
  await session?.kill();
  session = undefined;
});
afterAll(removeTemp);

/** The environment of every process that carries `mark`, by pid. */
function marked(mark: string): Map<number, Map<string, string>> {
  const found = new Map<number, Map<string, string>>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue;
    }
    const vars = new Map(env.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    if (vars.get('MARTEAU_TEST_MARK') === mark) found.set(Number(pid), vars);
  }
  return found;
}

it.skipIf(!haveServer('tmux'))('CI=true in the environment: Ink slow to load: the control center draws live frames, and the job it starts meanwhile sees CI=true', async () => {
  const mark = randomUUID();
  const state = await stateDir();
  const dir = await project(`name: ci-env\n${commandYaml(['sh', '-c', 'sleep 60'])}\n`);
  execFileSync(process.execPath, [BIN, '--state-dir', state, 'enqueue', dir], { stdio: 'ignore' });
  session = await TmuxSession.start(`${process.execPath} ${BIN} --state-dir ${state}; echo "EXITED $?"`, {
    cols: 100,
    rows: 30,
    env: { MARTEAU_NO_ALT_SCREEN: '1', CI: 'true', MARTEAU_TEST_MARK: mark, NODE_OPTIONS: await slowInk() },
  });
  // A frame while the job runs: Ink in its CI mode draws one frame only, at its exit.
  await session.waitFor(/jobs 1 running/, 60_000);
  // The control center and the job's command.
  let procs = marked(mark);
  for (let i = 0; i < 300 && procs.size < 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
    procs = marked(mark);
  }
  expect(procs.size).toBeGreaterThan(1);
  for (const [pid, vars] of procs) expect({ pid, ci: vars.get('CI') }).toEqual({ pid, ci: 'true' });
}, 150_000);
