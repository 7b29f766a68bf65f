/**
 * User behavior plugins: ES modules listed under `plugins:` in a proxies config, loaded with a
 * dynamic import. Everything that can be checked before traffic flows is checked at load time,
 * so a broken plugin is a config error naming its file, never a crashed proxy later.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Action, Behavior, HookResult } from './plugin.js';
import { messageOf } from './proxy-errors.js';
import { unreadableWords } from '../fs/errors.js';

/** A plugin that cannot be used, with the file it came from and its position in `plugins:`. */
export class PluginError extends Error {
  constructor(readonly file: string, readonly index: number, readonly problem: string) {
    super(`plugin ${file}: ${problem}`);
    this.name = 'PluginError';
  }
}

const NAME = /^[A-Za-z_][\w-]*$/;

/**
 * Import every plugin file (paths relative to `baseDir`). A file may export one behavior as its
 * default export, or an array of them. An edited file is imported afresh (its mtime is part of
 * the module URL), an unchanged one comes from the module cache, so its per-proxy state is kept.
 * `reserved`: the built-in names, which no plugin may take (behaviors/index.ts lists them).
 */
export async function loadPlugins(files: readonly string[], baseDir: string, reserved: readonly { name: string }[]): Promise<Behavior[]> {
  const taken = new Map<string, string>();
  for (const b of reserved) taken.set(b.name, 'a built-in behavior');
  const out: Behavior[] = [];
  for (const [index, rel] of files.entries()) {
    const file = path.resolve(baseDir, rel);
    const fail = (problem: string): never => { throw new PluginError(file, index, problem); };
    let mtime: number;
    try {
      mtime = (await stat(file)).mtimeMs;
    } catch (e) {
      return fail(`cannot read it: ${unreadableWords(e)}; paths are relative to the config file`);
    }
    let mod: Record<string, unknown>;
    try {
      mod = (await import(`${pathToFileURL(file).href}?mtime=${mtime}`)) as Record<string, unknown>;
    } catch (e) {
      return fail(await importProblem(file, e));
    }
    const exported = mod.default ?? mod.behavior;
    if (exported === undefined) fail('it has no default export; use `export default defineBehavior({...})`');
    const list = Array.isArray(exported) ? exported : [exported];
    for (const candidate of list) {
      const b = checkBehavior(candidate, fail);
      const owner = taken.get(b.name);
      if (owner) fail(`the name "${b.name}" is already taken by ${owner}; pick another name`);
      taken.set(b.name, `the plugin ${file}`);
      out.push(guardBehavior(b));
    }
  }
  return out;
}

/**
 * Why importing a plugin failed, with its place: a syntax error of the file itself is located
 * by Node's own parser (`node --check`, run only on failure: an import's SyntaxError carries no
 * position); an error thrown while the module ran, by the first stack frame inside the file.
 */
async function importProblem(file: string, e: unknown): Promise<string> {
  const message = messageOf(e);
  // Asked whatever the error's class: a loader in between (a test runner's) may wrap it.
  const syntax = await syntaxErrorAt(file);
  if (syntax) return `syntax error at ${file}:${syntax.line}:${syntax.column}: ${syntax.message}`;
  const url = pathToFileURL(file).href;
  const frame = String((e as Error)?.stack ?? '').split('\n').map((l) => new RegExp(`${escapeRegExp(url)}(?:\\?[^:]*)?:(\\d+):(\\d+)`).exec(l)).find(Boolean);
  return `it threw while being imported${frame ? ` (at ${file}:${frame[1]}:${frame[2]})` : ''}: ${message}`;
}

/** Line and column of the first syntax error of an ES module file, from Node's own parser. */
async function syntaxErrorAt(file: string): Promise<{ line: number; column: number; message: string } | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const out = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ['--check', '--input-type=module'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', () => resolve(''));
    child.on('close', () => resolve(err));
    child.stdin.on('error', () => {});
    child.stdin.end(text);
  });
  // "[stdin]:LINE", the source line, then a caret under the offending token.
  const lines = out.split('\n');
  const m = /^\[stdin\]:(\d+)/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const caret = (lines[2] ?? '').indexOf('^');
  const message = lines.find((l) => l.startsWith('SyntaxError: '))?.slice('SyntaxError: '.length) ?? 'invalid JavaScript';
  return { line: Number(m[1]), column: caret >= 0 ? caret + 1 : 1, message };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function checkBehavior(b: unknown, fail: (problem: string) => never): Behavior {
  if (!b || typeof b !== 'object') return fail('its default export is not a behavior object (use defineBehavior({...}))');
  const o = b as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name === '') return fail('the behavior has no `name`');
  if (!NAME.test(o.name)) return fail(`the name "${o.name}" is not usable in a mix: letters, digits, _ and -, not starting with a digit`);
  // Duck typing rather than instanceof: a plugin may bring its own copy of zod.
  const options = o.options as { safeParse?: unknown; shape?: unknown } | undefined;
  if (!options || typeof options.safeParse !== 'function' || typeof options.shape !== 'object' || options.shape === null) {
    return fail(`behavior "${o.name}": \`options\` must be a zod object schema, e.g. z.object({ ms: z.number().default(100) })`);
  }
  // Mixes may name a behavior without options, so every option needs a default.
  const empty = (options.safeParse as (v: unknown) => { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } })({});
  if (!empty.success) {
    const issue = empty.error?.issues[0];
    return fail(`behavior "${o.name}": option "${issue?.path.join('.') ?? '?'}" has no default (${issue?.message ?? 'invalid'}); give every option .default(...) or .optional()`);
  }
  for (const hook of ['onConnection', 'onExchange', 'fixed', 'check'] as const) {
    if (o[hook] !== undefined && typeof o[hook] !== 'function') return fail(`behavior "${o.name}": \`${hook}\` must be a function`);
  }
  if (o.fixed !== undefined && o.onExchange === undefined) return fail(`behavior "${o.name}": \`fixed\` stands for what \`onExchange\` returns, and there is no \`onExchange\``);
  if (o.description !== undefined && typeof o.description !== 'string') return fail(`behavior "${o.name}": \`description\` must be a string`);
  return { ...(o as unknown as Behavior), description: (o.description as string | undefined) ?? '' };
}

/**
 * Wrap a plugin's hooks so that a malformed action (a NaN delay, an unknown type) throws inside
 * the hook, where the engine isolates it to the exchange, instead of reaching the data path.
 */
export function guardBehavior(b: Behavior): Behavior {
  const wrap = <A extends unknown[]>(hook: ((...args: A) => HookResult | Promise<HookResult>) | undefined) => {
    if (!hook) return undefined;
    return (...args: A): HookResult | Promise<HookResult> => {
      const r = hook(...args);
      return r instanceof Promise ? r.then(checkResult) : checkResult(r);
    };
  };
  const fixed = b.fixed?.bind(b);
  const check = b.check?.bind(b);
  return {
    ...b,
    onConnection: wrap(b.onConnection?.bind(b)),
    onExchange: wrap(b.onExchange?.bind(b)),
    fixed: fixed && ((options) => {
      try {
        return checkResult(fixed(options));
      } catch (err) {
        throw new Error(`fixed(): ${messageOf(err)}`);
      }
    }),
    check: check && ((options, protocol) => {
      const r = check(options, protocol);
      if (r === undefined || r === null) return undefined;
      if (typeof r.option !== 'string' || typeof r.problem !== 'string') throw new Error(`check() returned ${safeJson(r)}: return nothing, or {option, problem} (two strings)`);
      return r;
    }),
  };
}

const MAX_MS = 2 ** 31 - 1;
const STREAMS = new Set(['upstream', 'downstream']);

function checkResult(r: HookResult): HookResult {
  if (r === undefined || r === null) return r;
  for (const a of Array.isArray(r) ? r : [r]) {
    const problem = actionProblem(a);
    if (problem) throw new Error(`returned an invalid action ${safeJson(a)}: ${problem}`);
  }
  return r;
}

function actionProblem(a: Action): string | undefined {
  if (!a || typeof a !== 'object') return 'not an action object (use act.*)';
  const num = (v: unknown, what: string, min = 0, max = MAX_MS): string | undefined =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? undefined : `${what} must be a number from ${min} to ${max}`;
  const stream = (v: unknown) => (STREAMS.has(v as string) ? undefined : 'stream must be upstream or downstream');
  switch (a.type) {
    case 'forward': case 'close': case 'abort':
      return undefined;
    case 'delay':
      return num(a.ms, 'ms') ?? stream(a.stream);
    case 'error':
      if (a.kind !== undefined && typeof a.kind !== 'string') return 'kind must be a string';
      return a.message === undefined || typeof a.message === 'string' ? undefined : 'message must be a string';
    case 'reset':
      return a.afterMs === undefined ? undefined : num(a.afterMs, 'afterMs');
    case 'drop':
      return stream(a.stream) ?? (a.closeAfterMs === undefined ? undefined : num(a.closeAfterMs, 'closeAfterMs'));
    case 'throttle':
      return num(a.bytesPerSecond, 'bytesPerSecond', 1, Number.MAX_SAFE_INTEGER) ?? stream(a.stream);
    case 'slice':
      return num(a.averageSize, 'averageSize', 1, Number.MAX_SAFE_INTEGER) ?? num(a.sizeVariation, 'sizeVariation', 0, Number.MAX_SAFE_INTEGER)
        ?? num(a.delayMs, 'delayMs') ?? stream(a.stream);
    case 'corrupt':
      return num(a.bytes, 'bytes', 0, 1024 * 1024) ?? stream(a.stream);
    case 'limit':
      return num(a.bytes, 'bytes', 0, Number.MAX_SAFE_INTEGER) ?? stream(a.stream);
    case 'slowClose':
      return num(a.ms, 'ms');
    default:
      return `unknown action type "${String((a as { type?: unknown }).type)}"`;
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
