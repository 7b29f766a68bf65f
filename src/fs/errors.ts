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
