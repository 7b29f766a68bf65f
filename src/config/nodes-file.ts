/**
 * Which nodes file applies, and its config read through a cache of its last validation: the
 * schema (zod) and the YAML parser weigh more than Node's own start, and `queue` or `nodes`
 * from a shell should start at once. The cache holds only a config that validated, under a key
 * of everything the result depends on (the file's path and text, the user, the home directory
 * and the build of the validating code), so a hit is what validating again would give.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { mkdirp } from '../fs/mkdirp.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { identityProblem } from './identity-files.js';
import type { NodesConfig } from './nodes.js';

/** The default node list shipped with the package: this machine only. */
export function packagedNodesFile(): string {
  // src/config/ under the test runner, dist/src/config/ when built: the file is at the package root.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..';
  return path.resolve(here, up, 'marteau.nodes.yml');
}

/**
 * Which nodes file applies: `--nodes`, then $MARTEAU_NODES, then ./marteau.nodes.yml, then the
 * packaged default.
 */
export async function resolveNodesFile(flag?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<string> {
  if (flag) return path.resolve(cwd, flag);
  if (env.MARTEAU_NODES) return path.resolve(cwd, env.MARTEAU_NODES);
  const local = path.join(cwd, 'marteau.nodes.yml');
  if (await stat(local).then((s) => s.isFile(), () => false)) return local;
  return packagedNodesFile();
}

/**
 * `loadNodesConfig(file)`, answered from `cacheFile` when nothing it depends on changed. Errors
 * are never cached: a bad file is validated (and reported) every time.
 */
export async function loadNodesConfigCached(file: string, cacheFile: string): Promise<NodesConfig> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const key = text === undefined ? undefined : await cacheKey(file, text);
  if (key) {
    const cached = await readFile(cacheFile, 'utf8')
      .then((t) => JSON.parse(t) as { key?: string; config?: NodesConfig })
      .catch(() => undefined); // none yet, or torn: validate
    // A key removed since is for validation to say, at its line.
    if (cached?.key === key && cached.config && cached.config.nodes.every((n) => identityProblem(n) === undefined)) return cached.config;
  }
  // A missing or unreadable file goes this way too, for loadNodesConfig's message.
  const config = await (await import('./nodes.js')).loadNodesConfig(file);
  if (key) {
    // Written aside and renamed: two commands starting together never read half a cache.
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    await mkdirp(path.dirname(cacheFile), 0o700)
      .then(() => writeFile(tmp, JSON.stringify({ key, config }), { mode: 0o600 }))
      .then(() => rename(tmp, cacheFile))
      .catch(() => {}); // a read-only state dir: no cache, same answers
  }
  return config;
}

/** Undefined when the validating code cannot be identified (then nothing is cached). */
async function cacheKey(file: string, text: string): Promise<string | undefined> {
  // The compiled nodes.js is rewritten by every build and every install: its mtime and size name the schema.
  const code = await stat(fileURLToPath(new URL('./nodes.js', import.meta.url))).catch(() => undefined);
  if (!code) return undefined;
  const user = os.userInfo().username;
  return createHash('sha256').update(JSON.stringify([code.mtimeMs, code.size, path.resolve(file), user, os.homedir(), text])).digest('hex');
}
