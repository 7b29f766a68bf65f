/**
 * npm run bench:tui — the control center's cost while a proxy carries thousands of exchanges/s: frames
 * per second written to a (fake) terminal and the TUI's share of one core, measured as the CPU
 * of this process with the TUI minus the same traffic without it, in the same run.
 * Targets (issue): at most 15 frames/s and 10 % of one core. Run with NODE_ENV=production (the npm
 * script), React's build the TUI loads when the user's NODE_ENV is unset (ui/run.ts).
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { render } from 'ink';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { defaultRegistry } from '../behaviors/index.js';
import { startProxy } from '../src/proxy/proxy.js';
import { App } from '../src/ui/App.js';
import { engineBackend } from '../src/ui/engine-backend.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const here = path.dirname(fileURLToPath(import.meta.url));

class FakeTerminal extends EventEmitter {
  isTTY = true;
  columns = 120;
  rows = 40;
  frames = 0;
  bytes = 0;
  write(s: string): boolean {
    this.frames++;
    this.bytes += s.length;
    return true;
  }
}

class FakeInput extends EventEmitter {
  isTTY = true;
  setRawMode(): void {}
  setEncoding(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
  read(): null {
    return null;
  }
}

async function measure(seconds: number, proxyStats: () => number): Promise<{ cpuMs: number; exchanges: number; wallMs: number }> {
  const cpu0 = process.cpuUsage();
  const ex0 = proxyStats();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000, exchanges: proxyStats() - ex0, wallMs: performance.now() - t0 };
}

async function main() {
  // The upstream runs in its own process so this one holds only the proxy and the TUI.
  const upstream = spawn(process.execPath, [path.join(here, 'upstream.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const webPort = Number(String(await new Promise((r) => upstream.stdout!.once('data', r))).split(' ')[0]);
  const proxy = await startProxy({ name: 'bench', listen: '127.0.0.1:0', upstream: `127.0.0.1:${webPort}`, protocol: 'http', behaviors: { delay: { percent: 5, sleep: 0.002 }, error: 5 } }, { behaviors: defaultRegistry });
  // wrk keeps ~10k exchanges/s flowing for both phases (bounded by -d).
  const load = spawn('wrk', ['-t1', '-c16', `-d${2 * SECONDS + 6}s`, `http://127.0.0.1:${proxy.port}/`], { stdio: 'ignore' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'marteau-bench-tui-'));
  const engine = new Engine({ runners: loadRunners, stateDir: dir, nodes: { file: '(bench)', nodes: [{ type: 'local', name: 'local', maxJobs: 1, tags: [], enabled: true }], probeIntervalMs: 60_000, probeTimeoutMs: 2000 }, run: 'none' });
  await engine.start();
  const exchanges = () => proxy.stats().exchanges;
  try {
    await new Promise((r) => setTimeout(r, 1500)); // warm-up
    const without = await measure(SECONDS, exchanges);
    const term = new FakeTerminal();
    let renderMs = 0;
    const backend = engineBackend(engine, { cwd: dir, extraProxies: () => [proxy] });
    const app = render(<App backend={backend} title="bench" onQuit={() => {}} />, {
      stdout: term as unknown as NodeJS.WriteStream,
      stdin: new FakeInput() as unknown as NodeJS.ReadStream,
      exitOnCtrlC: false,
      patchConsole: false,
      maxFps: 15,
      onRender: ({ renderTime }) => { renderMs += renderTime; },
    });
    await new Promise((r) => setTimeout(r, 1000));
    const frames0 = term.frames;
    renderMs = 0;
    const withTui = await measure(SECONDS, exchanges);
    const frames = term.frames - frames0;
    app.unmount();
    backend.stop();
    const rate = (m: { exchanges: number; wallMs: number }) => (m.exchanges / m.wallMs) * 1000;
    const share = ((withTui.cpuMs - without.cpuMs) / withTui.wallMs) * 100;
    const fps = (frames / withTui.wallMs) * 1000;
    console.log(`bench:tui — ${SECONDS}s phases, HTTP keep-alive load from wrk (16 connections), proxy mix 5 % delay 2 ms + 5 % error, React's ${process.env.NODE_ENV === 'production' ? 'production' : 'development'} build\n`);
    console.log('| measure | value | target | met |');
    console.log('|---|---|---|---|');
    console.log(`| proxy exchanges/s without / with the TUI | ${rate(without).toFixed(0)} / ${rate(withTui).toFixed(0)} (${(rate(withTui) / rate(without)).toFixed(2)}×) | | |`);
    console.log(`| process CPU, % of one core, without / with the TUI | ${((without.cpuMs / without.wallMs) * 100).toFixed(1)} / ${((withTui.cpuMs / withTui.wallMs) * 100).toFixed(1)} | | |`);
    console.log(`| TUI's share of one core (difference) | ${share.toFixed(1)} % | ≤ 10 % | ${share <= 10 ? 'yes' : '**no**'} |`);
    console.log(`| Ink render time, % of one core (React + layout + output, measured by Ink) | ${((renderMs / withTui.wallMs) * 100).toFixed(1)} % | ≤ 10 % | ${(renderMs / withTui.wallMs) * 100 <= 10 ? 'yes' : '**no**'} |`);
    console.log(`| frames written per second | ${fps.toFixed(1)} (${(term.bytes / 1024 / (withTui.wallMs / 1000)).toFixed(0)} KiB/s) | ≤ 15 | ${fps <= 15 ? 'yes' : '**no**'} |`);
  } finally {
    load.kill('SIGKILL');
    upstream.kill('SIGKILL');
    await engine.stop();
    await proxy.close(0);
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
