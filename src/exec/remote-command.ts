/**
 * The one command line sent over SSH for a run. The remote login shell parses it, so every
 * user-supplied piece (cwd, env values, argv) is a single-quoted word; the fixed parts are ours.
 *
 * Process group: OpenSSH starts each exec session with setsid(), so the login shell leads its
 * own process group and `$$` is that group's id. We print it on the first stdout line, then
 * `exec` the program in the same process; `kill -TERM -PGID` then reaches it and its children.
 *
 * Connection watch: when the engine dies (kill -9, a crash) its SSH connection drops, but the
 * program goes on (sshd sends no SIGHUP without a terminal) and a silent load generator would
 * load the app until it next writes to its closed output. So a sentinel in the same group
 * watches the sshd process that serves the session (the shell's parent), which exits with the
 * connection, and then kills the group. Started in a subshell that exits at once, it is not a
 * child of the program; the group kill at the end of a run stops it too. Every run also gets a
 * heartbeat on the session's stdin: see HEARTBEAT_WATCH.
 */
import { NodeError } from './executor.js';
import { QuoteError, shellQuote, ENV_NAME } from './quote.js';

export const PGID_MARKER = '@@marteau-pgid ';
/**
 * The line the wrapper prints instead of starting a program its shell cannot find: the shell's
 * own failed `exec` exits 127 as a program may itself, and only this tells the node's lack
 * (exit 3) from the test's failure (1), as the local executor knows it from spawn's ENOENT.
 */
export const NOT_FOUND_MARKER = '@@marteau-not-found';

export function remoteCommand(argv: readonly string[], o: { cwd?: string; env?: Readonly<Record<string, string>>; input?: boolean } = {}): string {
  if (!argv.length) throw new QuoteError('empty command');
  const env = Object.entries(o.env ?? {});
  for (const [k] of env) if (!ENV_NAME.test(k)) throw new QuoteError(`bad environment variable name ${JSON.stringify(k)}`);
  // `env` would take a program name containing "=" for one more assignment.
  if (env.length && argv[0].includes('=')) throw new QuoteError(`a program name cannot contain "=": ${JSON.stringify(argv[0])}`);
  // The marker comes first: a run that ends without it was never started by a POSIX shell
  // (a login shell of /bin/false or nologin), while a failed `cd` (or mkfifo) is the command's
  // own failure. The session's stdin carries the heartbeat (fd 3, for the sentinel); the program
  // reads /dev/null, as a local run's closed stdin, or with `input` the lines the sentinel's
  // reader passes on through a FIFO (the heartbeat's empty lines left out).
  const parts = ['exec 3<&0', `printf '${PGID_MARKER}%s\\n' "$$"`];
  // One left by a crashed run of an earlier group of this id would make mkfifo fail.
  if (o.input) parts.push(`rm -f "${inputFifo('$$')}"`, `mkfifo -m 600 "${inputFifo('$$')}"`);
  parts.push(watch(o.input ? FORWARDING_WATCH : HEARTBEAT_WATCH));
  if (o.cwd !== undefined) parts.push(`cd ${shellQuote(o.cwd)}`);
  parts.push(`{ ${startable(argv[0], o.env)} || { printf '${NOT_FOUND_MARKER}\\n'; exit 127; }; }`);
  const stdin = o.input ? ` <"${inputFifo('$$')}" 3<&-` : ' </dev/null 3<&-';
  const run = env.length
    ? `exec env ${env.map(([k, v]) => shellQuote(`${k}=${v}`)).join(' ')} ${argv.map(shellQuote).join(' ')}${stdin}`
    : `exec ${argv.map(shellQuote).join(' ')}${stdin}`;
  parts.push(run);
  return parts.join(' && ');
}

/**
 * Where `program` is looked for, as `exec` looks: a path as it is; a name on the PATH the program
 * gets, the job's own when it sets one. The wrapper's test and the not-started text both read it.
 */
function lookupOf(program: string, env: Readonly<Record<string, string>> | undefined): { path: string } | { name: string; jobPath?: string } {
  return program.includes('/') ? { path: program } : { name: program, jobPath: env?.PATH };
}

/** The test `exec` would pass: an executable file at a path (dash's `command -v` takes any file there), a name found on its PATH. */
function startable(program: string, env: Readonly<Record<string, string>> | undefined): string {
  const l = lookupOf(program, env);
  if ('path' in l) return `{ [ -f ${shellQuote(l.path)} ] && [ -x ${shellQuote(l.path)} ]; }`;
  return `${l.jobPath === undefined ? '' : `PATH=${shellQuote(l.jobPath)} `}command -v ${shellQuote(l.name)} >/dev/null 2>&1`;
}

/** Why the wrapper did not start `program` (its NOT_FOUND_MARKER line), in the local executor's words for the same case. */
export function notFoundText(program: string, env: Readonly<Record<string, string>> | undefined, node: string): string {
  const l = lookupOf(program, env);
  if ('path' in l) return `no executable file there on node "${node}" (check its path, and that it has its x bit)`;
  if (l.jobPath !== undefined) return `not found on the PATH the job sets, on node "${node}" (fix the job's PATH, or give its full path)`;
  return `not found on the PATH of node "${node}" (install it there, or give its full path)`;
}

/** How often the engine writes a line to a heartbeat run's stdin. */
export const HEARTBEAT_MS = 5000;
/** Seconds without a heartbeat after which the sentinel kills the group (four missed beats). */
const HEARTBEAT_LIMIT_S = 20;

const watch = (script: string) => `(sh -c '${script}' marteau-watch "$PPID" "$$" </dev/null >/dev/null 2>&1 &)`;

/**
 * A network cut that sshd cannot see (no FIN, no RST: sshd keeps the session for hours without
 * ClientAliveInterval) ends the group once the engine's heartbeats stop, as a dropped connection
 * (sshd, the shell's parent, gone) does within about a second: a reader marks each line by
 * making a directory, which the check once a second removes. It is named after the group, in
 * /tmp, and is a directory because mkdir and rmdir never follow a symlink: a file written there
 * would be written through a link another user of the node planted under that name.
 */
const sentinel = (reader: string) => [
  `f=${heartbeatMark('$2')}`,
  `${reader} <&3 & exec 3<&-`,
  'n=0',
  `while kill -0 "$1" 2>/dev/null && [ "$n" -lt ${HEARTBEAT_LIMIT_S} ]; do sleep 1; if rmdir "$f" 2>/dev/null; then n=0; else n=$((n+1)); fi; done`,
  'rmdir "$f" 2>/dev/null',
  'kill -KILL "-$2"',
].join('; ');

const HEARTBEAT_WATCH = sentinel('(while read -r _; do mkdir "$f" 2>/dev/null; done)');

/**
 * The same for a program that reads its stdin (the builtin agent's commands): the reader passes
 * each line but the heartbeat's empty ones to the FIFO the program reads, and unlinks the FIFO
 * once both ends are open. The program sees end-of-file when the session's stdin ends.
 */
const FORWARDING_WATCH = sentinel(`(p=${inputFifo('$2')}; exec 4>"$p"; rm -f "$p"; while IFS= read -r l; do mkdir "$f" 2>/dev/null; [ -z "$l" ] || printf "%s\\n" "$l" >&4; done)`);

function heartbeatMark(pgid: string): string {
  return `/tmp/.marteau-alive-${pgid}`;
}

function inputFifo(pgid: string): string {
  return `/tmp/.marteau-in-${pgid}`;
}

/**
 * `kill` of a whole remote group; quiet when it is already gone. The node's login shell runs it:
 * dash (Debian's /bin/sh) takes no `--` ("Illegal number: -") and would kill nothing, while the
 * signal first and the negative id as the next word is read alike by dash, bash, zsh and busybox.
 */
export function killGroupCommand(pgid: number, signal: 'TERM' | 'KILL'): string {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new QuoteError(`bad process group ${pgid}`);
  // The heartbeat mark and a FIFO no program opened too: what would remove them dies with the group.
  return `kill -${signal} -${pgid} 2>/dev/null; rmdir ${heartbeatMark(String(pgid))} 2>/dev/null; rm -f ${inputFifo(String(pgid))}; true`;
}

/** The hint for a node whose login shell runs no command: /bin/false, nologin, or a ForceCommand. */
const POSIX_SHELL_HINT = "give the node's user a POSIX login shell (sh, bash, dash, zsh), e.g. usermod -s /bin/bash USER on the node, and remove any ForceCommand for it in sshd_config";

/** A run whose session ended before our wrapper printed its marker: the login shell never ran it. */
export function notRunByShell(node: string, address: string, exit: { code: number | null; signal: string | null }, said: readonly string[]): NodeError {
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited ${exit.code}`;
  const what = said.length ? `, saying: ${said.join(' / ').slice(0, 300)}` : ' without a word';
  return new NodeError(node, `the login shell of ${address} did not run the command (it ${how}${what})`, POSIX_SHELL_HINT);
}
