/**
 * `marteau-tui demo` (`npm start`): on a terminal, the control center with the demo job queued
 * (tui-demo.ts); otherwise, or with --plain, the same job run headless as `--ci` runs one, its
 * lines printed, its queue, results and reports kept in the same place (demo-project.ts).
 */
import { demoSeconds } from './demo-seconds.js';
import type { Io } from './proxy-command.js';
import { runTuiDemo } from './tui-demo.js';

export async function runDemo(o: { duration: string; behaviors?: string; plain?: boolean; stateDir?: string }, io: Io): Promise<number> {
  const seconds = demoSeconds(o.duration, io.err);
  if (!o.plain && io.out.isTTY && process.stdin.isTTY) return runTuiDemo(seconds, { stateDir: o.stateDir, behaviors: o.behaviors, out: io.out });
  if (!o.plain) io.out.write('(not a terminal: the demo job headless, as `marteau-tui --ci` runs one, instead of the control center)\n');
  // Loaded here, not above: the control center's first frame does not wait for them.
  const [{ runCi }, { prepareDemo }] = await Promise.all([import('../ci/run-ci.js'), import('./demo-project.js')]);
  const demo = await prepareDemo(seconds, o);
  let code: number;
  try {
    code = await runCi({ target: demo.project, stateDir: demo.dir, nodes: demo.nodes, nodeWaitMs: 30_000 }, io);
  } finally {
    await demo.close();
  }
  io.out.write(`demo: its queue, results and reports are kept in ${demo.dir} (marteau-tui queue --state-dir ${demo.dir})\n`);
  io.out.write('next: `npm run sweep` (marteau-tui demo --sweep) sweeps the demo shop through every backend fault and prints the resilience matrix\n');
  return code;
}
