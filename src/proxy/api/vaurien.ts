/**
 * Vaurien's control API (GET/PUT /behavior, GET /behaviors, GET/PUT /backend) with Vaurien's
 * request and reply shapes, so vaurienclient-style scripts and Marteau fixtures keep working.
 *
 * Vaurien ran one proxy per process; here several may run, so the proxy is chosen by path:
 * `/vaurien/<proxy>/behavior` always works; the bare `/behavior` and `/backend` act on the proxy
 * named by `--vaurien-proxy` (or `api.vaurien_proxy`), else on the only proxy when exactly one
 * runs, else they answer 409 and list the names.
 *
 * As in Vaurien, PUT /behavior ignores options the behavior does not have (vaurienclient's own
 * test sends `foo`, and Marteau's VaurienFixture sends every fixture argument) and converts
 * string values (`"sleep": "0.3"`, `"before": "false"`) to the option's type. Unlike Vaurien,
 * the options are applied (Vaurien re-applied its command line values over them), and the switch
 * reaches open keep-alive connections at their next exchange rather than only new connections.
 */
import { MixError, parseMix, type MixSpec } from '../mix.js';
import type { Behavior } from '../plugin.js';
import type { Proxy } from '../proxy.js';
import type { Control } from './control.js';
import { ControlError } from './control-errors.js';
import { ApiError, jsonBody, type ApiRequest, type Reply, type Route } from './http.js';

export function vaurienRoutes(control: Control): Route[] {
  const pick = (r: ApiRequest): Proxy => (r.params.proxy ? named(control, r.params.proxy) : implicit(control));
  const routes = (prefix: string): Route[] => [
    { methods: ['GET'], pattern: `${prefix}/behavior`, handler: (r) => ok({ behavior: behaviorName(pick(r)) }) },
    { methods: ['PUT'], pattern: `${prefix}/behavior`, handler: (r) => putBehavior(control, pick(r), r) },
    { methods: ['GET'], pattern: `${prefix}/behaviors`, handler: () => ok({ behaviors: [...control.registry.keys()].sort() }) },
    { methods: ['GET'], pattern: `${prefix}/backend`, handler: (r) => ok({ backend: pick(r).upstream }) },
    { methods: ['PUT'], pattern: `${prefix}/backend`, handler: (r) => putBackend(control, pick(r), r) },
  ];
  return [...routes('/vaurien/:proxy'), ...routes('')];
}

/** Vaurien's (Cornice's) error body. */
export function vaurienError(e: ApiError): Reply {
  return {
    status: e.status,
    json: { status: 'error', errors: [{ location: e.location, name: e.where ?? '', description: e.message }] },
  };
}

function named(control: Control, name: string): Proxy {
  const p = control.get(name);
  if (!p) throw new ApiError(404, `no proxy named "${name}"; running: ${control.list().map((x) => x.name).join(', ') || '(none)'}`, 'proxy', 'url');
  return p;
}

function implicit(control: Control): Proxy {
  const chosen = control.options.vaurienProxy;
  if (chosen) return named(control, chosen);
  const all = control.list();
  if (all.length === 1) return all[0];
  if (all.length === 0) throw new ApiError(404, 'no proxy is running', 'proxy', 'url');
  throw new ApiError(409, `${all.length} proxies run (${all.map((p) => p.name).join(', ')}): use /vaurien/<proxy>/behavior, or start with --vaurien-proxy NAME`, 'proxy', 'url');
}

/** Vaurien's one current behavior: the name when one behavior takes all traffic, else the mix itself. */
function behaviorName(p: Proxy): string {
  const entries = p.mix.entries;
  if (entries.length === 1) return entries[0].behavior.name;
  return p.mix.text;
}

async function putBehavior(control: Control, p: Proxy, r: ApiRequest): Promise<Reply> {
  const body = jsonBody(r, '');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'expected a JSON object like {"name": "delay", "sleep": 2}', '');
  const { name, ...options } = body as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') throw new ApiError(400, 'missing "name": the behavior to switch to', '');
  let spec: MixSpec;
  if (/[:,]/.test(name)) {
    // Ours: a whole Vaurien mix string, e.g. {"name": "20:delay,10:error"}.
    if (Object.keys(options).length) throw new ApiError(400, 'options go with a single behavior name, not with a mix', Object.keys(options)[0]);
    spec = name;
  } else {
    const behavior = control.registry.get(name);
    if (!behavior) throw new ApiError(400, `the '${name}' behavior does not exist`, 'name');
    spec = { [name]: { ...control.options.behaviorDefaults?.[name], ...vaurienOptions(behavior, options), percent: 100 } };
  }
  try {
    parseMix(spec, control.registry, { previous: p.mix, protocol: p.info });
  } catch (e) {
    if (e instanceof MixError) throw new ApiError(400, e.message, typeof spec === 'string' ? 'name' : e.path.slice(1).join('.') || 'name');
    throw e;
  }
  await p.setMix(spec);
  return ok({ status: 'ok' });
}

async function putBackend(control: Control, p: Proxy, r: ApiRequest): Promise<Reply> {
  const body = jsonBody(r, '') as { backend?: unknown } | undefined;
  const backend = body && typeof body === 'object' ? body.backend : undefined;
  if (typeof backend !== 'string') throw new ApiError(400, 'expected {"backend": "host:port"}', 'backend');
  try {
    await control.update(p.name, { upstream: backend });
  } catch (e) {
    if (e instanceof ControlError) throw new ApiError(e.status, e.message.replace(/^bad request body: upstream: /, ''), 'backend');
    throw e;
  }
  return ok({ status: 'ok' });
}

/**
 * The options the behavior has, with Vaurien's conversions of strings (its handlers' `_convert`):
 * a number from its text, a boolean from yes/no words. Other members are dropped, as Vaurien's
 * settings dict simply never reads them.
 */
export function vaurienOptions(behavior: Behavior, given: Record<string, unknown>): Record<string, unknown> {
  const shape = behavior.options.shape as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given)) {
    if (!(k in shape)) continue;
    out[k] = typeof v === 'string' ? fromText(k, v, baseType(shape[k])) : v;
  }
  return out;
}

const TRUE_WORDS = new Set(['y', 'yes', '1', 'on', 'true']);
const FALSE_WORDS = new Set(['n', 'no', '0', 'off', 'false']);

/**
 * A text as a value of an option's type, as Vaurien's `_convert` does (`"0.3"` for a number,
 * yes/no words for a boolean); `expected` says what the text should have been.
 */
export function textAs(text: string, type: string | undefined): { value: unknown } | { expected: string } {
  if (type === 'number') {
    const n = Number(text.trim());
    return text.trim() === '' || !Number.isFinite(n) ? { expected: 'a number' } : { value: n };
  }
  if (type === 'boolean') {
    const word = text.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return { value: true };
    if (FALSE_WORDS.has(word)) return { value: false };
    return { expected: 'true/false (or yes/no, on/off, 1/0)' };
  }
  return { value: text };
}

function fromText(option: string, text: string, type: string | undefined): unknown {
  const r = textAs(text, type);
  if ('expected' in r) throw new ApiError(400, `option "${option}": expected ${r.expected}, got "${text}"`, option);
  return r.value;
}

/** The zod type name under defaults and optionals (`number`, `boolean`, ...); duck-typed, as plugins may bring their own zod. */
export function baseType(schema: unknown): string | undefined {
  let def = (schema as { _zod?: { def?: { type?: string; innerType?: unknown } } })?._zod?.def;
  while (def && ['default', 'optional', 'nullable', 'prefault', 'readonly'].includes(def.type ?? '')) {
    def = (def.innerType as { _zod?: { def?: { type?: string; innerType?: unknown } } })?._zod?.def;
  }
  return def?.type;
}

function ok(json: unknown): Reply {
  return { status: 200, json };
}
