/**
 * Where a job runs on a node: the project itself on the local node, a fresh copy under the
 * node's `work_dir` on an SSH node (uploaded unless `upload: false`), removed after the run
 * unless `keep_remote`. Shared by the runners that run the user's files on nodes.
 */
import path from 'node:path';
import { NodeError, TransferError } from '../exec/executor.js';
import type { RunnerContext, RunnerNode } from './runner.js';

/** The job's directory on an SSH node. */
export function remoteJobDir(ctx: Pick<RunnerContext, 'job'>, node: RunnerNode): string {
  return path.posix.join(node.remoteBase ?? '/tmp/marteau-tui', ctx.job.id);
}

/** Make the project available on the node; returns the directory to run in (the job's `wdir`). */
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

/** Remove the job's copy from an SSH node (not after the node itself failed: it cannot answer). */
export async function cleanupStage(ctx: RunnerContext, node: RunnerNode, error?: Error): Promise<void> {
  if (node.kind === 'local' || ctx.config.keepRemote || error instanceof NodeError) return;
  await node.executor.remove(remoteJobDir(ctx, node)).catch((e: Error) => {
    ctx.log(`cannot remove the job copy: ${e.message}`, { node: node.name, stream: 'engine', level: 'warn' });
  });
}
