/**
 * npm run bench:journal — how long loading a queue journal of 10k finished jobs takes, as a
 * ratio to Node's own start-up time (`node -e 0`), both measured in this run on this machine.
 *
 * Three figures, medians of several cold processes each:
 *   node start-up            node -e 0
 *   journal load             a fresh process opening the JournalQueue (fold of every record)
 *   `marteau-tui queue`      the real CLI listing the queue (start-up + load + formatting)
 * Set BENCH_JOBS to change the journal size.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JournalRecord } from '../src/core/jobs.js';
import { JournalQueue } from '../src/core/queue.js';
import { median } from './median.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

/** Child mode: load the journal once and print the milliseconds it took. */
async function loadOnce(file: string): Promise<void> {
  const t0 = performance.now();
  const q = new JournalQueue(file);
  await q.open();
  const n = q.list().length;
  const ms = performance.now() - t0;
  await q.close();
  process.stdout.write(`${JSON.stringify({ ms, jobs: n })}\n`);
}

/** A journal as a busy queue leaves it: per job enqueued, claimed, a process, finished. */
function writeJournal(file: string, jobs: number): void {
  const owner = { host: os.hostname(), pid: 4242, start: 123456 };
  const lines: string[] = [];
  let at = Date.now() - jobs * 10_000;
  for (let i = 0; i < jobs; i++) {
    const id = randomBytes(8).toString('hex');
    const claim = randomBytes(8).toString('hex');
    const dir = `/home/user/projects/shop-${i % 50}`;
    const records: JournalRecord[] = [
      { t: 'enqueued', at: at++, by: owner, job: { id, name: `shop load test ${i}`, source: { kind: 'dir', dir, configFile: `${dir}/.marteau.yml` }, runner: 'command', nodes: 1 + (i % 3), nodeTags: [], origin: 'ci' } },
      { t: 'claimed', at: (at += 500), id, claim, owner, nodes: [{ name: 'local', max: 4 }] },
      { t: 'proc', at: (at += 5), id, claim, node: 'local', pgid: 10_000 + (i % 20_000) },
      i % 10 === 0
        ? { t: 'finished', at: (at += 9000), id, claim, status: 'failed', failure: 'test', reason: 'node "local": 1', exitCode: 1 }
        : { t: 'finished', at: (at += 9000), id, claim, status: 'succeeded', exitCode: 0 },
    ];
    for (const r of records) lines.push(JSON.stringify(r));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

function timeProcess(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited with ${r.status}`);
  return ms;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--load') return loadOnce(process.argv[3]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'marteau-bench-journal-'));
  const file = path.join(dir, 'journal.jsonl');
  writeJournal(file, JOBS);
  const mb = statSync(file).size / 1048576;
  process.stdout.write(`journal: ${JOBS} jobs, ${JOBS * 4} records, ${mb.toFixed(1)} MB (${file})\n`);

  const startup: number[] = [];
  const load: number[] = [];
  const loadProcess: number[] = [];
  const cliQueue: number[] = [];
  const bin = path.resolve(here, '..', '..', 'bin', 'marteau-tui.js');
  for (let i = 0; i < ROUNDS; i++) {
    // Interleaved, so that machine noise hits every figure alike.
    startup.push(timeProcess(['-e', '0']));
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--load', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    loadProcess.push(performance.now() - t0);
    const out = JSON.parse(String(r.stdout)) as { ms: number; jobs: number };
    if (out.jobs !== JOBS) throw new Error(`loaded ${out.jobs} jobs, expected ${JOBS}`);
    load.push(out.ms);
    cliQueue.push(timeProcess([bin, 'queue', '--state-dir', dir, '--limit', '20']));
  }
  const base = median(startup);
  const row = (label: string, ms: number) => process.stdout.write(`${label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms   ${(ms / base).toFixed(2).padStart(6)} x node start-up\n`);
  process.stdout.write(`medians of ${ROUNDS} cold processes each:\n`);
  row('node start-up (node -e 0)', base);
  row(`journal load inside a process (${JOBS} jobs)`, median(load));
  row('process: start-up + journal load', median(loadProcess));
  row('`marteau-tui queue` (CLI, start-up + load)', median(cliQueue));
  rmSync(dir, { recursive: true, force: true });
}

void main();
