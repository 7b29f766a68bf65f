/**
 * A toxiproxy-server `-config` file: the `/populate` body (a list of {name, listen, upstream,
 * enabled}), read as Go reads it (nulls and other fields are skipped; toxics in it are ignored,
 * as Toxiproxy ignores them), each mistake at its file:line:col as in our YAML files.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, locate, type SourceDoc } from '../config/errors.js';
import { unreadableWords } from '../fs/errors.js';
import { closest } from '../text/closest.js';
import { JsonSyntaxError, parseJson } from '../proxy/api/json.js';
import type { ProxySpec } from '../proxy/api/control.js';
import type { ControlError } from '../proxy/api/control-errors.js';
import { splitHostPort, upstreamProblem } from '../proxy/host-port.js';
import { ListenError } from '../proxy/proxy-errors.js';

/** The fields of a Toxiproxy proxy in its config and API (`toxics` are read and ignored, as Toxiproxy's -config does). */
const TOXIPROXY_FIELDS = ['name', 'listen', 'upstream', 'enabled', 'toxics'];
const TOXIPROXY_EXAMPLE = 'e.g. [{"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379"}]';

export interface ToxiproxyConfig {
  proxies: ProxySpec[];
  /** `file:line:col: ...` for each field the file has that Toxiproxy ignores. */
  notes: string[];
  /** Why populating the proxies failed, at the entry that failed (the index the populate stopped at). */
  populateError(index: number, error: ControlError): ConfigError;
}

export async function readToxiproxyConfig(file: string): Promise<ToxiproxyConfig> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ConfigError(file, undefined, undefined, `cannot read the file: ${unreadableWords(e)}`, 'check the path given to --config');
  });
  let list: unknown;
  try {
    list = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new ConfigError(file, e.line, e.column, `JSON syntax: ${e.reason}`);
    throw e;
  }
  if (!Array.isArray(list)) throw new ConfigError(file, 1, 1, "expected a JSON list of proxies, as Toxiproxy's -config takes", TOXIPROXY_EXAMPLE);
  // Valid JSON is YAML too: its parser gives each entry's and field's line (Go takes a repeated key's last value; this points at its first).
  const lines = new LineCounter();
  const src: SourceDoc = { file, doc: parseDocument(text, { lineCounter: lines, uniqueKeys: false }), lines };
  const items = list.map((item) => (item && typeof item === 'object' ? item : {}) as Record<string, unknown>);
  // Go matches a JSON key to a field without regard to case, an exact match first.
  const keyOf = (o: Record<string, unknown>, k: string): string | undefined => (k in o ? k : Object.keys(o).find((x) => x.toLowerCase() === k));
  /** A mistake of entry i, at the value of `field` (or at its key: `atKey`), else at the entry. */
  const at = (i: number, field: string | undefined, problem: string, hint?: string, atKey = false): ConfigError => {
    const key = field === undefined ? undefined : keyOf(items[i], field);
    const { line, col } = locate(src, key === undefined ? [i] : [i, key], atKey);
    const name = items[i][keyOf(items[i], 'name') ?? ''];
    return new ConfigError(file, line, col, `proxy ${i + 1}${typeof name === 'string' ? ` (${name})` : ''}: ${problem}`, hint);
  };
  const notes: string[] = [];
  const proxies = items.map((o, i): ProxySpec => {
    const field = (k: string): unknown => o[keyOf(o, k) ?? ''];
    const str = (k: string): string | undefined => {
      const v = field(k);
      if (v === null || v === undefined) return undefined;
      if (typeof v !== 'string') throw at(i, k, `"${k}" must be a string`);
      return v;
    };
    const enabled = field('enabled') ?? undefined;
    if (enabled !== undefined && typeof enabled !== 'boolean') throw at(i, 'enabled', '"enabled" must be true or false');
    const unknown = Object.keys(o).filter((k) => !TOXIPROXY_FIELDS.includes(k.toLowerCase()));
    const name = str('name');
    const upstream = str('upstream');
    for (const [key, v] of [['name', name], ['upstream', upstream]] as const) {
      if (v) continue;
      const typo = unknown.find((k) => closest(k, [key]) === key);
      const hint = typo ? `did you mean "${key}" where the file has "${typo}"?` : TOXIPROXY_EXAMPLE;
      throw at(i, typo, `missing required field "${key}"`, hint, true);
    }
    const listen = str('listen');
    // Said here, at their line, in the words of the flags: the API's populate would say "bad request body".
    for (const [key, value] of [['listen', listen], ['upstream', upstream]] as const) {
      if (!value) continue;
      try {
        splitHostPort(value);
      } catch (e) {
        throw at(i, key, `${key}: ${(e as Error).message}`);
      }
      const problem = key === 'upstream' ? upstreamProblem(value) : undefined;
      if (problem) throw at(i, key, `upstream: ${problem}; give the port the real server listens on`);
    }
    // Toxiproxy skips a key it does not know, and so does this; a misspelt `listen` would
    // otherwise leave the proxy on a default address without a word.
    for (const k of unknown) {
      const near = closest(k, TOXIPROXY_FIELDS);
      notes.push(at(i, k, `"${k}" is not a Toxiproxy field, ignored${near ? `; did you mean "${near}"?` : ''}`, undefined, true).message);
    }
    return { name: name!, listen, upstream: upstream!, enabled: enabled as boolean | undefined };
  });
  return {
    proxies,
    notes,
    populateError: (i, error) => {
      const listen = error.cause instanceof ListenError ? error.cause : undefined;
      // The listen address's own fault (taken, not this machine's) in the words a YAML file gets.
      if (listen?.mistake) return at(i, 'listen', listen.message.replace(/^proxy "[^"]*": /, ''));
      return at(i, listen ? 'listen' : error.where, error.message.replace(/^bad request body: /, ''));
    },
  };
}
