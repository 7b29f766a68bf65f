/**
 * `services:` in .marteau.yml: programs the engine starts on this machine before the load (the
 * app under test, the redis it talks to...), waits until they answer, and stops after the run.
 * Each gets a free loopback port, `${port}` in its own command, and MARTEAU_SERVICE_<NAME>_PORT
 * for the rest of the config (a proxy's upstream, base_url, the runner's environment).
 *
 *   services:
 *     redis: {command: [redis-server, --port, "${port}", --save, ""]}
 *     app:
 *       command: [node, app.js, --port, "${port}", --redis, "${MARTEAU_PROXY_REDIS}"]
 *       ready: {http: /health}
 *
 * Start order follows the references: services a proxy points at start before the proxies,
 * services that talk through a proxy (they name a MARTEAU_PROXY_ variable) start after them.
 */
import path from 'node:path';
import { z } from 'zod';
import { errorAt, type SourceDoc } from './errors.js';
import { isMarteauVar, references, varKey } from './interpolate.js';
import { innerPath } from './paths.js';
import { durationMs, durationSchema } from './units.js';
import { splitWords, WordsError } from './words.js';

const readySchema = z.union(
  [
    z.enum(['tcp', 'none']),
    z.strictObject({ http: z.string().regex(/^\//, 'an HTTP path starting with /, e.g. /health') }),
    z.strictObject({ log: z.string().min(1) }),
  ],
  { error: 'expected tcp (the default: its port accepts connections), none, {http: /health} or {log: "a line it prints when ready"}' },
);

export const serviceSchema = z
  .object({
    command: z
      .union([z.string().min(1), z.array(z.union([z.string(), z.number()])).min(1)], { error: 'expected a command: a string or a list of arguments' })
      .describe('the program and its arguments; ${port} is the port it was given; no shell'),
    port: z.union([z.literal('auto'), z.number().int().min(1).max(65535)]).default('auto').describe('auto (default): a free loopback port'),
    ready: readySchema.default('tcp').describe('when it counts as started: tcp (port open), {http: /path} (2xx/3xx), {log: regex}, none'),
    ready_timeout: durationSchema.default(30).describe('how long to wait for ready (default 30s)'),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean()])).optional(),
    wdir: innerPath.optional().describe('directory it runs in, relative to the project (default: the project)'),
    stop_signal: z
      .enum(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'])
      .default('SIGTERM')
      .describe('the signal of a `stop`/`restart` chaos fault (default SIGTERM; PostgreSQL shuts down fast on SIGINT)'),
  })
  .strict();

export const servicesSchema = z.record(z.string().regex(/^[\w-]+$/, 'a service name is letters, digits, _ and -'), serviceSchema);

export type Readiness = { kind: 'tcp' } | { kind: 'none' } | { kind: 'http'; path: string } | { kind: 'log'; pattern: RegExp };

export interface ServiceSpec {
  name: string;
  /** As written: `${...}` is expanded when the service starts and its port is known. */
  command: string[];
  env: Record<string, string>;
  /** undefined: a free port is picked at start. */
  port?: number;
  ready: Readiness;
  readyTimeoutMs: number;
  cwd: string;
  /** It names a proxy's address, so it starts once the proxies listen. */
  afterProxies: boolean;
  /** Sent by a `stop` or `restart` chaos fault. */
  stopSignal: NodeJS.Signals;
}

/** Which MARTEAU_ variables a running service adds. */
export function serviceVars(name: string, port: number): Record<string, string> {
  const key = `MARTEAU_SERVICE_${varKey(name)}`;
  return { [`${key}_PORT`]: String(port), [key]: `127.0.0.1:${port}` };
}

export function proxyVars(name: string, listen: string, upstream: string): Record<string, string> {
  const key = `MARTEAU_PROXY_${varKey(name)}`;
  const port = /:(\d+)$/.exec(listen)?.[1] ?? '';
  return { [key]: listen, [`${key}_PORT`]: port, [`${key}_UPSTREAM`]: upstream };
}

/**
 * Validate `services:` (already schema-checked) against what its references may name: `port`,
 * services declared above it, any proxy, the job's own variables.
 */
export function parseServices(
  src: SourceDoc,
  services: Record<string, z.infer<typeof serviceSchema>>,
  projectDir: string,
  known: { proxies: readonly string[]; jobVars: readonly string[] },
): ServiceSpec[] {
  const proxyVarNames = new Set(known.proxies.flatMap((p) => Object.keys(proxyVars(p, '', ''))));
  const available = new Set<string>(known.jobVars);
  const specs: ServiceSpec[] = [];
  for (const [name, s] of Object.entries(services)) {
    let command: string[];
    if (typeof s.command === 'string') {
      try {
        command = splitWords(s.command);
      } catch (e) {
        if (e instanceof WordsError) throw errorAt(src, ['services', name, 'command'], e.message, 'close the quote, or write the command as a list');
        throw e;
      }
    } else {
      command = s.command.map(String);
    }
    if (!command.length) throw errorAt(src, ['services', name, 'command'], 'the command is empty');
    const env = Object.fromEntries(Object.entries(s.env ?? {}).map(([k, v]) => [k, String(v)]));
    let afterProxies = false;
    const check = (text: string, where: (string | number)[]) => {
      for (const ref of references(text, (n) => n === 'port' || isMarteauVar(n))) {
        if (ref === 'port' || available.has(ref)) continue;
        if (proxyVarNames.has(ref)) {
          afterProxies = true;
          continue;
        }
        const later = Object.keys(services).find((other) => other !== name && ref in serviceVars(other, 0));
        throw errorAt(
          src,
          where,
          `unknown variable \${${ref}}`,
          later ? `service "${later}" is declared below "${name}": declare it first` : `known here: \${port}${[...available, ...proxyVarNames].map((v) => `, \${${v}}`).join('')}`,
        );
      }
    };
    command.forEach((a, i) => check(a, typeof s.command === 'string' ? ['services', name, 'command'] : ['services', name, 'command', i]));
    for (const [k, v] of Object.entries(env)) check(v, ['services', name, 'env', k]);
    let ready: Readiness;
    if (s.ready === 'tcp' || s.ready === 'none') ready = { kind: s.ready };
    else if ('http' in s.ready) ready = { kind: 'http', path: s.ready.http };
    else {
      try {
        ready = { kind: 'log', pattern: new RegExp(s.ready.log) };
      } catch (e) {
        throw errorAt(src, ['services', name, 'ready', 'log'], `not a valid regular expression: ${(e as Error).message}`);
      }
    }
    if (s.wdir !== undefined && (path.isAbsolute(s.wdir) || s.wdir.split(/[\\/]+/).includes('..'))) {
      throw errorAt(src, ['services', name, 'wdir'], 'must be a relative path inside the project (no leading /, no ..)');
    }
    specs.push({
      name,
      command,
      env,
      port: s.port === 'auto' ? undefined : s.port,
      ready,
      readyTimeoutMs: durationMs(s.ready_timeout),
      cwd: s.wdir ? path.join(projectDir, s.wdir) : projectDir,
      afterProxies,
      stopSignal: s.stop_signal,
    });
    for (const v of Object.keys(serviceVars(name, 0))) available.add(v);
  }
  return specs;
}
