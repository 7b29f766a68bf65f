/** Throwaway projects (a directory with a .marteau.yml) and node lists for engine tests. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { NodeConfig, NodesConfig } from '../../src/config/nodes.js';

const created: string[] = [];

/** A temp dir removed by `removeTemp()` (call it in afterAll). */
export async function temp(prefix: string): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), `marteau-${prefix}-`));
  created.push(d);
  return d;
}

export async function removeTemp(): Promise<void> {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export async function project(yaml: string, files: Record<string, string> = {}, dirName = 'project'): Promise<string> {
  const base = await temp('proj');
  const dir = path.join(base, dirName);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, '.marteau.yml'), yaml);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

export function localNodes(maxJobs = 1, extra: NodeConfig[] = []): NodesConfig {
  return {
    file: '(test nodes)',
    nodes: [{ type: 'local', name: 'local', maxJobs, tags: [], enabled: true }, ...extra],
    probeIntervalMs: 60_000,
    probeTimeoutMs: 2000,
  };
}

export async function stateDir(): Promise<string> {
  return temp('state');
}

/** YAML for a command given as argv (each item quoted safely for YAML). */
export function commandYaml(argv: string[]): string {
  return `command: [${argv.map((a) => JSON.stringify(a)).join(', ')}]`;
}
