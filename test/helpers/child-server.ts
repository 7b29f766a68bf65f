/**
 * A small server in a node process of its own, so that a test can kill -9 it like a real backend
 * (an in-process server cannot die that way). `code` is an ES module run from the repository root
 * (so it can import the project's dependencies); it must print its listening port on a line.
 */
import { spawn } from 'node:child_process';
import { crashChild, type RunningProcessServer } from './servers.js';

export async function startChildServer(code: string, timeoutMs = 20_000): Promise<RunningProcessServer> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child server printed no port in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.stdout.on('data', (d) => {
      output += d;
      const m = /^(\d+)$/m.exec(output);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.stderr.on('data', (d) => { output += d; });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child server exited (${code}):\n${output}`)); });
  });
  return {
    host: '127.0.0.1',
    port,
    dir: process.cwd(),
    pid: child.pid!,
    crash: () => crashChild(child),
    stop: () => crashChild(child),
  };
}
