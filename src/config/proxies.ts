/**
 * The `proxies:` section (of `.marteau.yml`, or of a standalone proxies YAML) and `statsd:`.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { MixError, parseMix, type BehaviorRegistry, type MixSpec } from '../proxy/mix.js';
import { PROTOCOL_NAMES } from '../proxy/protocol.js';
import type { ProxyOptions } from '../proxy/proxy.js';
import { ConfigError, errorAt, parseYaml, type SourceDoc } from './errors.js';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:6379');

const mixSpec = z.union([
  z.string(),
  z.record(z.string(), z.union([z.number(), z.object({ percent: z.number() }).catchall(z.unknown())])),
]);

export const proxySchema = z
  .object({
    listen: hostPort,
    upstream: hostPort,
    protocol: z.enum(PROTOCOL_NAMES).default('tcp'),
    behaviors: mixSpec.optional(),
    pin: z.enum(['exchange', 'connection']).default('exchange'),
    seed: z.union([z.number(), z.string()]).optional(),
    max_buffer: z.number().int().positive().optional(),
  })
  .strict();

export const statsdSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(8125),
    prefix: z.string().regex(/^[\w.-]*$/, 'letters, digits, _ . - only').default('marteau'),
    sample_rate: z.number().min(0).max(1).default(1),
  })
  .strict();

export const proxiesFileSchema = z.object({
  proxies: z.record(z.string().regex(/^[\w-]+$/, 'a proxy name is letters, digits, _ and -'), proxySchema),
  statsd: statsdSchema.optional(),
});

export type StatsdConfig = z.infer<typeof statsdSchema>;

export interface ProxiesConfig {
  proxies: ProxyOptions[];
  statsd?: StatsdConfig;
}

const HINTS: Record<string, string> = {
  listen: 'the address the proxy accepts connections on, e.g. 127.0.0.1:16379',
  upstream: 'the real server, e.g. 127.0.0.1:6379',
  protocol: `one of ${PROTOCOL_NAMES.join(', ')}`,
  behaviors: 'Vaurien form "20:delay,10:error" or a map {delay: 20, error: {percent: 10, kind: LOADING}}',
};

export async function loadProxiesFile(file: string, registry: BehaviorRegistry): Promise<ProxiesConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? e})`, 'check the path given to --config');
  }
  return parseProxiesConfig(parseYaml(file, text), registry);
}

export function parseProxiesConfig(src: SourceDoc, registry: BehaviorRegistry): ProxiesConfig {
  const data = src.doc.toJS() as unknown;
  const parsed = proxiesFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path as (string | number)[];
    const field = path.find((p) => typeof p === 'string' && p in HINTS) as string | undefined;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key "${issue.keys[0]}"; known keys: ${Object.keys(proxySchema.shape).join(', ')}`;
    if (path.length === 0 && issue.code === 'invalid_type') message = 'expected a map with a `proxies:` section';
    const where = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0]] : path;
    throw errorAt(src, where, message, field ? HINTS[field] : undefined, issue.code === 'unrecognized_keys');
  }
  const proxies = Object.entries(parsed.data.proxies).map(([name, p]): ProxyOptions => {
    try {
      parseMix(p.behaviors as MixSpec | undefined, registry);
    } catch (e) {
      if (e instanceof MixError) throw errorAt(src, ['proxies', name, 'behaviors', ...e.path], e.message, HINTS.behaviors);
      throw e;
    }
    return {
      name,
      listen: p.listen,
      upstream: p.upstream,
      protocol: p.protocol,
      behaviors: p.behaviors as MixSpec | undefined,
      pin: p.pin,
      seed: p.seed,
      maxBuffer: p.max_buffer,
    };
  });
  return { proxies, statsd: parsed.data.statsd };
}
