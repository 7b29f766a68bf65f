/**
 * "ENOTDIR: not a directory" from Node's "ENOTDIR: not a directory, open '/dev/null/index.html'":
 * the code and the system's words without the call and path (the message names the path the
 * user gave). Undefined for anything that is not a system error.
 */
export function fsReason(e: unknown): string | undefined {
  const errno = e as NodeJS.ErrnoException | undefined;
  if (!errno || typeof errno.code !== 'string' || typeof errno.message !== 'string') return undefined;
  return errno.message.split(', ')[0];
}

/**
 * The error with the file it is about: Node names the path when open fails, not when a write on
 * the opened file does (ENOSPC, EDQUOT, EIO), and a message without it cannot say which disk.
 */
export function withPath(e: unknown, file: string): unknown {
  const errno = e as NodeJS.ErrnoException | undefined;
  if (!errno || typeof errno.code !== 'string' || errno.path !== undefined) return e;
  errno.path = file;
  // As Node words an open's error: "ENOSPC: no space left on device, write '/x/seed'".
  if (typeof errno.message === 'string') errno.message = `${errno.message} '${file}'`;
  return e;
}

/** An error as a failed system call of `syscall` on `file` gives it (code, path, syscall, message). */
export function systemError(code: string, words: string, syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${words}, ${syscall} '${file}'`), { code, path: file, syscall });
}

/** Why a file could not be read, in words (a key file, above all): a bare ENOENT tells a user nothing. */
export function unreadableWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'it is a directory', EACCES: 'permission denied (this user cannot read it)', ENOTDIR: 'a directory on its path is a file' };
  return (code && words[code]) ?? (e as Error).message ?? String(e);
}
