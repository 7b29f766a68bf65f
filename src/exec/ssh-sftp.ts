/**
 * Files over one SSH connection's SFTP session, opened on first use and kept for the next
 * transfer. It is counted while in use: sshd's MaxSessions may leave no channel for a kill or a
 * cleanup, and the executor may then end an idle session (never a busy one) to free one.
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { mkdirp } from '../fs/mkdirp.js';
import { NodeError, TransferCancelled, TransferError, type TransferOptions } from './executor.js';
import { sftpError } from './ssh-login.js';
import type { Sftp } from './ssh2-api.js';
import { scanTree } from './tree.js';

const TRANSFER_CONCURRENCY = 4;

export interface SftpHost {
  node: string;
  user: string;
  /** A new SFTP session on the connection (connecting first if need be). */
  open(): Promise<Sftp>;
  /** The connection's loss, which explains any failure better than SFTP's own words. */
  lost(): NodeError | undefined;
  /** Calls `fail` with the connection's loss, when it comes (at once if it came); returns the call's removal. */
  onLost(fail: (e: NodeError) => void): () => void;
  mkdirp(remotePath: string): Promise<void>;
}

export class SftpFiles {
  private session?: Promise<Sftp>;
  private users = 0;

  constructor(private readonly host: SftpHost) {}

  /** No transfer is using the session: ending it loses nothing. */
  get idle(): boolean {
    return this.users === 0;
  }

  async end(): Promise<void> {
    const sftp = await this.session?.catch(() => undefined);
    this.session = undefined;
    sftp?.end();
  }

  /** The connection under it is gone: the next transfer opens a session on the new one. */
  forget(): void {
    this.session = undefined;
  }

  async put(localPath: string, remotePath: string, options: TransferOptions = {}): Promise<void> {
    const { signal } = options;
    const cancelled = () => new TransferCancelled(`the copy of ${localPath} to node "${this.host.node}" was cancelled`);
    const st = await stat(localPath).catch(() => undefined);
    if (!st) throw new TransferError(`${localPath} does not exist`);
    const entries = st.isDirectory() ? await scanTree(localPath, options) : undefined;
    await this.host.mkdirp(entries ? remotePath : path.posix.dirname(remotePath));
    await this.transfer(signal, cancelled, async (sftp) => {
      const upload = (from: string, to: string, what: string) => {
        if (signal?.aborted) throw cancelled();
        return call<void>((cb) => sftp.fastPut(from, to, cb)).catch((e: Error) => { throw this.failed('upload', what, e); });
      };
      if (!entries) return await upload(localPath, remotePath, localPath);
      // Directories first, parents before children (scanTree lists them in that order).
      for (const e of entries.filter((x) => x.kind === 'dir')) {
        if (signal?.aborted) throw cancelled();
        await call<void>((cb) => sftp.mkdir(path.posix.join(remotePath, e.rel), (err) => cb(err && err.code !== 4 ? err : undefined))).catch((err: Error) => {
          throw this.failed('mkdir', e.rel, err);
        });
      }
      const files = entries.filter((x) => x.kind === 'file');
      let next = 0;
      const worker = async () => {
        while (next < files.length) {
          const f = files[next++];
          await upload(path.join(localPath, f.rel), path.posix.join(remotePath, f.rel), f.rel).catch((e: Error) => {
            next = files.length;
            throw e;
          });
        }
      };
      // Every worker's last write has ended before this settles (see transfer).
      await Promise.allSettled(Array.from({ length: Math.min(TRANSFER_CONCURRENCY, files.length) }, worker)).then((ends) => {
        const failed = ends.find((x): x is PromiseRejectedResult => x.status === 'rejected');
        if (failed) throw failed.reason;
      });
    });
  }

  /** Open the session (or find it open): throws what a transfer would meet, e.g. a login's banner in the way. */
  check(): Promise<void> {
    return this.use(async () => {});
  }

  async get(remotePath: string, localPath: string, options: Pick<TransferOptions, 'signal'> = {}): Promise<void> {
    const cancelled = () => new TransferCancelled(`the copy of ${remotePath} from node "${this.host.node}" was cancelled`);
    await mkdirp(path.dirname(localPath), 0o777);
    try {
      await this.transfer(options.signal, cancelled, (sftp) => call<void>((cb) => sftp.fastGet(remotePath, localPath, cb)).catch((e: Error) => { throw this.failed('download', remotePath, e); }));
    } catch (e) {
      // A part of the file would read as a whole one that ended early (a FunkLoad result cut off).
      if (e instanceof TransferCancelled) await rm(localPath, { force: true });
      throw e;
    }
  }

  exists(remotePath: string): Promise<boolean> {
    return this.use((sftp) => new Promise((resolve, reject) => {
      sftp.stat(remotePath, (err) => {
        if (!err) return resolve(true);
        if (err.code === 2) return resolve(false); // SSH_FX_NO_SUCH_FILE
        reject(this.failed('stat', remotePath, err));
      });
    }));
  }

  /**
   * `fn` on the session, stopped at once by `signal`: the abort ends the session, which fails the
   * transfers in flight once sshd has closed it, so whatever follows (the removal of the partial
   * copy) comes after the last of their writes. Rejects with `cancelled()` then.
   */
  private transfer<T>(signal: AbortSignal | undefined, cancelled: () => TransferCancelled, fn: (sftp: Sftp) => Promise<T>): Promise<T> {
    if (signal?.aborted) return Promise.reject(cancelled());
    return this.use(async (sftp) => {
      const current = this.session;
      const stop = () => {
        if (this.session === current) this.session = undefined;
        sftp.end();
      };
      signal?.addEventListener('abort', stop, { once: true });
      try {
        if (signal?.aborted) throw cancelled();
        return await fn(sftp);
      } catch (e) {
        throw signal?.aborted && !this.host.lost() ? cancelled() : e;
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    });
  }

  /** `fn` on the session; the connection's loss fails it, as ssh2 never calls back a request in flight then. */
  private async use<T>(fn: (sftp: Sftp) => Promise<T>): Promise<T> {
    this.users++;
    let forget = () => {};
    try {
      const sftp = await this.sftp();
      return await Promise.race([fn(sftp), new Promise<never>((_, reject) => (forget = this.host.onLost(reject)))]);
    } finally {
      forget();
      this.users--;
    }
  }

  private sftp(): Promise<Sftp> {
    this.session ??= this.host.open().catch((e: Error) => {
      this.session = undefined;
      throw this.host.lost() ?? (e instanceof NodeError ? e : sftpError(this.host.node, this.host.user, e));
    });
    return this.session;
  }

  private failed(what: string, p: string, e: Error): Error {
    return this.host.lost() ?? new TransferError(`${what} ${p} on node "${this.host.node}" failed: ${e.message}`);
  }
}

function call<T>(fn: (cb: (err?: Error | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}
