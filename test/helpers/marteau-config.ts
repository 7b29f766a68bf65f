/** Parse a .marteau.yml text as the engine does, at a fixed path, with the built-in runners and behaviors. */
import { ConfigError, parseYaml } from '../../src/config/errors.js';
import type { Vars } from '../../src/config/interpolate.js';
import { parseMarteauConfig, type MarteauConfig } from '../../src/config/marteau.js';
import { defaultRunners } from '../../src/runners/index.js';
import { writeReports } from '../../src/report/index.js';
import { defaultRegistry } from '../../behaviors/index.js';

export const CONFIG_FILE = '/proj/.marteau.yml';
export const configOptions = { runners: defaultRunners(writeReports), behaviors: defaultRegistry };

export function parseConfig(text: string, vars: Vars = {}): MarteauConfig {
  return parseMarteauConfig(parseYaml(CONFIG_FILE, text), '/proj', configOptions, vars);
}

/** The ConfigError a text gives; throws when it parses. */
export function configError(text: string): ConfigError {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}
