/**
 * How the engine runs programs on a node, local or remote, without caring which. Callers pass an
 * argv (never a shell string); the executor quotes it where a shell is in the way (SSH) and
 * streams output as lines. Cancelling kills the whole process group, so a tool's children go too.
 */

export type OutputStream = 'stdout' | 'stderr';

export interface RunOptions {
  /** Working directory on the node. */
  cwd?: string;
  /** Extra environment for this run (on top of the node's login/process environment). */
  env?: Readonly<Record<string, string>>;
  /** Aborting kills the process group: SIGTERM, then SIGKILL after `killGraceMs`. */
  signal?: AbortSignal;
  onLine?: (line: string, stream: OutputStream) => void;
  /** A stdout line not ended yet, as far as it was written (see LineSplitter); onLine still gets it whole. */
  onPartial?: (text: string) => void;
  /** Told the process group id as soon as it is known, so a crashed engine can clean up later. */
  onStart?: (proc: { pgid: number }) => void;
  killGraceMs?: number;
  /**
   * Given a writer to the process's stdin once it runs (without this option stdin is closed
   * locally and carries only the heartbeat over SSH). Lines written reach the program in order;
   * over SSH empty lines do not (they are the heartbeat).
   */
  input?: (write: (text: string) => void) => void;
  /**
   * The command may be asked again (it only reads, or doing it twice is doing it once): over SSH,
   * a session that ends without an exit status or any output is retried a few times.
   */
  idempotent?: boolean;
  /** A stdout line longer than this is cut (default MAX_LINE_CHARS): more room for lines that carry data. */
  maxLineChars?: number;
}

export interface RunResult {
  /** Exit status, or null when the process died from a signal. */
  exitCode: number | null;
  signal: string | null;
  /** True when the run ended because `signal` aborted. */
  cancelled: boolean;
  durationMs: number;
  /**
   * Why the program could not be started at all (not found, not executable, no such directory),
   * as said on its stderr line; its exitCode is then 127, as a shell's. Set apart from a program
   * that ran and exited 127 itself: the node lacks what the job needs, which is no test's failure.
   */
  notStarted?: string;
}

/**
 * What a node's executor tells the user that is no failure, without the node's name (the caller
 * knows it): a host key that `host_key: accept-new` recorded, as OpenSSH warns of one.
 */
export type NodeNotice = (detail: string) => void;

export interface Executor {
  readonly node: string;
  readonly kind: 'local' | 'ssh';
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Copy a local file or directory (recursively) to the node. */
  put(localPath: string, remotePath: string, options?: TransferOptions): Promise<void>;
  /** Copy a file from the node to a local path; an abort of `signal` stops it as it stops a put, and removes the part copied. */
  get(remotePath: string, localPath: string, options?: Pick<TransferOptions, 'signal'>): Promise<void>;
  /** Whether a path exists on the node. */
  exists(remotePath: string): Promise<boolean>;
  mkdirp(remotePath: string): Promise<void>;
  /**
   * Create a job's directory on the node and remove the job directories beside it that a run
   * lost mid-job (its node or engine gone) left marked (SSH: ssh-job-dirs.ts). With `own`, this
   * one is marked too, so that it goes the same way should this run be lost. Returns the
   * directories removed.
   */
  makeJobDir(remotePath: string, o: { own: boolean }): Promise<string[]>;
  remove(remotePath: string): Promise<void>;
  /** Kill a process group left by an earlier run (crash recovery); no error if it is gone. */
  killGroup(pgid: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Whether the node answers, and its housekeeping; throws NodeError when the node is unreachable. */
  probe(timeoutMs: number): Promise<ProbeResult>;
  close(): Promise<void>;
}

export interface ProbeResult {
  /** Round trip of a trivial command, in ms. */
  latencyMs: number;
  /** The job directories that runs lost mid-job had left in the node's work_dir, removed by this probe. */
  removed: string[];
  /** The node runs commands but cannot move files (its SFTP fails): why, and the fix. */
  noSftp?: { error: string; hint?: string };
}

export interface TransferOptions {
  /** Directory entries (relative names) to leave out, e.g. `.git`. */
  exclude?: readonly string[];
  maxFiles?: number;
  maxBytes?: number;
  /**
   * Aborting stops the copy at once (over SSH, the SFTP session carrying it is ended) and it
   * rejects with TransferCancelled; what was copied stays for the caller to remove.
   */
  signal?: AbortSignal;
}

export const DEFAULT_TRANSFER = { exclude: ['.git', 'node_modules'], maxFiles: 5000, maxBytes: 200 * 1024 * 1024 } as const;

/**
 * The node itself failed (unreachable, connection lost, host key refused): an infrastructure
 * error (exit 3), as opposed to the job's own command failing.
 */
export class NodeError extends Error {
  /** What happened, without the node's name that `message` opens with (for lines that name the node already). */
  readonly detail: string;
  constructor(readonly node: string, message: string, readonly hint?: string) {
    super(`node "${node}": ${message}`);
    this.detail = message;
    this.name = 'NodeError';
  }
}

/**
 * The node cannot be used for what the user gave for it, whatever the machine: its identity: is
 * no key it can use, its passphrase_env is not exported or not the key's, there is no key at all
 * to log in with. A config error (exit 2): the nodes file or the environment is to fix, not the
 * machine.
 */
export class NodeConfigError extends NodeError {}

/**
 * The node's host key changed or is revoked: a machine not to connect to until a person finds out
 * why. The machine's fault, not the nodes file's (exit 3), but no wait makes it trusted.
 */
export class NodeUntrusted extends NodeError {}

/** A transfer refused before it started (too big, missing source). */
export class TransferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransferError';
  }
}

/** A transfer stopped by its signal (a cancelled job). */
export class TransferCancelled extends TransferError {
  constructor(message: string) {
    super(message);
    this.name = 'TransferCancelled';
  }
}
