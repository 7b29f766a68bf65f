/**
 * Directories on an SSH node, made and removed by internal commands (mkdir -p, rm -rf, a job's
 * own directory through the command below), for the SSH executor.
 *
 * Job copies on an SSH node that nobody removes: a job whose node (or engine) was lost mid-run
 * cannot clean up after itself, and over weeks its copies fill the node's work_dir. Each job
 * directory is created with a marker naming the sshd process serving the connection that made
 * it (`$PPID` of the login shell: it serves every channel of the connection and exits with it),
 * with that process's start time where /proc gives one (a reused pid is not the owner). The
 * command that creates one removes, beside it, the directories whose owner is gone; so does the
 * node's probe, over the node's work_dir, for a node that gets no job after a lost one.
 *
 * Only what we marked is removed: a directory (not a symlink), owned by the node's user, whose
 * marker is a regular file holding a pid. The base itself, unmarked directories (the bundles,
 * a `keep_remote` copy, anything the user put there) and what a symlink leads to are never
 * touched; `rm -rf` does not follow symlinks inside a copy either. A connection cut that sshd
 * does not see keeps its owner alive (sshd holds the session until TCP keepalive gives up), so
 * such a copy goes at a later job or probe.
 */
import path from 'node:path';
import { TransferError } from './executor.js';
import { shellQuote } from './quote.js';

export const OWNER_MARKER = '.marteau-owner';
/** Before each directory the command removed, on its stdout. */
const REMOVED = '@@marteau-removed ';

const SCRIPT = [
  // sweep: $2 is the base itself, and nothing is made.
  'if [ "$3" = sweep ]; then base=$2; d=; else d=$2; base=${d%/*}; fi',
  // Fields 3 (state) and 22 (start time) of /proc/PID/stat, counted after the command name
  // (which may hold spaces). A zombie is gone: only its parent has not reaped it (an init that
  // reaps nothing, in a container).
  'field() { [ -r "/proc/$1/stat" ] && sed "s/.*) //" "/proc/$1/stat" | cut -d" " -f"$2"; }',
  'started() { field "$1" 20; }',
  'alive() { { kill -0 "$1" 2>/dev/null || [ -d "/proc/$1" ]; } && [ "$(field "$1" 1)" != Z ] && [ "$(started "$1")" = "$2" ]; }',
  'if [ -n "$d" ]; then mkdir -p -- "$d" || exit 1; fi',
  `if [ "$3" = own ]; then printf "%s %s\\n" "$1" "$(started "$1")" >"$d/${OWNER_MARKER}" || exit 1; fi`,
  `for m in "$base"/*/${OWNER_MARKER}; do`,
  `  j=\${m%/${OWNER_MARKER}}`,
  '  { [ "$j" != "$d" ] && [ -f "$m" ] && [ ! -L "$m" ] && [ -d "$j" ] && [ ! -L "$j" ] && [ -O "$j" ]; } || continue',
  '  pid=; st=; read -r pid st <"$m"',
  '  case $pid in ""|*[!0-9]*) continue;; esac',
  '  alive "$pid" "$st" && continue',
  `  rm -rf -- "$j" && printf "${REMOVED}%s\\n" "$j"`,
  'done',
  'exit 0',
].join('\n');

/**
 * The command (for the login shell, which expands `$PPID`) that creates `dir`, marks it as this
 * connection's when `own`, and removes the marked siblings whose connection is gone.
 */
export function jobDirCommand(dir: string, own: boolean): string {
  // Its parent is swept: never the root or a top-level directory.
  if (dir.split('/').filter(Boolean).length < 2) throw new Error(`refusing to sweep beside ${JSON.stringify(dir)}`);
  return scriptCommand(dir, own ? 'own' : 'keep');
}

/** The command that removes the marked directories of `base` whose connection is gone, making nothing. */
export function sweepCommand(base: string): string {
  return scriptCommand(base.replace(/(.)\/+$/, '$1'), 'sweep');
}

function scriptCommand(dir: string, mode: 'own' | 'keep' | 'sweep'): string {
  if (!dir.startsWith('/') || dir.endsWith('/') || dir.split('/').includes('..')) throw new Error(`refusing to sweep ${JSON.stringify(dir)}`);
  return `sh -c ${shellQuote(SCRIPT)} marteau-jobdir "$PPID" ${shellQuote(dir)} ${mode}`;
}

/** The directories the command said it removed. */
export function removedDirs(output: string): string[] {
  return output.split('\n').flatMap((l) => (l.startsWith(REMOVED) ? [l.slice(REMOVED.length)] : []));
}

/** What a log says of the directories a job's directory creation or a probe removed. */
export function removedLine(removed: readonly string[]): string {
  return `removed ${removed.length} job ${removed.length === 1 ? 'copy' : 'copies'} left by runs lost mid-job: ${removed.join(', ')}`;
}

/** An internal command's end: its exit status (null when none came) and its output, both streams. */
export interface SimpleResult {
  code: number | null;
  signal?: string;
  output: string;
}

/** Directories on one node, through its executor's internal commands (each may be asked again). */
export class RemoteDirs {
  constructor(
    private readonly node: string,
    private readonly simple: (argv: readonly string[] | string) => Promise<SimpleResult>,
    /** How many times `simple` asks a command whose sessions end without a word. */
    private readonly tries: number,
  ) {}

  async mkdirp(remotePath: string): Promise<void> {
    this.created(remotePath, await this.simple(['mkdir', '-p', '--', remotePath]));
  }

  /** A job's directory (jobDirCommand); the lost jobs' directories removed beside it. */
  async makeJobDir(remotePath: string, o: { own: boolean }): Promise<string[]> {
    return removedDirs(this.created(remotePath, await this.simple(jobDirCommand(remotePath, o.own))).output);
  }

  /** Remove the lost jobs' directories in `base` (the node's work_dir); returns them. */
  async sweep(base: string): Promise<string[]> {
    const r = await this.simple(sweepCommand(base));
    if (r.code !== 0) throw new TransferError(`cannot sweep ${base} on node "${this.node}": ${this.why(r, 'the sweep')}`);
    return removedDirs(r.output);
  }

  async remove(remotePath: string): Promise<void> {
    // A guard against a bug turning this into `rm -rf /` or the home directory.
    if (!path.posix.isAbsolute(remotePath) || remotePath.split('/').filter(Boolean).length < 2) {
      throw new Error(`refusing to remove ${JSON.stringify(remotePath)} on node "${this.node}"`);
    }
    await this.simple(['rm', '-rf', '--', remotePath]);
  }

  private created(remotePath: string, r: SimpleResult): SimpleResult {
    if (r.code === 0) return r;
    throw new TransferError(`cannot create ${remotePath} on node "${this.node}": ${this.why(r, 'mkdir')}`);
  }

  /** Why a command failed: what it said, else how it ended. */
  private why(r: SimpleResult, what: string): string {
    return r.output.trim() || (r.signal ? `${what} was killed by SIG${r.signal}` : r.code === null ? `the session ended without an exit status (${this.tries} times)` : `exit ${r.code}`);
  }
}
