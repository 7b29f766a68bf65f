/**
 * The test's `<Class>.conf` as fl-run-bench reads it, checked at load time: BenchRunner reads
 * [main] and [bench] keys without defaults, so each one missing stops the bench with a Python
 * traceback naming only that key (ConfigParser.NoOptionError), one run per key. Here every key
 * missing is named at once, at its section's line, unless .marteau.yml gives it on the command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, ConfigErrors } from '../../config/config-error.js';
import type { MarteauConfig } from '../../config/marteau.js';

/** A key BenchRunner.__init__ reads without a default: an example value, and the .marteau.yml key that passes it as an option. */
interface Needed {
  example: string;
  override?: (c: MarteauConfig) => unknown;
  yamlKey?: string;
}

const NEEDED: Record<'main' | 'bench', Record<string, Needed>> = {
  main: {
    title: { example: 'My app' },
    description: { example: 'What this bench loads' },
    url: { example: 'http://127.0.0.1:8080', override: (c) => c.raw.url, yamlKey: 'url' },
  },
  bench: {
    cycles: { example: '10:20', override: (c) => (c.cycles?.length ? c.cycles : undefined), yamlKey: 'cycles' },
    duration: { example: '60', override: (c) => c.durationMs, yamlKey: 'duration' },
    startup_delay: { example: '0.05', override: (c) => c.startupDelayMs, yamlKey: 'startup_delay' },
    cycle_time: { example: '0' },
    sleep_time: { example: '0.5', override: (c) => c.sleepTimeMs, yamlKey: 'sleep_time' },
    sleep_time_min: { example: '0', override: (c) => c.sleepTimeMinMs, yamlKey: 'sleep_time_min' },
    sleep_time_max: { example: '0.5', override: (c) => c.sleepTimeMaxMs, yamlKey: 'sleep_time_max' },
  },
};

interface Section {
  line: number;
  keys: Set<string>;
}

/**
 * Sections and their keys as Python 2's ConfigParser reads them: a header at column 0, `key = v`
 * or `key: v` (keys lower-cased), comments (`#`, `;`, `rem`) and indented continuation lines
 * skipped; [DEFAULT]'s keys count in every section. Values are not needed here.
 */
export function readConfSections(text: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  let current: Section | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || /^[#;]/.test(line) || /^[rR][eE][mM](\s|$)/.test(line) || /^\s/.test(line)) return;
    const header = /^\[([^\]]+)\]/.exec(line);
    if (header) {
      current = sections.get(header[1]) ?? { line: i + 1, keys: new Set() };
      sections.set(header[1], current);
      return;
    }
    const option = /^([^:=\s][^:=]*?)\s*[:=]/.exec(line);
    if (option && current) current.keys.add(option[1].toLowerCase());
  });
  return sections;
}

const list = (words: string[]) => (words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`);

/**
 * Every [main]/[bench] key fl-run-bench would stop on, one error per section. The file is where
 * fl-run-bench looks: `<Class>.conf` in wdir, or under FL_CONF_PATH when the job's env sets it to
 * a path inside the project. A file not in the project is left to FunkLoad (the node may have it).
 */
export function checkConfFile(config: MarteauConfig): ConfigError | undefined {
  const confDir = config.env.FL_CONF_PATH;
  if (confDir !== undefined && path.isAbsolute(confDir)) return undefined;
  const file = path.join(config.workDir, confDir ?? '', `${config.test!.split('.')[0]}.conf`);
  if (!existsSync(file)) return undefined;
  const sections = readConfSections(readFileSync(file, 'utf8'));
  const defaults = sections.get('DEFAULT')?.keys ?? new Set<string>();
  const errors: ConfigError[] = [];
  for (const [name, keys] of Object.entries(NEEDED)) {
    const section = sections.get(name);
    const missing = Object.entries(keys).filter(([k, n]) => n.override?.(config) === undefined && !section?.keys.has(k) && !defaults.has(k));
    if (!missing.length) continue;
    const add = missing.map(([k, n]) => `${k} = ${n.example}`).join(', ');
    const yamlKeys = missing.flatMap(([, n]) => (n.yamlKey ? [`${n.yamlKey}:`] : []));
    const hint = `add ${section ? `to [${name}]` : `a [${name}] section with`}: ${add}${yamlKeys.length ? ` (or set ${list(yamlKeys)} in .marteau.yml)` : ''}`;
    const what = section ? `[${name}] lacks` : `no [${name}] section: it needs`;
    errors.push(new ConfigError(file, section?.line, section ? 1 : undefined, `${what} ${list(missing.map(([k]) => k))}, which fl-run-bench reads`, hint));
  }
  return errors.length > 1 ? new ConfigErrors(errors) : errors[0];
}
