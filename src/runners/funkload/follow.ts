/**
 * A copy of fl-run-bench's result XML as FunkLoad writes it on an SSH node (its logger flushes
 * every record), streamed by `tail -F` from the first byte into the job's result file. Should the
 * node be lost mid-bench, its own file can no longer be fetched: this copy, up to the last line
 * received, is what the report is made of. A bench that ends replaces it with the fetched file.
 */
import { NodeError } from '../../exec/executor.js';
import type { RunnerContext, RunnerNode } from '../../core/runner-contract.js';
import { LineBatch } from '../funkload-writer.js';

/** A result line is a sample or a traceback: never cut, within a bound. */
const MAX_RESULT_LINE_CHARS = 4 * 1024 * 1024;

/** Follows `remote` into `local` until `signal` (the bench's end) or the node's loss; never throws. */
export async function followResultFile(ctx: RunnerContext, node: RunnerNode, remote: string, local: string, signal: AbortSignal): Promise<void> {
  const copy = LineBatch.file(local);
  try {
    await node.executor.run(['tail', '-c', '+1', '-F', remote], {
      signal,
      maxLineChars: MAX_RESULT_LINE_CHARS,
      onLine: (line, stream) => stream === 'stdout' && copy.line(line),
      onStart: ({ pgid }) => ctx.recordProcess(node.name, pgid),
    });
  } catch (e) {
    // The node lost: the bench's own run says so. Anything else only costs the copy.
    if (!(e instanceof NodeError)) ctx.log(`cannot follow the result file ${remote} (${(e as Error).message}): a loss of the node mid-run would leave no report`, { node: node.name, stream: 'engine', level: 'warn' });
  } finally {
    copy.close();
  }
}
