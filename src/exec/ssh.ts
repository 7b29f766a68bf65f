/**
 * Runs programs on a node over SSH (node-ssh on top of ssh2). Host keys are checked against a
 * known_hosts file before anything is sent; argv, cwd and env are quoted (remote-command.ts);
 * output streams live as lines; a cancel kills the remote process group; a dropped connection
 * fails every run in flight with a NodeError (an infrastructure failure, exit 3); files move
 * over SFTP.
 */
import type { NodeSSH } from 'node-ssh';
import type { SshNodeConfig } from '../config/nodes.js';
import { NodeError, type Executor, type NodeNotice, type ProbeResult, type RunOptions, type RunResult, type TransferOptions } from './executor.js';
import { hostToken, readKnownHosts } from './known-hosts.js';
import { closedWhileConnecting, connectError, hostKeyAlgorithms, NO_ANSWER_HINT, hostKeyVerifier, SftpUnavailable, sshCredentials } from './ssh-login.js';
import { killGroupCommand, notRunByShell, remoteCommand } from './remote-command.js';
import { SilentEnd, watchRun, type RunHost, type Session } from './ssh-run.js';
import { SftpFiles } from './ssh-sftp.js';
import { RemoteDirs, type SimpleResult } from './ssh-job-dirs.js';
import { shellJoin } from './quote.js';
import type { Sftp, Ssh2Channel, Ssh2Client } from './ssh2-api.js';

const KEEPALIVE_MS = 2000;
const KEEPALIVE_MAX = 3;

/** How many times a command that may be asked again is, when its sessions end without a word. */
const SILENT_END_TRIES = 4;

/** sshd refused a new channel (MaxSessions): the connection itself is fine. */
class ChannelRefused extends NodeError {}
const CHANNEL_TRIES = 3;

/**
 * A session that ends with neither an exit status nor a word says nothing of the command: one
 * that may be asked again is, with a back-off. On a loaded machine such ends were the exit
 * statuses that exec() now keeps from its callback on, not sshd's doing; this stays for a
 * connection that drops a session all the same.
 */
async function askAgain<T>(once: () => Promise<T>, silent: (r: T) => boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const r = await once();
    if (!silent(r) || attempt === SILENT_END_TRIES) return r;
    await new Promise((done) => setTimeout(done, 100 * attempt));
  }
}

export class SshExecutor implements Executor {
  readonly kind = 'ssh' as const;
  readonly node: string;
  private ssh?: NodeSSH;
  private connecting?: Promise<Ssh2Client>;
  private lost?: NodeError;
  private closing = false;
  private readonly inflight = new Set<(e: NodeError) => void>();
  private readonly files: SftpFiles;
  /** What a run watched on its channel (ssh-run.ts) needs of this executor. */
  private readonly runHost: RunHost;
  private readonly dirs: RemoteDirs;

  constructor(private readonly cfg: SshNodeConfig, private readonly env: NodeJS.ProcessEnv = process.env, private readonly notice?: NodeNotice) {
    this.node = cfg.name;
    this.files = new SftpFiles({
      node: cfg.name,
      user: cfg.user,
      open: async () => {
        await this.client();
        return (await this.ssh!.requestSFTP()) as unknown as Sftp;
      },
      lost: () => this.lost,
      onLost: (fail) => {
        if (this.lost) fail(this.lost);
        else this.inflight.add(fail);
        return () => this.inflight.delete(fail);
      },
      mkdirp: (p) => this.mkdirp(p),
    });
    this.dirs = new RemoteDirs(cfg.name, (argv) => this.simple(argv), SILENT_END_TRIES);
    this.runHost = {
      node: cfg.name,
      address: this.address,
      inflight: this.inflight,
      lost: () => this.lost,
      simple: (command) => this.simple(command),
      dropConnection: () => this.dropConnection(),
    };
  }

  get address(): string {
    return `${this.cfg.user}@${hostToken(this.cfg.host, this.cfg.port)}`;
  }

  // ---- connection ----

  private client(timeoutMs = this.cfg.connectTimeoutMs): Promise<Ssh2Client> {
    if (this.lost) return Promise.reject(this.lost);
    this.connecting ??= this.connect(timeoutMs).catch((e) => {
      this.connecting = undefined;
      throw e;
    });
    return this.connecting;
  }

  private async connect(timeoutMs: number): Promise<Ssh2Client> {
    const { host, port, knownHosts } = this.cfg;
    const known = await readKnownHosts(knownHosts).catch((e: Error) => {
      throw new NodeError(this.node, `cannot read known_hosts ${knownHosts}: ${e.message}`);
    });
    let refused: NodeError | undefined;
    const hostVerifier = hostKeyVerifier(this.cfg, known, (e) => { refused = e; }, this.notice);
    // Loaded on the first connection: what only lists nodes starts without ssh2.
    const ssh = new (await import('node-ssh')).NodeSSH();
    const serverHostKey = hostKeyAlgorithms(known, host, port);
    // Held from the start: a close() (a probe past its deadline) must end a handshake in flight.
    this.ssh = ssh;
    try {
      await ssh.connect({
        ...(serverHostKey ? { algorithms: { serverHostKey } } : {}),
        host,
        port,
        username: this.cfg.user,
        ...(await sshCredentials(this.cfg, this.env)),
        hostVerifier,
        readyTimeout: timeoutMs,
        keepaliveInterval: KEEPALIVE_MS,
        keepaliveCountMax: KEEPALIVE_MAX,
      } as Parameters<NodeSSH['connect']>[0]);
    } catch (e) {
      ssh.dispose();
      if (this.ssh === ssh) this.ssh = undefined;
      if (e instanceof NodeError) throw e;
      if (this.closing) throw closedWhileConnecting(this.node, this.address);
      throw refused ?? connectError(this.cfg, this.address, e as Error & { code?: string; level?: string }, timeoutMs);
    }
    if (this.closing) {
      ssh.dispose();
      throw closedWhileConnecting(this.node, this.address);
    }
    const client = ssh.connection as unknown as Ssh2Client;
    const onGone = (why: string) => {
      // A connection dropped on purpose (dropConnection) is not a lost node.
      if (this.closing || this.lost || this.ssh !== ssh) return;
      this.lost = new NodeError(this.node, `SSH connection to ${this.address} lost: ${why}`, 'check that the node is up and sshd runs (marteau-tui nodes)');
      for (const fail of [...this.inflight]) fail(this.lost);
    };
    client.on('error', (e) => onGone(e.message));
    client.on('close', () => onGone('closed by the remote side'));
    client.on('end', () => onGone('ended by the remote side'));
    return client;
  }

  /**
   * A channel for `command`. sshd's MaxSessions caps the channels of a connection (2 on some
   * hardened nodes): our own idle SFTP session may hold the slot a kill or a cleanup needs, so a
   * refused channel ends it (it reopens when next needed) and asks again.
   */
  private async exec(command: string): Promise<Session> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.execOnce(command);
      } catch (e) {
        if (!(e instanceof ChannelRefused) || attempt === CHANNEL_TRIES) throw e;
        if (this.files.idle) await this.files.end();
        await new Promise((done) => setTimeout(done, 100 * attempt));
      }
    }
  }

  /**
   * The last resort of a cancel whose kill finds no channel: drop the connection. The sentinel
   * of the run (remote-command.ts) sees its sshd go and kills the group; later calls reconnect.
   */
  private dropConnection(): void {
    const ssh = this.ssh;
    this.ssh = undefined;
    this.connecting = undefined;
    this.files.forget();
    ssh?.dispose();
  }

  private async execOnce(command: string): Promise<Session> {
    const client = await this.client();
    return new Promise((resolve, reject) => {
      try {
        client.exec(command, (err, channel) => {
          if (err) {
            if (!/Channel open failure: (?!server closed)/.test(err.message)) return reject(new NodeError(this.node, `cannot start a command: ${err.message}`));
            return reject(new ChannelRefused(this.node, `sshd refused another session on the connection (${err.message})`, 'raise MaxSessions in the node\'s sshd_config to 3 or more: a job holds a command, SFTP and a kill at once'));
          }
          const session: Session = { channel, exit: undefined };
          // ssh2 handles every packet of a read at once: a command that ends at once has its
          // exit status emitted right after this callback, before a caller awaiting the channel
          // could listen (a third of fast commands on a loaded machine ended "without an exit
          // status"). Its data and close wait in the channel's stream; the status is kept here.
          channel.on('exit', (code, signal) => { session.exit = { code: code ?? null, signal: signal ?? undefined }; });
          resolve(session);
        });
      } catch (e) {
        reject(this.lost ?? new NodeError(this.node, `cannot start a command: ${(e as Error).message}`));
      }
    });
  }

  /** Run a fixed internal command to completion (mkdir, rm, kill: each may be asked again); output is collected. */
  private simple(argv: readonly string[] | string): Promise<SimpleResult> {
    return askAgain(() => this.simpleOnce(argv), (r) => r.code === null && !r.signal && !r.output.trim());
  }

  private async simpleOnce(argv: readonly string[] | string): Promise<SimpleResult> {
    const session = await this.exec(typeof argv === 'string' ? argv : shellJoin(argv));
    const channel = session.channel;
    return new Promise((resolve, reject) => {
      let output = '';
      const fail = (e: NodeError) => reject(e);
      this.inflight.add(fail);
      channel.on('data', (d) => { if (output.length < 65536) output += d; });
      channel.stderr.on('data', (d) => { if (output.length < 65536) output += d; });
      channel.on('close', () => {
        this.inflight.delete(fail);
        const signal = session.exit?.signal;
        resolve({ code: session.exit?.code ?? null, output, ...(signal ? { signal } : {}) });
      });
    });
  }

  // ---- Executor ----

  async run(argv: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    if (!o.idempotent) return this.runOnce(argv, o);
    const r = await askAgain(
      () => this.runOnce(argv, o).catch((e: Error) => { if (e instanceof SilentEnd && !o.signal?.aborted) return e; throw e; }),
      (x) => x instanceof SilentEnd,
    );
    if (r instanceof SilentEnd) throw r;
    return r;
  }

  private async runOnce(argv: readonly string[], o: RunOptions): Promise<RunResult> {
    const started = performance.now();
    if (o.signal?.aborted) return { exitCode: null, signal: null, cancelled: true, durationMs: 0 };
    const command = remoteCommand(argv, { cwd: o.cwd, env: o.env, input: o.input !== undefined });
    const session = await this.exec(command);
    return watchRun(this.runHost, session, o, started, argv[0]);
  }

  put(localPath: string, remotePath: string, options: TransferOptions = {}): Promise<void> {
    return this.files.put(localPath, remotePath, options);
  }

  get(remotePath: string, localPath: string, options: Pick<TransferOptions, 'signal'> = {}): Promise<void> {
    return this.files.get(remotePath, localPath, options);
  }

  exists(remotePath: string): Promise<boolean> {
    return this.files.exists(remotePath);
  }

  mkdirp(remotePath: string): Promise<void> {
    return this.dirs.mkdirp(remotePath);
  }

  makeJobDir(remotePath: string, o: { own: boolean }): Promise<string[]> {
    return this.dirs.makeJobDir(remotePath, o);
  }

  remove(remotePath: string): Promise<void> {
    return this.dirs.remove(remotePath);
  }

  async killGroup(pgid: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    await this.simple(killGroupCommand(pgid, signal === 'SIGTERM' ? 'TERM' : 'KILL'));
  }

  async probe(timeoutMs: number): Promise<ProbeResult> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NodeError(this.node, `no answer from ${this.address} within ${timeoutMs} ms`, NO_ANSWER_HINT)), timeoutMs);
    });
    try {
      return await Promise.race([
        (async () => {
          await this.client(timeoutMs);
          const t0 = performance.now();
          // Once: a health reading tells what the node answered, and the pool probes again.
          const r = await this.simpleOnce('true');
          if (r.code !== 0) throw notRunByShell(this.node, this.address, { code: r.code, signal: r.signal ? `SIG${r.signal}` : null }, r.output.trim() ? r.output.trim().split('\n') : []);
          const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
          // A node whose SFTP fails (no subsystem, a login banner in front of Debian's
          // sftp-server) still runs commands: said, for the jobs that copy no files.
          const noSftp = await this.files.check().then(
            () => undefined,
            (e: Error) => {
              if (!(e instanceof SftpUnavailable) || this.lost) throw e;
              return { error: e.message, hint: e.hint };
            },
          );
          // A node that gets no job after a lost one would keep that job's copies for ever.
          return { latencyMs, removed: await this.dirs.sweep(this.cfg.workDir), ...(noSftp ? { noSftp } : {}) };
        })(),
        deadline,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.files.end();
    this.ssh?.dispose();
    this.ssh = undefined;
    this.connecting = undefined;
  }
}
