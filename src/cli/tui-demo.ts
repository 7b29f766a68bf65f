/**
 * The TUI demo (`npm start` on a terminal): the demo project (demo-project.ts) with its job
 * already queued, and the resilience sweep of the sweep demo shop one prompt away. Says where
 * the demo's queue, results and reports are on exit. Numbers move within seconds; the
 * Behaviors pane breaks and heals the backend live.
 */
import type { Engine } from '../core/engine.js';
import { EXIT } from '../core/exit.js';
import type { TuiBackend } from '../ui/backend.js';
import type { MessageLog } from '../ui/message-log.js';
import { begunNow, inkOutOfCi, runTui } from '../ui/run.js';
import { StartingBackend } from '../ui/starting-backend.js';

export interface TuiDemo {
  engine: Engine;
  backend: TuiBackend;
  /** Where the demo keeps its queue, results and reports. */
  dir: string;
  /** The demo shop's sweep project offered in the enqueue prompt, when installed. */
  sweep?: string;
  close(): Promise<void>;
}

/**
 * The demo's engine and backend, the load job queued. The sweep of the demo shop is offered
 * first in the enqueue prompt (e, Tab, Enter) and said so on the first screen; the node runs two
 * jobs at once here, so the sweep starts at once beside the load and its matrix is there in
 * under a minute. `messages`: the log the backend says things in (the first frame's).
 */
export async function startTuiDemo(seconds: number, o: { stateDir?: string; behaviors?: string; messages?: MessageLog }): Promise<TuiDemo> {
  // Loaded here, not above: the first frame does not wait for the engine, the demo app and the behaviors.
  const [{ Engine }, { engineBackend }, { prepareDemo }, { demoSweepDir }, { loadRunners }] = await Promise.all([
    import('../core/engine.js'),
    import('../ui/engine-backend.js'),
    import('./demo-project.js'),
    import('./demo-sweep-dir.js'),
    import('../report/runners.js'),
  ]);
  const demo = await prepareDemo(seconds, o);
  const { dir, project, config, nodes } = demo;
  const engine = new Engine({ stateDir: dir, nodes, run: 'all', cwd: process.cwd(), runners: loadRunners });
  await engine.start();
  const sweep = demoSweepDir();
  // Paths typed in the enqueue prompt are the user's: they start from the directory the demo was run in.
  const backend = engineBackend(engine, { cwd: process.cwd(), suggestions: [...(sweep ? [sweep] : []), config], bell: () => process.stdout.write('\x07'), messages: o.messages });
  try {
    await engine.enqueue(project, { origin: 'demo' });
  } catch (e) {
    backend.stop();
    await engine.stop();
    await demo.close();
    throw e;
  }
  if (sweep) backend.messages.push('info', `press e, Tab, Enter: the resilience sweep of a demo shop (redis behind a chaos proxy, PostgreSQL killed for real), its matrix in under a minute (o opens the report)`);
  return {
    engine,
    backend,
    dir,
    ...(sweep ? { sweep } : {}),
    async close() {
      backend.stop();
      await engine.stop();
      await demo.close();
    },
  };
}

export async function runTuiDemo(seconds: number, o: { stateDir?: string; behaviors?: string; out: NodeJS.WritableStream }): Promise<number> {
  const starting = new StartingBackend(process.cwd());
  let demo: TuiDemo | undefined;
  let code: number = EXIT.ok;
  // The demo app, the engine and the job queued start beside the first frame, which waits for
  // none of them: on a busy machine they took seconds of a blank screen.
  await inkOutOfCi();
  const early = begunNow(async () => {
    demo = await startTuiDemo(seconds, { ...o, messages: starting.messages });
  });
  try {
    const { interrupted } = await runTui(starting, 'demo', undefined, undefined, async (closed) => {
      await early.afterFirstFrame(closed);
      if (demo) starting.attach(demo.backend);
    });
    code = interrupted ? EXIT.interrupted : EXIT.ok;
  } finally {
    await early.settled;
    await demo?.close();
  }
  if (!demo) return code;
  o.out.write(`demo: its queue, results and reports are kept in ${demo.dir}\n`);
  for (const j of demo.engine.getSnapshot().jobs) {
    o.out.write(`  ${j.id.slice(0, 8)} ${j.name} ${j.status}: ${j.report ? `report ${j.report}` : `results ${j.resultDir}`}\n`);
  }
  return code;
}
