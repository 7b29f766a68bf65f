/**
 * Toxiproxy 2.x's HTTP API over our proxies: the same routes, JSON field names, status codes,
 * error bodies and server-side defaults, so existing Toxiproxy clients work unchanged. Every
 * behavior is accepted as a toxic type (Toxiproxy's seven, `noop`, and ours: delay, error, ...).
 */
import { z } from 'zod';
import type { Behavior } from '../plugin.js';
import { PROTOCOL_NAMES } from '../protocol.js';
import type { Proxy } from '../proxy.js';
import { listenTlsSchema, sameTls, upstreamTlsSchema } from '../tls.js';
import { toxicJson, ToxicError, type Toxic, type ToxicSpec } from '../toxics.js';
import type { Control, ProxySpec } from './control.js';
import { checkTls, ControlError, listenerReady } from './control-errors.js';
import { ApiError, jsonBody, validate, type ApiRequest, type Reply, type Route } from './http.js';

/** The Toxiproxy release whose API this one follows (answered by GET /version). */
export const TOXIPROXY_VERSION = '2.12.0';

const BAD = 'bad request body: ';

// Bodies are read as Go's encoding/json fills Toxiproxy's structs (see goFields): other fields,
// such as the `toxics` the Go client sends back on save or a client's own bookkeeping, are ignored.
const proxyBody = z.object({
  name: z.string().optional(),
  listen: z.string().optional(),
  upstream: z.string().optional(),
  enabled: z.boolean().optional(),
  // Ours: the framing of a new proxy (Toxiproxy proxies are raw TCP, our default too).
  protocol: z.enum(PROTOCOL_NAMES).optional(),
  // Ours: TLS towards clients and towards the server, as in a proxies file (absolute paths).
  tls: listenTlsSchema.optional(),
  upstream_tls: upstreamTlsSchema.optional(),
});

const toxicBody = z.object({
  name: z.string().optional(),
  type: z.string().optional(),
  stream: z.string().optional(),
  toxicity: z.number().optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
});

/**
 * A JSON body as Go's encoding/json decodes it onto a struct: a `null` member leaves the field
 * at its default (Ruby's client always sends `"enabled": null`), and members the struct does not
 * have are skipped. The names skipped are returned, for the X-Marteau-Ignored header.
 */
function goFields(value: unknown, known: readonly string[], at = ''): { value: unknown; ignored: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { value, ignored: [] };
  const out: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === null) continue;
    if (known.includes(k)) out[k] = v;
    else ignored.push(`${at}${k}`);
  }
  return { value: out, ignored };
}

const PROXY_FIELDS = Object.keys(proxyBody.shape);
const TOXIC_FIELDS = Object.keys(toxicBody.shape);
/** Fields of Toxiproxy's own that we read elsewhere or deliberately ignore (not reported as unknown). */
const PROXY_ECHOED = ['toxics'];

/** `root` names the entry in an error ("0.enabled: ...") when the body is one of a /populate list. */
function readProxy(r: ApiRequest, ignored: string[], body: unknown = jsonBody(r, BAD) ?? {}, root = ''): z.infer<typeof proxyBody> {
  const g = goFields(body, [...PROXY_FIELDS, ...PROXY_ECHOED]);
  ignored.push(...g.ignored);
  return validate(proxyBody, g.value, BAD, root);
}

function readToxic(r: ApiRequest, ignored: string[]): z.infer<typeof toxicBody> {
  const g = goFields(jsonBody(r, BAD) ?? {}, TOXIC_FIELDS);
  ignored.push(...g.ignored);
  const b = g.value as Record<string, unknown>;
  if (b.attributes !== undefined) {
    validate(toxicBody.shape.attributes, b.attributes, BAD, 'attributes');
    b.attributes = goFields(b.attributes, Object.keys(b.attributes as object)).value;
  }
  return validate(toxicBody, b, BAD);
}

/** A reply that names the body members skipped, so a typo is visible to whoever looks. */
function withIgnored(reply: Reply, ignored: string[]): Reply {
  return ignored.length ? { ...reply, headers: { ...reply.headers, 'X-Marteau-Ignored': ignored.join(', ') } } : reply;
}

/**
 * Toxiproxy sets no default in code: an omitted attribute is 0. The same holds here for its
 * toxic types, except where 0 would stall or crash (then the attribute must be given).
 */
const TOXIPROXY_ATTRIBUTES: Record<string, Record<string, string | undefined>> = {
  latency: { latency: undefined, jitter: undefined },
  bandwidth: { rate: "Toxiproxy's default 0 never lets a byte through; give a rate in KB/s" },
  slow_close: { delay: undefined },
  timeout: { timeout: undefined },
  reset_peer: { timeout: undefined },
  slicer: { average_size: "Toxiproxy's default 0 cannot slice anything; give a size in bytes", size_variation: undefined, delay: undefined },
  limit_data: { bytes: undefined },
};

export function toxiproxyRoutes(control: Control): Route[] {
  const proxy = (r: ApiRequest) => wrap(() => control.require(r.params.proxy));
  const json = (p: Proxy) => proxyJson(p, control.shownListen(p));
  return [
    {
      methods: ['GET'], pattern: '/proxies',
      handler: () => ok(Object.fromEntries(control.list().map((p) => [p.name, json(p)]))),
    },
    {
      methods: ['POST'], pattern: '/proxies',
      handler: async (r) => {
        const ignored: string[] = [];
        const spec = proxySpec(readProxy(r, ignored));
        return withIgnored({ status: 201, json: json(await wrap(() => control.create(spec))) }, ignored);
      },
    },
    {
      methods: ['POST'], pattern: '/populate',
      handler: async (r) => {
        try {
          return await populate(control, r, json);
        } catch (e) {
          // Toxiproxy answers every /populate failure in the success shape, as JSON, with no
          // proxies made; clients read `proxies` from any answer.
          if (!(e instanceof ApiError)) throw e;
          return { status: e.status, json: { error: e.message, status: e.status, proxies: null } };
        }
      },
    },
    {
      methods: ['GET'], pattern: '/proxies/:proxy',
      handler: (r) => ok(json(proxy(r))),
    },
    {
      methods: ['POST', 'PATCH'], pattern: '/proxies/:proxy',
      handler: async (r) => {
        proxy(r);
        const ignored: string[] = [];
        const b = readProxy(r, ignored);
        const running = proxy(r).options;
        if (b.protocol !== undefined && b.protocol !== running.protocol) throw unchangeable('protocol');
        for (const field of ['tls', 'upstream_tls'] as const) {
          if (b[field] === undefined) continue;
          const asked = wrap(() => checkTls(field === 'tls' ? b.tls : running.tls, field === 'upstream_tls' ? b.upstream_tls : running.upstreamTls));
          if (!sameTls(asked, running)) throw unchangeable(field);
        }
        const patch = { listen: b.listen, upstream: b.upstream, enabled: b.enabled, restartOnUpstream: true };
        return withIgnored(ok(json(await wrap(() => control.update(r.params.proxy, patch)))), ignored);
      },
    },
    {
      methods: ['DELETE'], pattern: '/proxies/:proxy',
      handler: async (r) => {
        await wrap(() => control.remove(r.params.proxy));
        return { status: 204 };
      },
    },
    {
      methods: ['GET'], pattern: '/proxies/:proxy/toxics',
      handler: (r) => ok(orderedToxics(proxy(r)).map(toxicJson)),
    },
    {
      methods: ['POST'], pattern: '/proxies/:proxy/toxics',
      handler: async (r) => {
        const p = proxy(r);
        const ignored: string[] = [];
        const b = readToxic(r, ignored);
        const behavior = b.type ? control.registry.get(b.type) : undefined;
        if (!behavior) throw new ApiError(400, 'invalid toxic type', 'type');
        const spec: ToxicSpec = {
          name: b.name || undefined,
          type: b.type!,
          stream: b.stream || undefined,
          toxicity: b.toxicity,
          attributes: attributes(behavior, b.attributes ?? {}, true, ignored),
        };
        const added = wrap(() => p.addToxic(spec));
        await wrap(() => listenerReady(p));
        return withIgnored(ok(toxicJson(added)), ignored);
      },
    },
    {
      methods: ['GET'], pattern: '/proxies/:proxy/toxics/:toxic',
      handler: (r) => ok(toxicJson(findToxic(proxy(r), r.params.toxic))),
    },
    {
      methods: ['POST', 'PATCH'], pattern: '/proxies/:proxy/toxics/:toxic',
      handler: async (r) => {
        const p = proxy(r);
        const t = findToxic(p, r.params.toxic);
        // name, type and stream cannot change; Toxiproxy ignores them here, and so do we.
        const ignored: string[] = [];
        const b = readToxic(r, ignored);
        const attrs = attributes(t.entry.behavior, b.attributes ?? {}, false, ignored);
        const updated = wrap(() => p.updateToxic(t.name, { attributes: attrs, toxicity: b.toxicity }));
        // A `down` toxic below toxicity 1 lets connections in: the listener is open before the answer.
        await wrap(() => listenerReady(p));
        return withIgnored(ok(toxicJson(updated)), ignored);
      },
    },
    {
      methods: ['DELETE'], pattern: '/proxies/:proxy/toxics/:toxic',
      handler: async (r) => {
        const p = proxy(r);
        wrap(() => p.removeToxic(r.params.toxic));
        // Without its `down` toxic the proxy listens again, before the answer.
        await wrap(() => listenerReady(p));
        return { status: 204 };
      },
    },
    {
      methods: ['POST'], pattern: '/reset',
      handler: async () => {
        await wrap(() => control.reset());
        return { status: 204 };
      },
    },
    {
      methods: ['GET'], pattern: '/version',
      handler: () => ({
        status: 200,
        text: `${JSON.stringify({ version: TOXIPROXY_VERSION })}\n`,
        headers: { 'Content-Type': 'application/json;charset=utf-8' },
      }),
    },
  ];
}

/** POST /populate: create or replace the proxies listed, answering those made before any failure. */
async function populate(control: Control, r: ApiRequest, json: (p: Proxy) => unknown): Promise<Reply> {
  const ignored: string[] = [];
  const body = jsonBody(r, BAD) ?? [];
  if (!Array.isArray(body)) validate(z.array(z.unknown()), body, BAD);
  const list = (body as unknown[]).map((item, i) => {
    const before = ignored.length;
    const b = readProxy(r, ignored, item, String(i));
    for (let k = before; k < ignored.length; k++) ignored[k] = `${i}.${ignored[k]}`;
    return b;
  });
  const specs: ProxySpec[] = list.map((b) => ({ ...specOf(b), name: b.name ?? '', upstream: b.upstream ?? '' }));
  const result = await wrap(() => control.populate(specs));
  const proxies = result.proxies.map(json);
  if (result.error) return withIgnored({ status: result.error.status, json: { error: result.error.message, status: result.error.status, proxies } }, ignored);
  return withIgnored({ status: 201, json: { proxies } }, ignored);
}

/** Toxiproxy's error body: JSON, though sent as text/plain by Go's http.Error. */
export function toxiproxyError(e: ApiError): Reply {
  return {
    status: e.status,
    text: `${JSON.stringify({ error: e.message, status: e.status })}\n`,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' },
  };
}

function proxyJson(p: Proxy, listen: string) {
  const { tls, upstreamTls } = p.options;
  return {
    name: p.name, listen, upstream: p.upstream, enabled: p.isEnabled, toxics: orderedToxics(p).map(toxicJson),
    ...(tls && { tls }), ...(upstreamTls && { upstream_tls: upstreamTls }),
  };
}

/** Toxiproxy lists the upstream chain first, then the downstream one, each in creation order. */
function orderedToxics(p: Proxy): Toxic[] {
  const all = p.listToxics();
  return [...all.filter((t) => t.stream === 'upstream'), ...all.filter((t) => t.stream === 'downstream')];
}

function findToxic(p: Proxy, name: string): Toxic {
  const t = p.listToxics().find((x) => x.name === name);
  if (!t) throw new ApiError(404, 'toxic not found');
  return t;
}

function proxySpec(b: z.infer<typeof proxyBody>): ProxySpec {
  if (!b.name) throw new ApiError(400, 'missing required field: name', 'name');
  if (!b.upstream) throw new ApiError(400, 'missing required field: upstream', 'upstream');
  return { ...specOf(b), name: b.name, upstream: b.upstream };
}

function specOf(b: z.infer<typeof proxyBody>): Omit<ProxySpec, 'name' | 'upstream'> {
  return { listen: b.listen, enabled: b.enabled, protocol: b.protocol, tls: b.tls, upstreamTls: b.upstream_tls };
}

/** A setting a proxy is started with, which the update of a running one cannot change. */
function unchangeable(field: string): ApiError {
  return new ApiError(400, `${BAD}${field}: cannot be changed on a running proxy; delete it and create it again`, field);
}

/**
 * Check attributes against the behavior's options: wrong types are refused with the attribute
 * named; unknown names are skipped (and reported in `ignored`), as Go decodes them into the toxic
 * struct. On create, Toxiproxy's zero defaults fill the omitted ones.
 */
function attributes(behavior: Behavior, given: Record<string, unknown>, create: boolean, ignored: string[]): Record<string, unknown> {
  const shape = behavior.options.shape as Record<string, z.ZodType>;
  const known = Object.keys(shape).filter((k) => k !== 'stream' && k !== 'toxicity');
  const zeroes = create ? TOXIPROXY_ATTRIBUTES[behavior.name] ?? {} : {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given)) {
    if (!known.includes(k)) {
      ignored.push(`attributes.${k}`);
      continue;
    }
    validate(shape[k], v, BAD, `attributes.${k}`);
    out[k] = v;
  }
  for (const [k, why] of Object.entries(zeroes)) {
    if (k in out) continue;
    if (why) throw new ApiError(400, `${BAD}attributes.${k}: missing (${why})`, `attributes.${k}`);
    out[k] = 0;
  }
  return out;
}

function ok(json: unknown): Reply {
  return { status: 200, json };
}

/** Engine and control errors become API errors with their status and wording. */
function wrap<T>(fn: () => T): T {
  const convert = (e: unknown): never => {
    if (e instanceof ToxicError) throw new ApiError(e.status, e.message);
    if (e instanceof ControlError) throw new ApiError(e.status, e.message, e.where);
    throw e;
  };
  try {
    const r = fn();
    return (r instanceof Promise ? r.catch(convert) : r) as T;
  } catch (e) {
    return convert(e);
  }
}
