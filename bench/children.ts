/** Processes a bench starts (servers, pipes, proxies), each printing one line when ready; all killed at the end. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const children: ChildProcess[] = [];

/** Run a compiled bench script (path relative to dist/bench) and wait for its first line. */
export function startNode(script: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve({ child, line: String(d).trim() }));
    child.once('exit', (c) => reject(new Error(`${script} exited with ${c}`)));
  });
}

/** Ask a bench/target.js proxy for its stats() over IPC. */
export function askStats<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send('stats');
  });
}

export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}
