/**
 * The few HTTP pieces the control APIs share: a request/reply shape, a path router, bounded body
 * reading, and validation that says what is wrong and where.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { JsonSyntaxError, parseJson } from './json.js';
import { describeIssue, valueAt } from '../../text/zod-words.js';

/** A refused request. `where` is the path of the offending value in the body (e.g. `attributes.latency`). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly where?: string, readonly location: 'body' | 'url' | 'header' = 'body') {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiRequest {
  method: string;
  /** The path without the query string (and without a `/token/<t>` prefix). */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** The raw body ('' when none). */
  text: string;
  req: IncomingMessage;
  res: ServerResponse;
}

export interface Reply {
  status: number;
  /** Serialised as JSON (plus a newline, as Go's encoder does). */
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

/** The handler wrote the response itself (Server-Sent Events). */
export const STREAMING = Symbol('streaming');

export type Handler = (r: ApiRequest) => Reply | typeof STREAMING | Promise<Reply | typeof STREAMING>;

export interface Route {
  methods: readonly string[];
  /** `/proxies/:proxy/toxics/:toxic`: `:name` segments match one URL-decoded segment. */
  pattern: string;
  handler: Handler;
  /** The query parameters it reads, named in the index of routes (GET /marteau). */
  query?: readonly string[];
}

export type RouteMatch = { route: Route; params: Record<string, string> } | { allowed: string[] } | undefined;

/** The route for a method and path; `{allowed}` when the path exists under other methods only. */
export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  const segments = path.split('/').slice(1);
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (!params) continue;
    if (route.methods.includes(method)) return { route, params };
    allowed.push(...route.methods);
  }
  return allowed.length ? { allowed } : undefined;
}

function matchPattern(pattern: string, segments: string[]): Record<string, string> | undefined {
  const parts = pattern.split('/').slice(1);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    if (part.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(segments[i]);
      } catch {
        return undefined;
      }
      if (value === '') return undefined;
      params[part.slice(1)] = value;
    } else if (part !== segments[i]) {
      return undefined;
    }
  }
  return params;
}

/** Read the whole body, refusing (413) past `limit` bytes without buffering the excess. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => {
      if (done) return;
      done = true;
      reject(e);
    });
  });
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `request body too large: the limit is ${limit} bytes`);
}

/**
 * The body as JSON; `prefix` starts every message (Toxiproxy says "bad request body: ...").
 * An empty body is `undefined`, for routes where the body is optional.
 */
export function jsonBody(r: ApiRequest, prefix: string): unknown {
  if (r.text.trim() === '') return undefined;
  try {
    return parseJson(r.text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new ApiError(400, `${prefix}${e.message}`);
    throw e;
  }
}

/**
 * Check a value against a strict zod schema; the first problem becomes a 400 naming the field:
 * `attributes.latency: expected a number, got string` or `unknown field "foo" (known: a, b)`.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, prefix: string, root = ''): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = [...(root ? [root] : []), ...issue.path.map(String)];
  const where = at.join('.');
  const inside = where ? ` in ${where}` : '';
  let message: string;
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, issue.path);
    message = `unknown field "${issue.keys[0]}"${inside}${known.length ? ` (known fields: ${known.join(', ')})` : ''}`;
    throw new ApiError(400, `${prefix}${message}`, [...at, issue.keys[0]].join('.'));
  }
  if (issue.code === 'invalid_type') {
    const actual = describe(valueAt(value, issue.path));
    message = actual === 'nothing'
      ? `${where || 'body'}: missing, expected ${issue.expected}`
      : `${where || 'body'}: expected ${issue.expected}, got ${actual}`;
  } else {
    message = `${where || 'body'}: ${describeIssue(issue, valueAt(value, issue.path))}`;
  }
  throw new ApiError(400, `${prefix}${message}`, where || undefined);
}

function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  for (const key of path) {
    const shape = shapeOf(s);
    if (shape && typeof key === 'string') s = shape[key];
    else if (s instanceof z.ZodArray) s = s.element;
    else return [];
  }
  const shape = shapeOf(s);
  return shape ? Object.keys(shape) : [];
}

function shapeOf(s: unknown): Record<string, unknown> | undefined {
  let inner = s;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable || inner instanceof z.ZodDefault) inner = inner.unwrap();
  // `true or {ca, ...}`: the object is the one whose keys can be unknown.
  if (inner instanceof z.ZodUnion) return (inner.options as unknown[]).map(shapeOf).find((shape) => shape);
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, unknown>) : undefined;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  // JSON has no Infinity: a number too large for a double (1e400) parses to it.
  if (typeof v === 'number' && !Number.isFinite(v)) return 'a number too large to hold';
  return `${typeof v} ${JSON.stringify(v)}`;
}
