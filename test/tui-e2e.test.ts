/**
 * The demo in a real terminal (tmux): it starts with a job running, a second job is enqueued
 * with `e`, `error` is raised to 50 % and the proxy's error count rises, the running job is
 * cancelled after confirmation, and q quits. The last screen is saved under artifacts/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { haveServer } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

const BIN = path.resolve('bin/marteau-tui.js');
let session: TmuxSession | undefined;
afterEach(async () => {
  await session?.kill();
  session = undefined;
});

const errorCount = (screen: string) => Number(/error (\d+)/.exec(screen.split('[3] Proxies')[1] ?? '')?.[1] ?? 0);

describe.skipIf(!haveServer('tmux'))('TUI end to end in tmux', () => {
  it('runs the demo: enqueue, raise error to 50 %, cancel, quit', async () => {
    session = await TmuxSession.start(`${process.execPath} ${BIN} demo --duration 60; echo "EXITED $?"`, { cols: 110, rows: 32, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
    const s = session;
    await s.waitFor(/demo-shop\s+running/, 20_000);
    await s.waitFor((x) => /shop\s+http\s+conn\s+\d+\s+\d+\/s/.test(x));
    // Enqueue a second job: e, tab takes the suggested .marteau.yml, enter.
    await s.keys('e');
    await s.waitFor(/enqueue:/);
    await s.keys('Tab');
    await s.waitFor(/enqueue: \.marteau\.yml/);
    await s.keys('Enter');
    await s.waitFor(/demo-shop\s+queued/);
    // Behaviors pane: select error, raise it to 50 %.
    await s.keys('Tab', 'Tab', 'Tab');
    await s.waitFor(/lower \/ raise/);
    // Rows are the behaviors by name: abort, bandwidth, blackout, delay, down, error, ...
    await s.keys('j', 'j', 'j', 'j', 'j');
    await s.waitFor(/› error\s+\d+%/);
    for (let i = 0; i < 10; i++) await s.keys('Right');
    await s.waitFor(/› error\s+50%/);
    const before = errorCount(await s.screen());
    const rising = await s.waitFor((x) => errorCount(x) > before + 20, 20_000);
    expect(errorCount(rising)).toBeGreaterThan(before);
    // Cancel the running job, after saying no once.
    await s.keys('Tab', 'Tab');
    await s.waitFor(/e enqueue/);
    // Newest first: the queued job is on top, the running one below it.
    await s.keys('j');
    await s.waitFor(/› \w+ demo-shop\s+running/);
    await s.keys('c');
    await s.waitFor(/Cancel job/);
    await s.keys('y');
    await s.waitFor(/demo-shop\s+cancelled/);
    const screen = await s.screen();
    mkdirSync('artifacts', { recursive: true });
    writeFileSync(path.join('artifacts', 'tui-demo-screen.txt'), screen);
    // The queued job now runs: q asks, a second q leaves.
    await s.keys('q');
    await s.waitFor(/Quit and mark it interrupted\?/);
    await s.keys('q');
    const end = await s.waitFor(/EXITED \d+/, 15_000);
    expect(end).toMatch(/EXITED 130/);
  }, 120_000);
});
