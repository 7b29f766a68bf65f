/** A command's failure told as a user reads it: one line and an exit code, no stack trace. */
import path from 'node:path';
import { QueueError } from '../core/queue.js';
import { QueueUrlError } from '../core/queue-url.js';
import { EXIT, UsageError } from '../core/exit.js';
import type { Io } from './proxy-command.js';
import { fsReason } from '../fs/errors.js';

/**
 * Print a user mistake (or a machine's fault) as one line and return its exit code, for commands
 * that go on past it; anything else is a bug and is thrown. `target` is named unless the message does.
 */
export async function reportUserError(e: unknown, io: Io, target?: string): Promise<number> {
  const t = await translate(e);
  if (!(t instanceof UsageError)) throw t;
  const named = target === undefined || t.message.includes(target) || t.message.includes(path.resolve(target));
  io.err.write(`marteau-tui: ${named ? '' : `${target}: `}${t.message}\n`);
  return t.code;
}

/** A disk, a quota or a file size limit full. */
const FULL = ['ENOSPC', 'EDQUOT', 'EFBIG'];

/** User mistakes become one message and exit 2 (3 when a machine is at fault). */
export async function translate(e: unknown): Promise<unknown> {
  // Loaded already when the command got this far; importing them here keeps them off the start.
  const [{ QueueOfflineError }, { ConfigError }, { SourceError }] = await Promise.all([
    import('../core/redis-queue.js'),
    import('../config/errors.js'),
    import('../core/source.js'),
  ]);
  if (e instanceof QueueOfflineError) return new UsageError(e.message, EXIT.infrastructure);
  if (e instanceof ConfigError || e instanceof QueueError) return new UsageError(e.message, EXIT.usage);
  if (e instanceof QueueUrlError) return new UsageError(`--queue: ${e.message}`, EXIT.usage);
  if (e instanceof SourceError) return new UsageError(e.message, EXIT.infrastructure);
  if (e instanceof Error && /^no node "/.test(e.message)) return new UsageError(e.message, EXIT.usage);
  // The state dir (or a project file) cannot be used: say which path and why, no stack trace.
  const errno = e as NodeJS.ErrnoException;
  const fsCodes = ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'EIO', ...FULL, ...(errno?.syscall === 'mkdir' ? ['ENOENT'] : [])];
  if (errno?.code && errno.path && fsCodes.includes(errno.code)) {
    const hint = FULL.includes(errno.code)
      ? 'free some space there, or give another --state-dir'
      : errno.code === 'EIO'
        ? 'the disk failed: check it (dmesg), or give another --state-dir'
        : 'check --state-dir and its permissions';
    return new UsageError(`${errno.syscall === 'mkdir' ? 'cannot create ' : ''}${errno.path}: ${fsReason(errno)} (${hint})`, EXIT.infrastructure);
  }
  return e;
}
