/**
 * The control center's first frame comes first: the engine's modules, its start (the queue read
 * or reached, the nodes probed) and the demo's app and job follow it. On a busy machine they had
 * kept the screen blank for seconds (6-12 s at load average 12). The order is checked, not a
 * duration: a start that cannot finish (a team queue whose server never answers) still has its
 * frame, `starting` in the header, and the frames a terminal gets begin with that one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { BIN } from './helpers/dist.js';
import { removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

let session: TmuxSession | undefined;
let server: net.Server | undefined;
/** The connections the silent server holds. */
const held: net.Socket[] = [];
afterEach(async () => {
  await session?.kill();
  session = undefined;
  for (const c of held.splice(0)) c.destroy();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});
afterAll(removeTemp);

it.skipIf(!haveServer('tmux'))('the first frame does not wait for the engine: a team queue that never answers, the frame is there; once its connection is lost, the error is said, exit 3', async () => {
  // Takes the engine's connection and never answers it: its start waits as long as the test likes.
  server = net.createServer((c) => {
    held.push(c);
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const state = await stateDir();
  session = await TmuxSession.start(`${process.execPath} ${BIN} --state-dir ${state} --queue redis://127.0.0.1:${port}/0; echo "EXITED $?"`, { cols: 100, rows: 30, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  const frame = await session.waitFor(/marteau-tui · .*· starting/, 30_000);
  expect(frame).toContain('starting: reading the queue and the nodes');
  // The engine is there, waiting for the queue's answer: not yet read, not none there.
  await waitFor(() => held.length > 0);
  expect(frame).not.toMatch(/no job yet/);
  for (const c of held) c.destroy();
  const last = await session.waitFor(/EXITED \d+/, 30_000);
  expect(last).toContain(`queue offline: the connection to redis://127.0.0.1:${port}/0 was lost`);
  expect(last).toMatch(/EXITED 3/);
  expect(last).not.toMatch(/\n\s+at /);
}, 60_000);

it.skipIf(!haveServer('tmux'))('the demo: its first frame is drawn before its app, engine and job, which then show in it', async () => {
  const state = await stateDir();
  const frames = path.join(await temp('frames'), 'out');
  // The shell waits for the recording to be on before the demo starts.
  const go = path.join(path.dirname(frames), 'go');
  session = await TmuxSession.start(`sh -c 'while [ ! -e ${go} ]; do sleep 0.05; done; ${process.execPath} ${BIN} demo --state-dir ${state}; echo EXITED $?'`, { cols: 100, rows: 30, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  await session.tmux('pipe-pane', '-t', session.name, `cat >> ${frames}`);
  await session.tmux('run-shell', `touch ${go}`);
  await session.waitFor(/marteau-tui · demo · running · jobs 1 running/, 30_000);
  // eslint-disable-next-line no-control-regex
  const headers = readFileSync(frames, 'utf8').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').match(/marteau-tui · demo · \w+/g) ?? [];
  expect(headers[0]).toBe('marteau-tui · demo · starting');
  expect(headers).toContain('marteau-tui · demo · running');
  // Left as a user leaves it: its job interrupted, its load stopped.
  await session.keys('q');
  await session.waitFor(/Quit and mark it interrupted\?/);
  await session.keys('q');
  expect(await session.waitFor(/EXITED \d+/, 30_000)).toMatch(/EXITED 130/);
}, 60_000);

it.skipIf(!haveServer('tmux'))("React's production build when NODE_ENV is unset, and its frame drawn: a user's terminal runs no development build", async () => {
  const dir = await temp('react-builds');
  const builds = path.join(dir, 'builds');
  // Says, as the process exits, which builds of React's modules ran (ran, not only read: Node
  // reads both builds to find an import's names).
  const probe = path.join(dir, 'probe.mjs');
  writeFileSync(probe, `import { createRequire } from 'node:module'; import { writeFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
process.on('exit', () => writeFileSync(${JSON.stringify(builds)}, Object.values(require.cache).filter((m) => m.loaded && /\\/cjs\\/(react|scheduler)/.test(m.filename)).map((m) => m.filename).join('\\n')));`);
  // NODE_ENV unset, as TmuxSession leaves it for every tmux test.
  session = await TmuxSession.start(`${process.execPath} --import ${probe} ${BIN} --state-dir ${await stateDir()}; echo EXITED $?`, { cols: 100, rows: 30, cwd: dir, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  await session.waitFor(/marteau-tui · .*· idle/, 30_000);
  await session.keys('q');
  expect(await session.waitFor(/EXITED \d+/, 30_000)).toMatch(/EXITED 0/);
  const ran = readFileSync(builds, 'utf8').split('\n').map((f) => path.basename(f)).sort();
  expect(ran).toEqual(['react-jsx-runtime.production.js', 'react-reconciler-constants.production.js', 'react-reconciler.production.js', 'react.production.js', 'scheduler.production.js']);
}, 60_000);

async function waitFor(ok: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
