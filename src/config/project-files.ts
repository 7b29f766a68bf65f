/**
 * Which config files a project target (a file or a directory) names, told apart from loading
 * them: `--ci` and `enqueue DIR` queue each file a directory holds, a single load needs one.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './errors.js';

export const CONFIG_FILE_NAMES = ['.marteau.yml', '.marteau.yaml'] as const;

/**
 * The config files a project target means, for `enqueue` and `--ci` alike: a file itself; for a
 * directory its `.marteau.yml` (or `.marteau.yaml`), else every `*.marteau.yml` in it, sorted.
 */
export async function projectConfigFiles(target: string): Promise<string[]> {
  const st = await stat(target).catch(() => undefined);
  if (!st) throw new ConfigError(target, undefined, undefined, 'no such file or directory', 'give a project directory holding a .marteau.yml, or a config file');
  if (st.isFile()) return [target];
  if (!st.isDirectory()) throw new ConfigError(target, undefined, undefined, 'not a .marteau.yml file nor a directory', 'give a project directory holding a .marteau.yml, or a config file');
  let names: string[];
  try {
    names = await readdir(target);
  } catch (e) {
    throw new ConfigError(target, undefined, undefined, `cannot list this directory (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check its permissions, or give the path of a config file');
  }
  const main = CONFIG_FILE_NAMES.find((n) => names.includes(n));
  if (main) return [path.join(target, main)];
  const many = names.filter((n) => /\.marteau\.ya?ml$/.test(n)).sort();
  if (!many.length) throw new ConfigError(target, undefined, undefined, 'no .marteau.yml (nor *.marteau.yml) in this directory', 'create one (see `marteau-tui schema`), or give the path of a config file');
  return many.map((n) => path.join(target, n));
}

/** The one config file of a target; a directory of several `*.marteau.yml` must name one. */
export async function findConfigFile(target: string): Promise<string> {
  const files = await projectConfigFiles(target);
  if (files.length > 1) {
    throw new ConfigError(target, undefined, undefined, `this directory holds ${files.length} configs (${files.map((f) => path.basename(f)).join(', ')}) and no .marteau.yml`, 'give the path of one of them (`marteau-tui enqueue DIR` and `--ci DIR` take them all)');
  }
  return files[0];
}
