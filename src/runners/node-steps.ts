/**
 * What each of a job's nodes is doing before the load starts (copying the project, installing
 * deps, ...) and the last lines it printed: a node lost then leaves a report of no cycle that
 * says which node, at which step and what it printed until then, as a node lost mid-bench leaves
 * one of what it recorded, and the job's reason says the same step.
 */
import type { RunnerContext } from '../core/runner-contract.js';
import type { NodeError } from '../exec/executor.js';
import { lostAbort, type RunAbort } from './results.js';

/** The lines of a node a report keeps: enough for pip's error or a traceback's end. */
const TAIL_LINES = 20;

export class NodeSteps {
  private readonly doing = new Map<string, string>();
  private readonly tails = new Map<string, string[]>();
  /** The job's context, whose log keeps each node's last lines. */
  readonly ctx: RunnerContext;

  constructor(ctx: RunnerContext) {
    this.ctx = {
      ...ctx,
      log: (line, o) => {
        if (o?.node) {
          const tail = this.tails.get(o.node) ?? [];
          tail.push(line);
          if (tail.length > TAIL_LINES) tail.shift();
          this.tails.set(o.node, tail);
        }
        ctx.log(line, o);
      },
    };
  }

  /** `node` is now at `what`, e.g. 'copying the project to node "a"'. */
  at(node: string, what: string): void {
    this.doing.set(node, what);
  }

  /** The run's abort, its node lost at `at` before the load started: the step it was at, and its last lines. */
  lostAbort(e: NodeError, at: number): RunAbort {
    const before = this.doing.get(e.node) ?? `preparing node "${e.node}"`;
    return { ...lostAbort({ node: e.node, at, reason: e.detail }), before, output: [...(this.tails.get(e.node) ?? [])] };
  }

  /** The job's reason for the same loss: the lost connection's words, and where the run was. */
  lostReason(e: NodeError): string {
    return `${e.message} (while ${this.doing.get(e.node) ?? `preparing node "${e.node}"`}: no cycle ran)`;
  }
}
