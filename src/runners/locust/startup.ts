/** Explaining why Locust did not start, from what it printed (pure). */

// "[2026-11-25 22:39:38,883] host/ERROR/locust.main: No User class found!"
const LOG_PREFIX = /^\[[^\]]+\] [^/]*\/(?:ERROR|CRITICAL)\/[\w.]+: /;
const EXCEPTION = /^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)|SyntaxError|IndentationError|TabError|KeyboardInterrupt)(?::\s*(.*))?$/;
const FRAME = /^\s*File "(.+)", line (\d+)/;

/**
 * One line saying why Locust did not start, from the end of its stderr: the Python exception
 * with the file:line of the user's code it came from (library frames are skipped), else
 * Locust's own error message ("Could not find ...", "No User class found!").
 */
export function locustStartupError(stderr: readonly string[], locustfile: string): string {
  const lines = stderr.map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  let exception: string | undefined;
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = EXCEPTION.exec(lines[i]);
    if (m) {
      exception = m[2] ? `${m[1]}: ${m[2]}` : m[1];
      at = i;
      break;
    }
  }
  if (exception) {
    for (let i = at - 1; i >= 0; i--) {
      const f = FRAME.exec(lines[i]);
      if (!f || /[\\/](site|dist)-packages[\\/]|^<frozen /.test(f[1])) continue;
      const file = f[1] === locustfile || f[1].endsWith(`/${locustfile}`) ? locustfile : f[1];
      return `${file}:${f[2]}: ${exception}`;
    }
    return exception;
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    if (LOG_PREFIX.test(lines[i])) return lines[i].replace(LOG_PREFIX, '');
  }
  const last = lines.find((l) => /^Could not find|^Invalid file|^error:/i.test(l)) ?? lines[lines.length - 1];
  return last?.trim() ?? 'it exited before starting, with no message';
}
