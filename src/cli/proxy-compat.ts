/**
 * What Vaurien and Toxiproxy users already type and keep, read by `marteau-tui proxy`:
 * - Vaurien's command line (`--proxy`, `--backend`, `--behavior 20:delay`, `--behavior-delay-sleep
 *   2`, `--http --http-port 8080`, `--statsd.enabled`, ...), turned into our flags;
 * - a Vaurien INI file given to `--config`, and which kind of file a `--config` is (a Toxiproxy
 *   JSON file is read by toxiproxy-config.ts; our YAML stays the default);
 * - toxiproxy-server's single-dash flags (`-config`, `-host`, `-port`).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/errors.js';
import { closest, didYouMean } from '../text/closest.js';
import type { ProxiesConfig } from '../config/proxies.js';
import { readVaurienIni, type Ini, type IniValue } from '../config/vaurien-ini.js';
import { baseType, textAs } from '../proxy/api/vaurien.js';
import { MixError, parseMix, type MixSpec } from '../proxy/mix.js';
import { protocolInfo } from '../proxy/protocols/index.js';
import { buildRegistry } from '../../behaviors/index.js';
import { PROTOCOL_NAMES, type ProtocolName } from '../proxy/protocol.js';
import { UsageError } from '../core/exit.js';
import { splitHostPort, upstreamProblem } from '../proxy/host-port.js';

/** Options of built-in behaviors given on the command line, by behavior: `{delay: {sleep: 2}}`. */
export type BehaviorOptions = Record<string, Record<string, unknown>>;

export interface TranslatedArgs {
  args: string[];
  behaviorOptions: BehaviorOptions;
  /** The mix flag as typed, Vaurien's `--behavior` or ours, for its errors. */
  mixFlag?: string;
}

const RENAMED: Record<string, string> = {
  '--proxy': '--listen',
  '--backend': '--upstream',
  '--behavior': '--behaviors',
  '--statsd.prefix': '--statsd-prefix',
  '-config': '--config',
};
/** Vaurien flags that only feed another one (see the end of translateArgs). */
const VALUED = new Set(['--http-host', '--http-port', '--statsd-host', '--statsd.host', '--statsd-port', '--statsd.port', '-host', '-port']);
const SWITCHES = new Set(['--http', '--statsd-enabled', '--statsd.enabled']);
/**
 * Vaurien flags with no use here, accepted so that its command lines run unchanged
 * (vaurien.util.start_proxy always passes --log-level and --log-output): logs go to stderr,
 * sockets and pools are managed by Node.
 */
const IGNORED_VALUED = new Set(['--log-level', '--log-output', '--timeout', '--pool-max-size', '--pool-timeout', '--backlog', '--bufsize', '--statsd.sample-rate']);
const IGNORED_SWITCHES = new Set(['--stay-connected', '--sync']);

/** Rewrite `marteau-tui proxy` arguments given in Vaurien's or toxiproxy-server's spelling into ours. */
export function translateArgs(input: readonly string[]): TranslatedArgs {
  const args: string[] = [];
  const values = new Map<string, string>();
  /** The spelling the user typed for each of `values` (`-port`, `--statsd.port`), for errors. */
  const typed = new Map<string, string>();
  const switches = new Set<string>();
  const behaviorOptions: BehaviorOptions = {};
  let mixFlag: string | undefined;
  const registry = buildRegistry();
  for (let i = 0; i < input.length; i++) {
    const arg = input[i];
    const eq = arg.startsWith('-') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = input[i + 1];
      if (v === undefined) throw new UsageError(`${flag}: missing its value`);
      i++;
      return v;
    };
    if (flag === '--') {
      args.push(...input.slice(i));
      break;
    }
    if (flag in RENAMED) {
      if (flag === '--behavior') mixFlag = flag;
      args.push(RENAMED[flag], take());
    } else if (VALUED.has(flag)) {
      const key = flag.replace('.', '-').replace(/^-(?=[a-z])/, '--');
      values.set(key, take());
      typed.set(key, flag);
    } else if (IGNORED_VALUED.has(flag)) {
      take();
    } else if (IGNORED_SWITCHES.has(flag)) {
      // nothing to do
    } else if (SWITCHES.has(flag)) {
      switches.add(flag.replace('.', '-'));
    } else if (flag.startsWith('--behavior-')) {
      const { behavior, option, type } = behaviorFlag(flag, registry);
      const value = type === 'boolean' && inline === undefined ? true : fromFlag(flag, take(), type);
      (behaviorOptions[behavior] ??= {})[option] = value;
    } else if (flag === '--protocol-http-overwrite-host-header') {
      args.push('--rewrite-host');
    } else if (/^--protocol-\w+-(keep-alive|reuse-socket)$/.test(flag)) {
      // Vaurien's socket reuse: connections here are always kept alive as the client asks.
    } else if (/^--protocol-\w+-buffer$/.test(flag)) {
      take();
    } else if (flag.startsWith('--protocol-')) {
      throw new UsageError(`${flag}: not a Vaurien protocol option this proxy knows (it takes --protocol-http-overwrite-host-header)`);
    } else {
      args.push(arg);
    }
  }
  // Checked here, where the flag the user typed is known: `--api` or `--statsd` would name ours.
  const port = (key: string, fallback: string, zeroOk: boolean): string => {
    // zeroOk: an API may listen on any free port; statsd is sent to a server's port.
    const v = values.get(key);
    if (v === undefined) return fallback;
    const flag = typed.get(key) ?? key;
    if (!/^\d+$/.test(v.trim())) throw new UsageError(`${flag}: expected a port number, got "${v}"; e.g. ${flag} ${fallback}`);
    const n = Number(v);
    if (n > 65535) throw new UsageError(`${flag}: port ${n} is over 65535; e.g. ${flag} ${fallback}`);
    if (n === 0 && !zeroOk) throw new UsageError(`${flag}: port 0 is not a port a statsd server listens on; give its port, e.g. ${flag} ${fallback}`);
    return String(n);
  };
  const host = (key: string, fallback: string): string => {
    const h = values.get(key) ?? fallback;
    return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
  };
  if (switches.has('--http')) {
    args.push('--api', `${host('--http-host', 'localhost')}:${port('--http-port', '8080', true)}`);
  } else if (values.has('--host') || values.has('--port')) {
    args.push('--api', `${host('--host', 'localhost')}:${port('--port', '8474', true)}`);
  }
  if (switches.has('--statsd-enabled')) {
    args.push('--statsd', `${host('--statsd-host', 'localhost')}:${port('--statsd-port', '8125', false)}`);
    if (!args.includes('--statsd-prefix')) args.push('--statsd-prefix', 'vaurien');
  }
  return { args, behaviorOptions, mixFlag };
}

/** `--behavior-delay-sleep`: behavior `delay`, option `sleep` (Vaurien writes `_` as `-` in option names; we take it in behavior names too). */
function behaviorFlag(flag: string, registry: ReturnType<typeof buildRegistry>): { behavior: string; option: string; type?: string } {
  const rest = flag.slice('--behavior-'.length);
  const names = [...registry.keys()].sort((a, b) => b.length - a.length);
  // fail-first as well as fail_first: the flag's other words are dashed.
  const behavior = names.find((n) => rest.startsWith(`${n}-`) || rest.startsWith(`${n.replace(/_/g, '-')}-`));
  if (!behavior) {
    // What stands before the option: "dealy" in --behavior-dealy-sleep.
    const near = didYouMean(rest.slice(0, Math.max(0, rest.lastIndexOf('-'))), names);
    throw new UsageError(`${flag}: no behavior named in it${near ? `${near} Use` : '; use'} --behavior-<name>-<option>, e.g. --behavior-delay-sleep 2 (behaviors: ${[...registry.keys()].sort().join(', ')})`);
  }
  const shape = registry.get(behavior)!.options.shape as Record<string, unknown>;
  const given = rest.slice(behavior.length + 1);
  const option = Object.keys(shape).find((k) => k.replace(/_/g, '-') === given);
  if (!option) {
    const near = didYouMean(given, Object.keys(shape).map((k) => k.replace(/_/g, '-')));
    throw new UsageError(`${flag}: ${behavior} has no such option${near ? `${near} Its` : '; its'} options: ${Object.keys(shape).join(', ') || '(none)'}`);
  }
  return { behavior, option, type: baseType(shape[option]) };
}

function fromFlag(flag: string, text: string, type: string | undefined): unknown {
  const r = textAs(text, type);
  if ('expected' in r) throw new UsageError(`${flag}: expected ${r.expected}, got "${text}"`);
  return r.value;
}

// ---- config files ---------------------------------------------------------------------------

export type ConfigKind = 'yaml' | 'vaurien' | 'toxiproxy';

/** A JSON array is Toxiproxy's populate format; `.ini`, or a file that opens with a [section], is Vaurien's. */
export async function configKind(file: string): Promise<ConfigKind> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return 'yaml';
  }
  const start = text.replace(/^\uFEFF/, '').trimStart();
  if (file.endsWith('.json') || (start.startsWith('[') && /^\[\s*($|[{\]])/.test(start))) return 'toxiproxy';
  if (/\.(ini|cfg|conf)$/i.test(file) || /^\[[^\]\n]+\]\s*$/m.test(start.split('\n')[0] ?? '')) return 'vaurien';
  return 'yaml';
}

/** Vaurien's protocol options: the Host rewrite is honoured, socket reuse and buffer sizes have no use here. */
const PROTOCOL_OPTIONS = new Set(['overwrite_host_header', 'keep_alive', 'reuse_socket', 'buffer']);

/** Vaurien's own [vaurien] settings that this proxy reads but has no use for (it sizes and times its sockets itself). */
const VAURIEN_TUNING = ['timeout', 'stay_connected', 'pool_max_size', 'pool_timeout', 'sync', 'backlog', 'bufsize'];
const VAURIEN_USED = ['proxy', 'backend', 'protocol', 'behavior'];
const STATSD_KEYS = ['enabled', 'host', 'port', 'prefix', 'sample_rate'];

/** What a Vaurien INI file gives: one proxy, maybe statsd, and notes on the keys it does not use. */
export interface VaurienConfig {
  config: ProxiesConfig;
  /** `file:line: ...` for each [vaurien] key of the file itself that does nothing here. */
  notes: string[];
}

/**
 * A Vaurien INI file as Vaurien applies it: its [vaurien] and [statsd] values override the
 * command line (Vaurien reads the file after its flags), the running protocol's
 * [protocol:NAME] `overwrite_host_header` is honoured, and [behavior:NAME] sections (Python
 * callables) are refused.
 */
export function vaurienConfig(file: string, flags: { listen?: string; upstream?: string; protocol: string; behaviors?: string; mixFlag?: string; rewriteHost?: boolean }, behaviorOptions: BehaviorOptions): VaurienConfig {
  const ini = readVaurienIni(file);
  const get = (section: string, key: string): IniValue | undefined => ini.get(section)?.get(key)?.value;
  const text = (section: string, key: string, fallback: string): string => {
    const v = get(section, key);
    if (v === undefined) return fallback;
    if (typeof v !== 'string' && typeof v !== 'number') throw fail(ini, file, section, key, 'expected one value');
    return String(v);
  };
  for (const [name, entries] of ini) {
    if (name.startsWith('behavior:')) {
      const callable = entries.get('callable');
      if (callable) {
        throw new ConfigError(file, callable.line, 1, `[${name}] callable = ${String(callable.value)}: Vaurien's Python behaviors cannot run here`,
          'write the behavior as a JavaScript plugin (see behaviors/README.md) and list it under plugins: in a YAML config');
      }
    }
    for (const [key, e] of name.startsWith('protocol:') ? entries : []) {
      if (!PROTOCOL_OPTIONS.has(key)) throw new ConfigError(e.file, e.line, 1, `[${name}] ${key}: not a Vaurien protocol option this proxy knows (overwrite_host_header, keep_alive, reuse_socket, buffer)`);
    }
  }
  const protocol = text('vaurien', 'protocol', flags.protocol);
  if (!(PROTOCOL_NAMES as readonly string[]).includes(protocol)) throw fail(ini, file, 'vaurien', 'protocol', `unknown protocol "${protocol}"; use one of ${PROTOCOL_NAMES.join(', ')}`);
  const mixText = text('vaurien', 'behavior', flags.behaviors ?? '100:dummy');
  const behaviors = withOptions(mixText, behaviorOptions);
  try {
    parseMix(behaviors, buildRegistry(), { protocol: protocolInfo(protocol as ProtocolName) });
  } catch (e) {
    if (!(e instanceof MixError)) throw e;
    // The file has no behavior options: a wrong one came with a --behavior-<name>-<option> flag.
    if (get('vaurien', 'behavior') === undefined || e.path.length > 1) throw mixFlagError(e, flags.mixFlag);
    throw fail(ini, file, 'vaurien', 'behavior', e.message);
  }
  const listen = text('vaurien', 'proxy', flags.listen ?? 'localhost:8000');
  const upstream = text('vaurien', 'backend', flags.upstream ?? 'localhost:80');
  // The file's own values (the flags' are checked as flags): a bad one is its file:line, not a crash.
  for (const [key, value, example] of [['proxy', listen, 'localhost:8000'], ['backend', upstream, 'localhost:6379']] as const) {
    if (get('vaurien', key) === undefined) continue;
    try {
      splitHostPort(value);
    } catch (e) {
      throw fail(ini, file, 'vaurien', key, (e as Error).message);
    }
    const problem = key === 'backend' ? upstreamProblem(value) : undefined;
    if (problem) throw fail(ini, file, 'vaurien', key, `${problem}; e.g. ${key} = ${example}`);
  }
  const config: ProxiesConfig = {
    proxies: [{
      name: 'vaurien',
      listen,
      upstream,
      protocol: protocol as ProtocolName,
      behaviors,
      // Vaurien applies only the running protocol's section.
      rewriteHost: get(`protocol:${protocol}`, 'overwrite_host_header') === true || flags.rewriteHost,
    }],
  };
  if (get('statsd', 'enabled') === true) {
    const rate = get('statsd', 'sample_rate');
    config.statsd = {
      host: text('statsd', 'host', 'localhost'),
      port: Number(text('statsd', 'port', '8125')),
      prefix: text('statsd', 'prefix', 'vaurien'),
      sample_rate: rate === undefined ? 1 : Number(rate),
    };
    const port = config.statsd.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw fail(ini, file, 'statsd', 'port', `expected the port a statsd server listens on (1 to 65535), got ${text('statsd', 'port', '')}; e.g. port = 8125`);
  }
  const notes: string[] = [];
  // Vaurien skips a section it does not read, and so does this, saying so: a file whose settings
  // sit under another name ([proxy], [vaurien:x]) would otherwise run on Vaurien's defaults.
  for (const [name, section] of ini) {
    if (section.file !== file || ['DEFAULT', 'vaurien', 'statsd'].includes(name) || /^(protocol|behavior):/.test(name)) continue;
    const near = closest(name, ['vaurien', 'statsd']);
    notes.push(`${file}:${section.line}: [${name}] is not a section Vaurien reads, ignored with its keys; ${near ? `did you mean [${near}]?` : 'Vaurien reads [vaurien] (proxy, backend, protocol, behavior) and [statsd]'}`);
  }
  for (const [key, e] of ini.get('statsd') ?? []) {
    if (STATSD_KEYS.includes(key) || e.file !== file || ini.get('DEFAULT')?.get(key) === e) continue;
    const near = closest(key, STATSD_KEYS);
    notes.push(`${file}:${e.line}: [statsd] ${key} is not a Vaurien setting, ignored${near ? `; did you mean "${near}"?` : ''}`);
  }
  for (const [key, e] of ini.get('vaurien') ?? []) {
    // Keys from the files it extends are theirs to mention.
    if (VAURIEN_USED.includes(key) || e.file !== file) continue;
    const where = `${file}:${e.line}: [vaurien] ${key}`;
    if (VAURIEN_TUNING.includes(key)) {
      notes.push(`${where} is read but has no use here (marteau-tui sets it itself)`);
    } else {
      // Vaurien ignores a key it does not know, and so does this: a misspelt `proxy` would
      // otherwise silently listen on Vaurien's default address.
      const near = closest(key, [...VAURIEN_USED, ...VAURIEN_TUNING]);
      notes.push(`${where} is not a Vaurien setting, ignored${near ? `; did you mean "${near}"?` : ''}`);
    }
  }
  return { config, notes };
}

function fail(ini: Ini, file: string, section: string, key: string, problem: string): ConfigError {
  const e = ini.get(section)?.get(key);
  return new ConfigError(e?.file ?? file, e?.line, 1, `[${section}] ${key}: ${problem}`);
}

/**
 * A mix from the command line that does not parse, named by the flag that gave the wrong part:
 * `--behavior-<name>-<option>` for an option (a mix on the command line is text, without
 * options), else `--behaviors`.
 */
export function mixFlagError(e: MixError, mixFlag = '--behaviors'): UsageError {
  const [name, option] = e.path;
  const flag = typeof name === 'string' && typeof option === 'string' ? `--behavior-${name}-${option.replace(/_/g, '-')}` : mixFlag;
  return new UsageError(`${flag}: ${e.message}`);
}

/**
 * A Vaurien mix (`20:delay,10:error`) with the command line's behavior options attached, as a
 * map spec: Vaurien applies `--behavior-<name>-<option>` to that behavior wherever it is drawn.
 */
export function withOptions(mix: string, options: BehaviorOptions): MixSpec {
  if (Object.keys(options).length === 0) return mix;
  const spec: Record<string, { percent: number; [k: string]: unknown }> = {};
  for (const part of mix.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [percent, name] = part.split(':').map((s) => s.trim());
    // Anything unusual is left for parseMix to report in its own words.
    if (name === undefined || !/^\d+(\.\d+)?$/.test(percent)) return mix;
    spec[name] = { ...options[name], percent: (spec[name]?.percent ?? 0) + Number(percent) };
  }
  return spec;
}
