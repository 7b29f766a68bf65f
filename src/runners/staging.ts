/**
 * Where a job runs on a node, for runners that run a tool in the project: the project directory
 * itself on a local node, a fresh copy under the node's `work_dir` on an SSH node (removed after
 * the run unless `keep_remote`).
 */
import path from 'node:path';
import { NodeError, TransferError } from '../exec/executor.js';
import type { RunnerContext, RunnerNode } from './runner.js';

/** The job's directory on an SSH node. */
export function remoteJobDir(ctx: RunnerContext, node: RunnerNode): string {
  return path.posix.join(node.remoteBase ?? '/tmp/marteau-tui', ctx.job.id);
}

/** Make the job's directory ready on the node (copying the project over SSH) and return it. */
export async function stageProject(ctx: RunnerContext, node: RunnerNode): Promise<string> {
  if (node.kind === 'local') return ctx.config.workDir;
  const dir = remoteJobDir(ctx, node);
  await node.executor.mkdirp(dir);
  if (ctx.config.upload) {
    ctx.log(`copying ${ctx.config.workDir} to ${dir}`, { node: node.name, stream: 'engine' });
    try {
      await node.executor.put(ctx.config.workDir, dir);
    } catch (e) {
      if (e instanceof TransferError) throw new TransferError(`cannot copy the project to node "${node.name}": ${e.message}`);
      throw e;
    }
  }
  return dir;
}

/** The job's environment on a node, with which node of how many it is. */
export function nodeEnv(ctx: RunnerContext, node: RunnerNode, nodes: number): Record<string, string> {
  return { ...ctx.env, MARTEAU_NODE: node.name, MARTEAU_NODE_INDEX: String(node.index), MARTEAU_NODE_COUNT: String(nodes) };
}

/** Remove the SSH copy; `error` is what ended the node's run (a lost node is left alone). */
export async function removeStagedProject(ctx: RunnerContext, node: RunnerNode, error?: Error): Promise<void> {
  if (node.kind === 'local' || ctx.config.keepRemote || error instanceof NodeError) return;
  await node.executor.remove(remoteJobDir(ctx, node)).catch((e: Error) => {
    ctx.log(`cannot remove the job copy: ${e.message}`, { node: node.name, stream: 'engine', level: 'warn' });
  });
}
