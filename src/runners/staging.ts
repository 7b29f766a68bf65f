/**
 * Where a job runs on a node: the project itself on the local node, a fresh copy under the
 * node's `work_dir` on an SSH node (uploaded unless `upload: false`), removed after the run
 * unless `keep_remote`; `artifacts:` fetched back after. Shared by the runners that run the user's
 * files on nodes.
 */
import path from 'node:path';
import { isInnerPath } from '../config/paths.js';
import { NodeError, TransferCancelled, TransferError } from '../exec/executor.js';
import { removedLine } from '../exec/ssh-job-dirs.js';
import type { RunnerContext, RunnerNode } from '../core/runner-contract.js';

/** The job's directory on an SSH node. */
export function remoteJobDir(ctx: Pick<RunnerContext, 'job'>, node: RunnerNode): string {
  return path.posix.join(node.remoteBase ?? '/tmp/marteau-tui', ctx.job.id);
}

/**
 * Create the job's directory on an SSH node (or `dir`, another of the job's, e.g. a runner's
 * scratch space beside it), marked as this run's unless `keep_remote` (a copy left by a run lost
 * mid-job is removed by a later job's, see ssh-job-dirs.ts); says which earlier copies that
 * removed. Returns the directory.
 */
export async function makeRemoteJobDir(ctx: RunnerContext, node: RunnerNode, dir = remoteJobDir(ctx, node)): Promise<string> {
  const removed = await node.executor.makeJobDir(dir, { own: !ctx.config.keepRemote });
  if (removed.length) ctx.log(removedLine(removed), { node: node.name, stream: 'engine' });
  return dir;
}

/** Make the project available on the node; returns the directory to run in (the job's `wdir`). */
export async function stageProject(ctx: RunnerContext, node: RunnerNode): Promise<string> {
  if (node.kind === 'local') return ctx.config.workDir;
  const dir = await makeRemoteJobDir(ctx, node);
  if (ctx.config.upload) {
    ctx.log(`copying ${ctx.config.workDir} to ${dir}`, { node: node.name, stream: 'engine' });
    try {
      await node.executor.put(ctx.config.workDir, dir, { signal: ctx.signal });
    } catch (e) {
      if (e instanceof TransferError && !(e instanceof TransferCancelled)) throw new TransferError(`cannot copy the project to node "${node.name}": ${e.message}`);
      throw e;
    }
  }
  return dir;
}

/** The job's environment on a node, with which node of how many it is. */
export function nodeEnv(ctx: RunnerContext, node: RunnerNode, nodes: number): Record<string, string> {
  return { ...ctx.env, MARTEAU_NODE: node.name, MARTEAU_NODE_INDEX: String(node.index), MARTEAU_NODE_COUNT: String(nodes) };
}

/** Remove the job's copy from an SSH node (not after the node itself failed: it cannot answer). */
export async function cleanupStage(ctx: RunnerContext, node: RunnerNode, error?: Error): Promise<void> {
  if (node.kind === 'local' || ctx.config.keepRemote || error instanceof NodeError) return;
  await node.executor.remove(remoteJobDir(ctx, node)).catch((e: Error) => {
    ctx.log(`cannot remove the job copy: ${e.message}`, { node: node.name, stream: 'engine', level: 'warn' });
  });
}

/** Files of the job's run directory on a node (`artifacts:`), fetched to `<results>/nodes/<node>/`; returns their paths under the result dir. */
export async function fetchNodeArtifacts(ctx: RunnerContext, node: RunnerNode, dir: string, rels: readonly string[]): Promise<string[]> {
  const fetched: string[] = [];
  for (const rel of rels) {
    // The config checks this too; a job snapshot from an older version must not escape either.
    if (!isInnerPath(rel)) {
      ctx.log(`artifact ${rel} is not a path inside the project: not fetched`, { node: node.name, stream: 'engine', level: 'warn' });
      continue;
    }
    const from = node.kind === 'local' ? path.join(dir, rel) : path.posix.join(dir, rel);
    const to = path.join('nodes', node.name, rel);
    try {
      if (!(await node.executor.exists(from))) {
        ctx.log(`artifact ${rel} was not written`, { node: node.name, stream: 'engine', level: 'warn' });
        continue;
      }
      await node.executor.get(from, path.join(ctx.resultDir, to), { signal: ctx.signal });
      fetched.push(to);
    } catch (e) {
      if (e instanceof TransferCancelled) throw e;
      ctx.log(`cannot fetch ${rel}: ${(e as Error).message}`, { node: node.name, stream: 'engine', level: 'warn' });
    }
  }
  return fetched;
}
