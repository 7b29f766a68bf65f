/**
 * Keep a command going when its output stream fails: a reader gone (`| head -1`: EPIPE), a full
 * disk. Node emits that as an 'error' event, and an unheard one kills the process with a stack
 * trace: a `--ci` run mid-run (its jobs left interrupted), a proxy serving traffic, a report half
 * written. The failed stream is destroyed, so later writes are dropped; the work, its files and
 * the exit code are what count.
 */
const guarded = new WeakSet<object>();

export function surviveClosedOutput(...streams: NodeJS.WritableStream[]): void {
  for (const stream of streams) {
    if (guarded.has(stream) || typeof stream.on !== 'function') continue;
    guarded.add(stream);
    stream.on('error', () => {});
  }
}
