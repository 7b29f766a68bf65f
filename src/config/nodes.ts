/**
 * `marteau.nodes.yml`: the machines jobs run on. `local` is this machine; the others are reached
 * over SSH with host keys checked against a known_hosts file (strict by default).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, errorAt, parseYaml, type SourceDoc } from './errors.js';
import { ConfigErrors } from './config-error.js';
import { identityProblem } from './identity-files.js';
import { durationMs, durationSchema } from './units.js';
import { zodToConfigError } from './zod-errors.js';
import { unreadableWords } from '../fs/errors.js';
import { parseQueueUrl, QueueUrlError, type QueueUrl } from './queue-url.js';

export const HOST_KEY_POLICIES = ['strict', 'accept-new'] as const;
export const LOST_JOBS = ['interrupt', 'requeue'] as const;
/** What happens to the running jobs of an engine found dead: interrupted, or queued again. */
export type LostJobs = (typeof LOST_JOBS)[number];
export type HostKeyPolicy = (typeof HOST_KEY_POLICIES)[number];

export const nodeSchema = z
  .object({
    type: z.enum(['local', 'ssh']).optional().describe('default: ssh when `host` is set, else local'),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).optional().describe('default: the current user'),
    identity: z.string().optional().describe('private key file (default: the SSH agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)'),
    passphrase_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional().describe('name of the environment variable holding the key passphrase'),
    known_hosts: z.string().optional().describe('default: ~/.ssh/known_hosts'),
    host_key: z.enum(HOST_KEY_POLICIES).default('strict').describe('strict: unknown keys are refused; accept-new: an unknown key is recorded, a changed one still refused'),
    work_dir: z
      .string()
      // A path on the node: nothing expands ~ there (every path is one quoted word), and a
      // relative one would land wherever the login starts.
      .regex(/^\/./, 'work_dir is a path on the node and must be absolute (~ is not expanded there)')
      .optional()
      .describe('where jobs are copied on the node, an absolute path (default /tmp/marteau-tui)'),
    node_bin: z.string().min(1).optional().describe('Node.js (>= 20.18) on the node, for the builtin runner (default: node on the PATH of the SSH session)'),
    funkload: z.string().min(1).optional().describe("FunkLoad on the node, for the funkload runner: a virtualenv, its bin directory, or the fl-run-bench file (default: fl-run-bench on the PATH of the node's sessions)"),
    marteau_tui: z.string().min(1).optional().describe('an installed marteau-tui package directory on the node; the builtin runner uses it when its version matches, else ships its own agent'),
    connect_timeout: durationSchema.optional().describe('default 10s'),
    max_jobs: z.number().int().min(1).max(1000).default(1),
    tags: z.array(z.string().regex(/^[\w.-]+$/)).default([]),
    enabled: z.boolean().default(true),
  })
  .strict();

export const probeSchema = z
  .object({
    interval: durationSchema.optional().describe('default 10s'),
    timeout: durationSchema.optional().describe('default 5s'),
  })
  .strict();

const queueObject = z
  .object({
    url: z.string().optional().describe('redis://[user:password@]host:port/db: team mode, the queue shared on Redis (default: the journal in the state dir)'),
    lost_jobs: z.enum(LOST_JOBS).default('interrupt').describe('the running jobs of an engine found dead: interrupt, or requeue to run them again'),
  })
  .strict();

/** `queue: redis://…` is short for `queue: {url: redis://…}` (one schema: precise errors). */
export const queueSchema = z.preprocess((v) => (typeof v === 'string' ? { url: v } : v), queueObject);

/** Marteau's smtp.* and report.* settings: where `email:` recipients of a job are mailed from. */
export const mailSchema = z
  .object({
    host: z.string().min(1).default('localhost').describe('SMTP server (default localhost, as Marteau)'),
    port: z.number().int().min(1).max(65535).default(25).describe('default 25; 465 is implicit TLS'),
    user: z.string().min(1).optional().describe('SMTP AUTH user'),
    password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional().describe('name of the environment variable holding the SMTP password (never the password itself)'),
    from: z.string().regex(/^[^\s@<>,;]+@[^\s@<>,;]+$/, 'expected an e-mail address').optional().describe('sender (default marteau-tui@<this host name>)'),
    report_url: z.string().regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL').optional().describe("where the result directories are served: the link is <report_url>/<job id>/index.html (default: the report's file:// URL)"),
    timeout: durationSchema.optional().describe('connect and send timeout (default 5s, as Marteau)'),
  })
  .strict();

export const nodesFileSchema = z
  .object({
    nodes: z.record(z.string().regex(/^[\w.-]+$/, 'a node name is letters, digits, _ . and -'), nodeSchema),
    probe: probeSchema.optional(),
    queue: queueSchema.optional(),
    mail: mailSchema.optional().describe('SMTP settings for the report link mailed to a job\'s `email:` recipients'),
  })
  .strict();

interface NodeBase {
  name: string;
  /** FunkLoad on the node (`funkload:`): a virtualenv, its bin directory or fl-run-bench itself. */
  funkload?: string;
  maxJobs: number;
  tags: string[];
  enabled: boolean;
}
export interface LocalNodeConfig extends NodeBase {
  type: 'local';
}
export interface SshNodeConfig extends NodeBase {
  type: 'ssh';
  host: string;
  port: number;
  user: string;
  identity?: string;
  passphraseEnv?: string;
  knownHosts: string;
  hostKey: HostKeyPolicy;
  workDir: string;
  connectTimeoutMs: number;
  /** Node.js on the node (builtin runner); default `node` on the session's PATH. */
  nodeBin?: string;
  /** An installed marteau-tui package directory on the node, if any. */
  marteauTui?: string;
}
export type NodeConfig = LocalNodeConfig | SshNodeConfig;

export interface NodesConfig {
  file: string;
  nodes: NodeConfig[];
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** Where the queue lives: no url is the journal in the state dir (the default). */
  queue?: QueueConfig;
  /** How `email:` recipients are mailed; defaults apply when the file has no `mail:`. */
  mail?: MailConfig;
}

export interface MailConfig {
  host: string;
  port: number;
  user?: string;
  passwordEnv?: string;
  from?: string;
  reportUrl?: string;
  timeoutMs: number;
}

export interface QueueConfig {
  url?: QueueUrl;
  lostJobs: LostJobs;
  /** The url is `--queue`'s, which the file's does not replace (not even at a restart). */
  urlFromFlag?: boolean;
}

export async function loadNodesConfig(file: string): Promise<NodesConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read the nodes file: ${unreadableWords(e)}`, 'check --nodes or $MARTEAU_NODES');
  }
  const src = parseYaml(file, text);
  const config = parseNodesConfig(src);
  // A key this user cannot read, or that is no key it can use, is a mistake in this file: said at
  // its line now (exit 2), not as a node down at every probe and its jobs failed for the machines (exit 3).
  const bad = identityErrors(src, config.nodes);
  if (bad) throw bad;
  return config;
}

/** Each of `nodes` whose identity: cannot be its key, as an error at that identity: in `src`. */
export function identityErrors(src: SourceDoc, nodes: readonly NodeConfig[]): ConfigError | undefined {
  const errors = nodes.flatMap((n) => {
    const bad = identityProblem(n);
    return bad === undefined ? [] : [errorAt(src, ['nodes', n.name, 'identity'], bad.problem, bad.hint)];
  });
  return errors.length > 1 ? new ConfigErrors(errors) : errors[0];
}

/**
 * The same for a nodes file loaded earlier (a key deleted or replaced since), at the positions
 * the file has now; at none when it can no longer be read or parsed.
 */
export async function identityErrorsIn(file: string, nodes: readonly NodeConfig[]): Promise<ConfigError | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  let src: SourceDoc;
  try {
    src = parseYaml(file, text);
  } catch {
    src = parseYaml(file, '');
  }
  return identityErrors(src, nodes);
}

const NODE_HINTS: Record<string, string> = {
  host_key: 'strict (default): only keys already in known_hosts; accept-new: record an unknown key once',
  port: 'the SSH port, 1 to 65535',
  max_jobs: 'how many jobs the node runs at once, e.g. 1',
  type: 'local (this machine) or ssh',
  work_dir: 'e.g. work_dir: /tmp/marteau-tui, or /home/USER/marteau for a directory in the home of the node\'s user',
};

export function parseNodesConfig(src: SourceDoc): NodesConfig {
  const data = src.doc.toJS() as unknown;
  const parsed = nodesFileSchema.safeParse(data);
  if (!parsed.success) {
    throw zodToConfigError(src, data, parsed.error, {
      knownKeys: (p) =>
        p.length === 0
          ? Object.keys(nodesFileSchema.shape)
          : p[0] === 'queue'
            ? Object.keys(queueObject.shape)
            : p[0] === 'nodes' && p.length === 2
              ? Object.keys(nodeSchema.shape)
              : p[0] === 'probe'
                ? Object.keys(probeSchema.shape)
                : p[0] === 'mail'
                  ? Object.keys(mailSchema.shape)
                  : undefined,
      hint: (p) => NODE_HINTS[String(p[2])] ?? (p[0] === 'nodes' && p.length <= 2 ? 'e.g. nodes: {box1: {host: 127.0.0.2, user: load, identity: ~/.ssh/id_ed25519}}' : undefined),
    });
  }
  if (Object.keys(parsed.data.nodes).length === 0) {
    // Valid YAML, but no job could ever run: said now, not when `--ci` waits for a node.
    throw errorAt(
      src,
      ['nodes'],
      'no node defined',
      'add at least one, e.g. nodes: {local: {type: local}} (this machine) or nodes: {box1: {host: 127.0.0.2, user: load}}; or use no nodes file: the default runs jobs on this machine',
    );
  }
  const base = path.dirname(path.resolve(src.file));
  const nodes = Object.entries(parsed.data.nodes).map(([name, n]): NodeConfig => {
    const type = n.type ?? (n.host ? 'ssh' : 'local');
    const common = { name, maxJobs: n.max_jobs, tags: n.tags, enabled: n.enabled, ...(n.funkload ? { funkload: n.funkload } : {}) };
    if (type === 'local') {
      const sshOnly = (['host', 'user', 'identity', 'known_hosts', 'work_dir', 'node_bin', 'marteau_tui'] as const).find((k) => n[k] !== undefined);
      if (sshOnly) throw errorAt(src, ['nodes', name, sshOnly], `a local node takes no "${sshOnly}"`, 'remove it, or set type: ssh', true);
      // On this machine a relative path is relative to the nodes file, as identity: is.
      return { type, ...common, ...(n.funkload ? { funkload: expandPath(n.funkload, base) } : {}) };
    }
    if (!n.host) throw errorAt(src, ['nodes', name], 'an ssh node needs a host', 'e.g. host: 127.0.0.2');
    return {
      type,
      ...common,
      host: n.host,
      port: n.port,
      user: n.user ?? os.userInfo().username,
      identity: n.identity ? expandPath(n.identity, base) : undefined,
      passphraseEnv: n.passphrase_env,
      knownHosts: expandPath(n.known_hosts ?? '~/.ssh/known_hosts', base),
      hostKey: n.host_key,
      workDir: n.work_dir ?? '/tmp/marteau-tui',
      connectTimeoutMs: n.connect_timeout === undefined ? 10_000 : durationMs(n.connect_timeout),
      nodeBin: n.node_bin,
      marteauTui: n.marteau_tui,
    };
  });
  return {
    file: src.file,
    nodes,
    queue: queueConfig(src, parsed.data.queue, typeof (data as { queue?: unknown })?.queue === 'string'),
    mail: mailConfig(parsed.data.mail),
    probeIntervalMs: parsed.data.probe?.interval === undefined ? 10_000 : durationMs(parsed.data.probe.interval),
    probeTimeoutMs: parsed.data.probe?.timeout === undefined ? 5_000 : durationMs(parsed.data.probe.timeout),
  };
}

function mailConfig(m: z.infer<typeof mailSchema> | undefined): MailConfig | undefined {
  if (!m) return undefined;
  return {
    host: m.host,
    port: m.port,
    user: m.user,
    passwordEnv: m.password_env,
    from: m.from,
    reportUrl: m.report_url?.replace(/\/+$/, ''),
    timeoutMs: m.timeout === undefined ? 5000 : durationMs(m.timeout),
  };
}

function queueConfig(src: SourceDoc, q: z.infer<typeof queueObject> | undefined, short: boolean): QueueConfig | undefined {
  if (q === undefined) return undefined;
  const { url, lost_jobs } = q;
  if (url === undefined) return { lostJobs: lost_jobs };
  try {
    return { url: parseQueueUrl(url), lostJobs: lost_jobs };
  } catch (e) {
    if (!(e instanceof QueueUrlError)) throw e;
    throw errorAt(src, short ? ['queue'] : ['queue', 'url'], e.message, 'e.g. queue: redis://127.0.0.1:6379/0');
  }
}

/** `~/x` is the home directory; a relative path is relative to the nodes file. */
export function expandPath(p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(base, p);
}

export function nodesJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(nodesFileSchema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, unknown> };
  // The preprocess hides the short form from the generated schema: editors must accept it too.
  schema.properties.queue = { anyOf: [{ type: 'string', description: 'redis://[user:password@]host:port/db' }, schema.properties.queue] };
  return { ...schema, title: 'marteau.nodes.yml' };
}
