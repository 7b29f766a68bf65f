/**
 * bench:cli — how fast the CLI starts: `--version`, `--help`, `queue` and `nodes --no-probe`
 * against `node -e 0` (the floor: Node's own start), in the same run, taken in turns. Prints the
 * median CPU time (user + system, steady on a loaded machine) and wall time of each, and the
 * ratio to node's; the goal of the proxy issue is <= 2x.
 *
 *   npm run bench:cli             # 15 runs of each
 *   BENCH_RUNS=30 npm run bench:cli
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './median.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const GOAL = 2;
const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(here, '../../bin/marteau-tui.js');
const preload = path.join(here, 'cpu-at-exit.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'marteau-bench-cli-'));
const cpuFile = path.join(dir, 'cpu');
// An empty state dir and nodes file: `queue` and `nodes` read them, as on a first start.
const nodesFile = path.join(dir, 'nodes.yml');
writeFileSync(nodesFile, 'nodes:\n  local:\n    type: local\n');

const cases: { name: string; args: string[] }[] = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'marteau-tui --version', args: [bin, '--version'] },
  { name: 'marteau-tui --help', args: [bin, '--help'] },
  { name: 'marteau-tui queue', args: [bin, '--state-dir', path.join(dir, 'state'), '--nodes', nodesFile, 'queue'] },
  { name: 'marteau-tui nodes --no-probe', args: [bin, '--state-dir', path.join(dir, 'state'), '--nodes', nodesFile, 'nodes', '--no-probe'] },
];

const cpu = cases.map(() => [] as number[]);
const wall = cases.map(() => [] as number[]);
try {
  for (let r = 0; r < RUNS; r++) {
    cases.forEach((c, i) => {
      writeFileSync(cpuFile, '');
      const t0 = performance.now();
      const res = spawnSync(process.execPath, ['--import', preload, ...c.args], { env: { ...process.env, BENCH_CPU_FILE: cpuFile }, encoding: 'utf8', timeout: 60_000 });
      wall[i].push(performance.now() - t0);
      if (res.status !== 0) throw new Error(`${c.name} exited with ${res.status}: ${res.stderr}`);
      cpu[i].push(Number(readFileSync(cpuFile, 'utf8').trim()) / 1000);
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`bench:cli — ${RUNS} runs of each, in turns; CPU = user + system time of the process\n`);
console.log('| command | CPU ms (median) | ratio to node | wall ms (median) | ratio to node | goal | met |');
console.log('|---|---|---|---|---|---|---|');
const base = { cpu: median(cpu[0]), wall: median(wall[0]) };
cases.forEach((c, i) => {
  const rc = median(cpu[i]) / base.cpu;
  const rw = median(wall[i]) / base.wall;
  const goal = i === 0 ? '' : `<= ${GOAL}x`;
  const met = i === 0 ? '' : rc <= GOAL ? 'yes' : '**no**';
  console.log(`| ${c.name} | ${median(cpu[i]).toFixed(0)} | ${rc.toFixed(2)}x | ${median(wall[i]).toFixed(0)} | ${rw.toFixed(2)}x | ${goal} | ${met} |`);
});
