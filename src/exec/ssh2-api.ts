/**
 * The slice of ssh2's API that ssh.ts uses, typed here because ssh2 ships no types and
 * @types/ssh2 is not a dependency.
 */
export interface Ssh2Channel {
  on(event: 'data', fn: (d: Buffer) => void): this;
  on(event: 'exit', fn: (code: number | null, signal?: string) => void): this;
  on(event: 'close', fn: () => void): this;
  stderr: { on(event: 'data', fn: (d: Buffer) => void): void };
  write(data: string): boolean;
  close(): void;
}
export interface Ssh2Client {
  exec(command: string, cb: (err: Error | undefined, channel: Ssh2Channel) => void): boolean;
  on(event: 'close' | 'end', fn: () => void): this;
  on(event: 'error', fn: (e: Error) => void): this;
}
interface SftpStats {
  isDirectory(): boolean;
}
export interface Sftp {
  mkdir(p: string, cb: (err?: Error & { code?: number }) => void): void;
  fastPut(local: string, remote: string, cb: (err?: Error) => void): void;
  fastGet(remote: string, local: string, cb: (err?: Error) => void): void;
  stat(p: string, cb: (err: (Error & { code?: number }) | undefined, st: SftpStats) => void): void;
  end(): void;
}
