/**
 * Vaurien's config file, read as Vaurien reads it: Python's RawConfigParser (sections, `key =
 * value` or `key: value`, `#`/`;` comment lines, indented continuation lines, keys lowercased,
 * a `[DEFAULT]` section under every other) plus Mozilla's value conversion (vaurien/config.py):
 * a value that starts like a number and is an integer becomes one, `"quoted"` loses its quotes,
 * true/false become booleans, `${VAR}` is taken from the environment, and a multi-line value
 * becomes a list of its non-empty lines. `extends = other.ini` in DEFAULT pulls in another file
 * whose values fill what this one lacks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { unreadableWords } from '../fs/errors.js';

export type IniValue = string | number | boolean | IniValue[];

export interface IniEntry {
  value: IniValue;
  /** Where the key was written, for errors: file (as given, or beside it for an extended one) and 1-based line. */
  file: string;
  line: number;
}

/** A section's lowercased keys, and where it was opened (its first `[name]` line). */
export class IniSection extends Map<string, IniEntry> {
  constructor(
    readonly file: string,
    readonly line: number,
  ) {
    super();
  }
}

/** Sections by name (as written, e.g. `vaurien`, `protocol:http`). */
export type Ini = Map<string, IniSection>;

const SECTION = /^\[([^\]]+)\]\s*$/;
const OPTION = /^([^:=\s][^:=]*?)\s*[:=]\s*(.*)$/;
const IS_NUMBER = /^-?[0-9]/;
const ENV = /\$\{(\w.*?)?\}/g;

/** Read and convert a Vaurien INI file (and the files it extends); errors name `file` as given. */
export function readVaurienIni(file: string, env: NodeJS.ProcessEnv = process.env): Ini {
  return readFile(file, env, new Set());
}

function readFile(file: string, env: NodeJS.ProcessEnv, seen: Set<string>): Ini {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read the file: ${unreadableWords(e)}`, 'check the path given to --config');
  }
  seen.add(path.resolve(file));
  const raw = parseRaw(file, text);
  const ini: Ini = new Map();
  for (const [name, { line, entries }] of raw) {
    const section = new IniSection(file, line);
    for (const [key, e] of entries) section.set(key, { ...e, value: convert(e.raw, file, e.line, env) });
    ini.set(name, section);
  }
  const extended = ini.get('DEFAULT')?.get('extends');
  if (extended) {
    for (const other of [extended.value].flat()) {
      const target = path.isAbsolute(String(other)) ? String(other) : path.join(path.dirname(file), String(other));
      if (seen.has(path.resolve(target))) throw new ConfigError(file, extended.line, 1, `extends ${other}: the files extend each other in a loop`);
      const base = readFile(target, env, seen);
      for (const [name, entries] of base) {
        const mine = ini.get(name) ?? new IniSection(entries.file, entries.line);
        for (const [key, e] of entries) if (!mine.has(key)) mine.set(key, e);
        ini.set(name, mine);
      }
    }
    // Read here, not a setting: [vaurien] would inherit it from DEFAULT and call it unknown.
    ini.get('DEFAULT')?.delete('extends');
  }
  // RawConfigParser: every section sees the DEFAULT keys it does not set itself.
  const defaults = ini.get('DEFAULT');
  if (defaults) {
    for (const [name, entries] of ini) {
      if (name === 'DEFAULT') continue;
      for (const [key, e] of defaults) if (!entries.has(key)) entries.set(key, e);
    }
  }
  return ini;
}

interface RawEntry {
  raw: string;
  file: string;
  line: number;
}

/** A section as written: its first `[name]` line, and its keys. */
interface RawSection {
  line: number;
  entries: Map<string, RawEntry>;
}

function parseRaw(file: string, text: string): Map<string, RawSection> {
  const sections = new Map<string, RawSection>();
  let current: Map<string, RawEntry> | undefined;
  let last: RawEntry | undefined;
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const n = i + 1;
    if (line.trim() === '' || /^[#;]/.test(line) || /^rem(\s|$)/i.test(line)) {
      continue;
    }
    if (/^\s/.test(line) && last) {
      // A continuation line: the value goes on (and becomes a list once converted).
      last.raw += `\n${line.trim()}`;
      continue;
    }
    const section = SECTION.exec(line);
    if (section) {
      const name = section[1].trim();
      let raw = sections.get(name);
      if (raw === undefined) sections.set(name, (raw = { line: n, entries: new Map() }));
      current = raw.entries;
      last = undefined;
      continue;
    }
    const option = OPTION.exec(line);
    if (!option) {
      throw new ConfigError(file, n, 1, `not an INI line: ${JSON.stringify(line.trim())}`, 'write `key = value` inside a [section], or start a comment with #');
    }
    if (!current) throw new ConfigError(file, n, 1, 'a key before any [section]', 'Vaurien reads its settings from [vaurien] and [statsd]');
    // Python's ConfigParser strips a `;` comment that follows whitespace.
    const value = option[2].replace(/\s;.*$/, '').trim();
    last = { raw: value, file, line: n };
    current.set(option[1].trim().toLowerCase(), last);
  }
  return sections;
}

function convert(raw: string, file: string, line: number, env: NodeJS.ProcessEnv): IniValue {
  if (raw.includes('\n')) return raw.split('\n').map((l) => convertOne(l, file, line, env)).filter((v) => v !== '');
  return convertOne(raw, file, line, env);
}

function convertOne(text: string, file: string, line: number, env: NodeJS.ProcessEnv): IniValue {
  const value = text.trim();
  if (IS_NUMBER.test(value)) {
    if (/^-?\d+$/.test(value)) return Number(value);
  } else if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1);
  } else if (value.toLowerCase() === 'true' || value.toLowerCase() === 'false') {
    return value.toLowerCase() === 'true';
  }
  return value.replace(ENV, (_m, name: string | undefined) => {
    const v = name === undefined ? undefined : env[name];
    if (v === undefined) throw new ConfigError(file, line, 1, `\${${name ?? ''}}: no such environment variable`, 'set it, or write the value itself');
    return v;
  });
}
