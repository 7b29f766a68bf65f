/**
 * Our own routes, under /marteau: what Toxiproxy and Vaurien cannot say. Set a proxy's whole mix
 * (and toxic list) atomically, read stats snapshots, and follow live events as Server-Sent
 * Events, so a TUI or a script on another terminal can watch a running proxy.
 */
import { z } from 'zod';
import { MixError, specOfMix } from '../mix.js';
import type { Proxy } from '../proxy.js';
import { toxicJson } from '../toxics.js';
import type { Control, ControlEvent } from './control.js';
import { ControlError } from './control-errors.js';
import { ApiError, jsonBody, STREAMING, validate, type ApiRequest, type Reply, type Route } from './http.js';
import { TOXIPROXY_VERSION } from './toxiproxy.js';

const mixSpec = z.union([
  z.string(),
  z.record(z.string(), z.union([z.number(), z.looseObject({ percent: z.number() })])),
]);

const toxicSpec = z.strictObject({
  name: z.string().optional(),
  type: z.string(),
  stream: z.enum(['upstream', 'downstream']).optional(),
  toxicity: z.number().min(0).max(1).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
});

const chaosBody = z.strictObject({
  mix: mixSpec.optional(),
  toxics: z.array(toxicSpec).optional(),
});

/** Events a follower gets unless it asks for others (`proxy.exchange` is one per exchange: opt-in). */
const DEFAULT_EVENTS = ['proxy.fault', 'proxy.mix', 'proxy.log', 'proxy.added', 'proxy.removed'];
const ALL_EVENTS = [...DEFAULT_EVENTS, 'proxy.exchange'];
/** A follower that reads slower than events come loses events (counted), never the proxy's memory. */
const MAX_BUFFERED = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export function nativeRoutes(control: Control, version: string): Route[] {
  const proxy = (r: ApiRequest) => {
    const p = control.get(r.params.proxy);
    if (!p) throw new ApiError(404, 'proxy not found', 'proxy', 'url');
    return p;
  };
  const describe = (p: Proxy) => nativeJson(control, p);
  return [
    { methods: ['GET'], pattern: '/marteau/proxies', handler: () => ok(control.list().map(describe)) },
    { methods: ['GET'], pattern: '/marteau/proxies/:proxy', handler: (r) => ok(describe(proxy(r))) },
    {
      methods: ['PUT'], pattern: '/marteau/proxies/:proxy/mix',
      handler: async (r) => {
        const p = proxy(r);
        const body = validate(chaosBody, jsonBody(r, '') ?? {}, '');
        if (body.mix === undefined && body.toxics === undefined) throw new ApiError(400, 'give "mix", "toxics" or both', '');
        try {
          return ok(describe(await control.setChaos(p.name, body)));
        } catch (e) {
          if (e instanceof MixError) throw new ApiError(400, `mix: ${e.message}`, ['mix', ...e.path].join('.'));
          if (e instanceof ControlError) throw new ApiError(e.status, `${e.where ? `${e.where}: ` : ''}${e.message}`, e.where);
          throw e;
        }
      },
    },
    { methods: ['GET'], pattern: '/marteau/stats', handler: () => ok({ at: Date.now(), proxies: control.set.stats() }) },
    { methods: ['GET'], pattern: '/marteau/proxies/:proxy/stats', handler: (r) => ok(proxy(r).stats()) },
    {
      methods: ['GET'], pattern: '/marteau/behaviors',
      handler: () => ok([...control.registry.values()].map((b) => ({ name: b.name, description: b.description, options: optionSchema(b.options) }))),
    },
    { methods: ['GET'], pattern: '/marteau/events', query: ['proxy', 'types', 'stats'], handler: (r) => follow(control, r, describe, version) },
  ];
}

/**
 * GET /marteau: the version and every route under /marteau of `routes`, read when asked: the
 * router's own table, so a route added to it (a job's scenario route, from the layer above) is
 * listed too. A list kept by hand here had missed that one.
 */
export function nativeIndex(routes: readonly Route[], version: string): Route {
  const native = (r: Route) => r.pattern === '/marteau' || r.pattern.startsWith('/marteau/');
  const query = (r: Route) => (r.query?.length ? `?${r.query.map((q) => `${q}=`).join('&')}` : '');
  return {
    methods: ['GET'], pattern: '/marteau',
    handler: () => ok({
      marteau: version,
      toxiproxy: TOXIPROXY_VERSION,
      routes: routes.filter(native).flatMap((r) => r.methods.map((m) => `${m} ${r.pattern.replace(/:(\w+)/g, '{$1}')}${query(r)}`)),
    }),
  };
}

/** Our error body: Toxiproxy's fields plus where the problem is. */
export function nativeError(e: ApiError): Reply {
  return { status: e.status, json: { error: e.message, status: e.status, ...(e.where ? { where: e.where } : {}) } };
}

export function nativeJson(control: Control, p: Proxy) {
  return {
    name: p.name,
    protocol: p.options.protocol,
    listen: p.listenAddress,
    upstream: p.upstream,
    enabled: p.isEnabled,
    mix: p.mix.text,
    mixOptions: specOfMix(p.mix),
    toxics: p.listToxics().map(toxicJson),
    summary: p.describe(),
    fromConfig: control.isManaged(p.name),
    ...(p.options.tls && { tls: p.options.tls }),
    ...(p.options.upstreamTls && { upstreamTls: p.options.upstreamTls }),
  };
}

function follow(control: Control, r: ApiRequest, describe: (p: Proxy) => unknown, version: string): typeof STREAMING {
  const only = r.query.get('proxy');
  if (only && !control.get(only)) throw new ApiError(404, 'proxy not found', 'proxy', 'url');
  const asked = r.query.get('types');
  const types = new Set(asked ? asked.split(',').map((t) => t.trim()).filter(Boolean) : DEFAULT_EVENTS);
  const unknown = [...types].find((t) => !ALL_EVENTS.includes(t));
  if (unknown) throw new ApiError(400, `unknown event type "${unknown}" (known: ${ALL_EVENTS.join(', ')})`, 'types', 'url');
  const statsParam = r.query.get('stats');
  const statsMs = statsParam === null ? 0 : Number(statsParam);
  if (!Number.isInteger(statsMs) || (statsMs !== 0 && statsMs < 100) || statsMs > 3_600_000) {
    throw new ApiError(400, 'stats: milliseconds between stats events, from 100 (or 0 for none)', 'stats', 'url');
  }

  const { res } = r;
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  let id = 0;
  let dropped = 0;
  const send = (event: string, data: unknown) => {
    if (res.writableLength > MAX_BUFFERED) {
      dropped++;
      return;
    }
    if (dropped) {
      res.write(`id: ${++id}\nevent: dropped\ndata: ${JSON.stringify({ count: dropped })}\n\n`);
      dropped = 0;
    }
    res.write(`id: ${++id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const mine = (p: { name: string }) => !only || p.name === only;
  send('hello', { marteau: version, proxies: control.list().filter(mine).map(describe) });
  const unsubscribe = control.subscribe((e: ControlEvent) => {
    if (only && e.proxy !== only) return;
    if (types.has(e.type)) send(e.type, e);
  });
  const stats = statsMs ? setInterval(() => send('stats', { at: Date.now(), proxies: control.set.stats().filter(mine) }), statsMs) : undefined;
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const stop = () => {
    unsubscribe();
    clearInterval(heartbeat);
    if (stats) clearInterval(stats);
  };
  res.once('close', stop);
  return STREAMING;
}

function optionSchema(schema: z.ZodObject): unknown {
  try {
    return z.toJSONSchema(schema, { io: 'input' });
  } catch {
    // A plugin's schema from another copy of zod may not convert; its names still help.
    return { properties: Object.fromEntries(Object.keys(schema.shape).map((k) => [k, {}])) };
  }
}

function ok(json: unknown): Reply {
  return { status: 200, json };
}
