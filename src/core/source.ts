/**
 * Where a job's project comes from: a local directory (run in place) or a git URL, cloned into
 * the job's directory at enqueue time and pinned to the commit it got, as Marteau did.
 */
import path from 'node:path';
import { ConfigError } from '../config/errors.js';
import { mkdirp } from '../fs/mkdirp.js';

export interface GitTarget {
  url: string;
  ref?: string;
}

const CLONE_TIMEOUT_MS = 300_000;

/** `https://…`, `ssh://…`, `git://…`, `file://…`, `user@host:path`, each optionally `#ref`. */
export function parseGitTarget(target: string): GitTarget | undefined {
  const m = /^((?:https?|ssh|git|file):\/\/[^\s#]+|[\w.-]+@[\w.-]+:[^\s#]+)(?:#([^\s]+))?$/.exec(target);
  if (!m) return undefined;
  return { url: m[1], ref: m[2] };
}

/**
 * What a project cloned from `url` is called when its config names none: the repository's
 * (`https://host/team/shop.git` → `shop`), as the directory name is for a local project; the
 * clone's own directory is always `src`.
 */
export function gitProjectName(url: string): string | undefined {
  const last = url.replace(/[/\\]+$/, '').split(/[/:]/).pop() ?? '';
  return last.replace(/\.git$/, '') || undefined;
}

export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

/** Clone into `dir` and return the commit checked out. */
export async function cloneGit(t: GitTarget, dir: string): Promise<string> {
  if (t.ref !== undefined && !/^[\w./-]+$/.test(t.ref)) throw new ConfigError(t.url, undefined, undefined, `bad git ref "${t.ref}"`, 'a branch, tag or commit: letters, digits, . / _ -');
  if (t.ref?.startsWith('-')) throw new ConfigError(t.url, undefined, undefined, `bad git ref "${t.ref}"`);
  await mkdirp(path.dirname(dir));
  const env = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', SSH_ASKPASS: 'true' };
  // `ext::` runs arbitrary commands: never allowed, whatever the user's git config says.
  const base = ['-c', 'protocol.ext.allow=never'];
  // Loaded when a clone is asked for: `queue` and the rest of the CLI start without execa's hundred modules.
  const { execa } = await import('execa');
  const git = async (args: string[], cwd?: string) => {
    const r = await execa('git', [...base, ...args], { cwd, env, reject: false, timeout: CLONE_TIMEOUT_MS, stdin: 'ignore' });
    if (r.exitCode !== 0) {
      // Git's own words come first; after a blank line it adds advice ("Please make sure you have
      // the correct access rights"), which said nothing of a repository that is not there.
      const msg = String(r.stderr || r.message).trim().split(/\n\s*\n/)[0].split('\n').slice(-2).join(' ');
      throw new SourceError(`git ${args[0]} failed: ${msg || `exit ${r.exitCode}`}`);
    }
    return String(r.stdout).trim();
  };
  await git(['clone', '--quiet', ...(t.ref ? [] : ['--depth', '1']), '--', t.url, dir]);
  if (t.ref) await git(['checkout', '--quiet', '--detach', await resolveRef({ ...t, ref: t.ref }, git, dir), '--'], dir);
  return git(['rev-parse', 'HEAD'], dir);
}

/**
 * The commit a `#ref` names in a fresh clone. A branch other than the default exists there only
 * as `origin/<ref>` (`checkout --detach <ref>` does not look there), so remote branches come
 * first, then tags, then anything git resolves (a commit id).
 */
async function resolveRef(t: GitTarget & { ref: string }, git: (args: string[], cwd?: string) => Promise<string>, dir: string): Promise<string> {
  for (const candidate of [`refs/remotes/origin/${t.ref}`, `refs/tags/${t.ref}`, t.ref]) {
    const sha = await git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`], dir).catch(() => undefined);
    if (sha) return sha;
  }
  // The clone worked, so the machine is not at fault: the target names what is not there.
  throw new ConfigError(`${t.url}#${t.ref}`, undefined, undefined, `git ref "${t.ref}" is not a branch, tag or commit of the repository`, `give one it has (git ls-remote ${t.url} lists its branches and tags)`);
}
