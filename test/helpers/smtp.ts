/**
 * A real SMTP server for tests: nodemailer's `smtp-server`, in-process on a free loopback port.
 * It records every message it accepted (envelope and the exact content bytes, dot-unstuffed), so
 * tests can check byte-exact delivery through the proxy. AUTH and STARTTLS are off unless asked.
 */
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { freePort } from './net.js';

export interface ReceivedMessage {
  from: string;
  to: string[];
  /** The message content as the server decoded it (without the final `.` line, unstuffed). */
  data: Buffer;
  /** smtp-server's session id: equal ids mean one SMTP connection. */
  sessionId: string;
  /** Client port seen by the server (the proxy's upstream socket). */
  remotePort: number;
  user?: string;
  secure: boolean;
}

export interface RunningSmtp {
  host: string;
  port: number;
  messages: ReceivedMessage[];
  /** Number of connections the server accepted. */
  connections: () => number;
  stop(): Promise<void>;
}

export interface SmtpServerOptions {
  /** Require AUTH (PLAIN, LOGIN) with one of `users`. */
  auth?: boolean;
  users?: Record<string, string>;
  /** Offer STARTTLS (smtp-server's built-in self-signed localhost certificate). */
  starttls?: boolean;
  /** Recipients the server refuses with 550. */
  reject?: string[];
  /** Host name in the greeting and EHLO reply. */
  name?: string;
}

export const SMTP_USERS = { alice: 's3cret' };

export async function startSmtpServer(opts: SmtpServerOptions = {}): Promise<RunningSmtp> {
  const messages: ReceivedMessage[] = [];
  const users: Record<string, string> = opts.users ?? SMTP_USERS;
  const reject = new Set((opts.reject ?? []).map((a) => a.toLowerCase()));
  let connections = 0;
  const disabled: string[] = [];
  if (!opts.auth) disabled.push('AUTH');
  if (!opts.starttls) disabled.push('STARTTLS');
  const options: SMTPServerOptions = {
    name: opts.name ?? 'mx.test',
    logger: false,
    disabledCommands: disabled,
    hideSTARTTLS: !opts.starttls,
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    closeTimeout: 200,
    socketTimeout: 30_000,
    onConnect(_session, callback) {
      connections++;
      callback();
    },
    onAuth(auth, _session, callback) {
      if (auth.username !== undefined && users[auth.username] === auth.password) {
        callback(null, { user: auth.username });
      } else {
        const err = Object.assign(new Error('Invalid username or password'), { responseCode: 535 });
        callback(err);
      }
    },
    onRcptTo(address, _session, callback) {
      if (reject.has(address.address.toLowerCase())) {
        const err = Object.assign(new Error('No such user here'), { responseCode: 550 });
        callback(err);
      } else {
        callback();
      }
    },
    onData(stream, session: SMTPServerSession, callback) {
      const parts: Buffer[] = [];
      stream.on('data', (b: Buffer) => parts.push(b));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        messages.push({
          from: from ? from.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(parts),
          sessionId: session.id,
          remotePort: session.remotePort,
          user: typeof session.user === 'string' ? session.user : undefined,
          secure: session.secure,
        });
        callback(null, 'queued');
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => undefined);
  const port = await freePort();
  await new Promise<void>((resolve, reject_) => {
    server.server.once('error', reject_);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    host: '127.0.0.1',
    port,
    messages,
    connections: () => connections,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
