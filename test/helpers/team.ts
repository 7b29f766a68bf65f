/**
 * Team mode test parts: a traced job project, nodes files, real `marteau-tui worker` processes on
 * a queue URL (each with its own state dir, as on another machine) and viewer engines.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { NodesConfig } from '../../src/config/nodes.js';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import { parseQueueUrl } from '../../src/config/queue-url.js';
import { cli, type CliRun } from './marteau-cli.js';
import { project, stateDir, temp } from './projects.js';
import type { RunningRedis } from './servers.js';

/** Workers started by `worker()`; killed after the file's tests. */
export const started: CliRun[] = [];
afterAll(() => {
  for (const w of started.splice(0)) w.child.kill('SIGKILL');
});

const JOB = `
const fs = require('node:fs');
const { TRACE, HOLD_MS, MARTEAU_NODE: node, MARTEAU_JOB_ID: id } = process.env;
fs.appendFileSync(TRACE, \`start \${node} \${id} \${Date.now()}\\n\`);
console.log(\`hello from \${id}\`);
setTimeout(() => fs.appendFileSync(TRACE, \`end \${node} \${id} \${Date.now()}\\n\`), Number(HOLD_MS));
`;

/** A project whose job records its start and end (node, job id, time) in a trace file. */
export async function tracedProject(holdMs: number): Promise<{ dir: string; trace: string }> {
  const trace = path.join(await temp('trace'), 'trace.log');
  await writeFile(trace, '');
  const dir = await project(
    `name: team-job\nrunner: command\ncommand: [node, job.cjs]\ntimeout: 60s\nenv: {TRACE: ${JSON.stringify(trace)}, HOLD_MS: "${holdMs}"}\n`,
    { 'job.cjs': JOB },
  );
  return { dir, trace };
}

export async function nodesFile(yaml: string): Promise<string> {
  const file = path.join(await temp('nodes'), 'marteau.nodes.yml');
  await writeFile(file, yaml);
  return file;
}

export function urlOf(r: RunningRedis): string {
  return `redis://${r.host}:${r.port}/0`;
}

export async function worker(url: string, nodes: string, state?: string): Promise<CliRun> {
  const w = cli(['worker', '--queue', url, '--nodes', nodes, '--state-dir', state ?? (await stateDir())]);
  started.push(w);
  await w.waitFor(/marteau-tui worker: running queued jobs from redis:\/\//);
  return w;
}

/** An engine on the shared queue that runs nothing: it enqueues and watches, as a TUI elsewhere. */
export async function viewer(url: string): Promise<Engine> {
  const nodes: NodesConfig = { file: '(viewer)', nodes: [], probeIntervalMs: 60_000, probeTimeoutMs: 2000, queue: { url: parseQueueUrl(url), lostJobs: 'interrupt' } };
  const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes, run: 'none', probe: false });
  await e.start();
  return e;
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Trace {
  kind: 'start' | 'end';
  node: string;
  id: string;
  at: number;
}

export async function readTrace(file: string): Promise<Trace[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind, node, id, at] = l.split(' ');
      return { kind: kind as Trace['kind'], node, id, at: Number(at) };
    });
}

/** Most jobs seen at once on each node, from what the jobs themselves recorded. */
export function peakPerNode(trace: Trace[]): Map<string, number> {
  const peak = new Map<string, number>();
  const now = new Map<string, number>();
  // An end and a start at the same millisecond: the end first (the earlier job had finished).
  const sorted = [...trace].sort((a, b) => a.at - b.at || (a.kind === 'end' ? -1 : 1));
  for (const t of sorted) {
    const n = (now.get(t.node) ?? 0) + (t.kind === 'start' ? 1 : -1);
    now.set(t.node, n);
    peak.set(t.node, Math.max(peak.get(t.node) ?? 0, n));
  }
  return peak;
}
