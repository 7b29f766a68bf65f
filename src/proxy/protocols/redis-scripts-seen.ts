/**
 * The Lua scripts a proxy saw go to the server, by their SHA1, so that an EVALSHA (what ioredis'
 * defineCommand and node-redis' scripts send first, EVAL only after a NOSCRIPT) is judged as the
 * EVAL of its script is (redis-scripts.ts), shared by the proxy's connections (a pool sends the
 * EVAL on one and the EVALSHAs on others). Learned: an EVAL's script as it is framed (a redis
 * caches it as it runs it, even one that fails at its first write), a SCRIPT LOAD's once the
 * server's reply says it took it; SCRIPT FLUSH forgets. Only a script all in the request's first
 * segment (HEAD_ARG_MAX, 1 KiB) is read, as for an EVAL.
 *
 * No SHA1 is computed as a script passes: a load of EVALs would pay one each, where an EVALSHA
 * needs one only once an error that can refuse a script is drawn for it (Protocol.refuses, asked
 * only then). A script is kept by its source and hashed on the first such EVALSHA after it came;
 * an EVAL repeating the last source seen costs a compare of its bytes.
 */
import { createHash } from 'node:crypto';
import { EMPTY, STAR, wordAt } from './redis-resp.js';
import { FunctionsSeen } from './redis-functions.js';

/**
 * At most this many sources kept (1 KiB each at most, so about 1 MiB), the oldest dropped: an
 * application holds a few dozen scripts, but one that builds its scripts' text (a value written
 * in) sends a new one per call, which must not grow the proxy for ever. An EVALSHA of one
 * dropped is judged as one not seen: it passes.
 */
export const SCRIPTS_KEPT = 1000;

export class ScriptsSeen {
  /** Sources (latin1, the request's bytes) oldest first, each with its SHA1 once computed ('' until then). */
  private readonly shas = new Map<string, string>();
  /** The hashed sources by SHA1 (lower case, as redis names them). */
  private readonly sources = new Map<string, string>();
  /** How many of `shas`' sources are not hashed yet. */
  private unhashed = 0;
  /** The last EVAL's script, a copy: a load repeating one EVAL is a compare. */
  private last: Buffer = EMPTY;

  /** The script at [from, to) of `buf`, an EVAL's, goes to the server. */
  evaluated(buf: Buffer, from: number, to: number): void {
    const bytes = buf.subarray(from, to);
    if (bytes.equals(this.last)) return;
    this.last = Buffer.from(bytes);
    this.loaded(bytes.toString('latin1'));
  }

  /** The server took script `source` (SCRIPT LOAD), or is sent it. */
  loaded(source: string): void {
    if (this.shas.has(source)) return;
    if (this.shas.size >= SCRIPTS_KEPT) {
      const [oldest, sha] = this.shas.entries().next().value as [string, string];
      this.shas.delete(oldest);
      if (sha === '') this.unhashed--;
      else this.sources.delete(sha);
      this.last = EMPTY;
    }
    this.shas.set(source, '');
    this.unhashed++;
  }

  flushed(): void {
    this.shas.clear();
    this.sources.clear();
    this.unhashed = 0;
    this.last = EMPTY;
  }

  /** The source of the script of SHA1 `sha` (any case); undefined when not seen. */
  sourceOf(sha: string): string | undefined {
    const name = sha.toLowerCase();
    if (this.unhashed > 0) {
      for (const [source, sha] of this.shas) {
        if (sha !== '') continue;
        const digest = createHash('sha1').update(source, 'latin1').digest('hex');
        this.shas.set(source, digest);
        this.sources.set(digest, source);
      }
      this.unhashed = 0;
    }
    return this.sources.get(name);
  }
}

/**
 * What a SCRIPT `sub` request of `count` words changes in the scripts seen once the server takes
 * it: LOAD (its script the third word), FLUSH. `request` begins with the request and holds what of
 * it has come: a script not all there is not read (not seen).
 */
export function scriptsChange(request: Buffer, sub: string, count: number): ((seen: ScriptsSeen) => void) | undefined {
  if (sub === 'FLUSH') return (seen) => seen.flushed();
  const at = sub === 'LOAD' && count === 3 && request[0] === STAR ? wordAt(request, 2) : undefined;
  if (at === undefined) return undefined;
  const source = request.toString('latin1', at[0], at[1]);
  return (seen) => seen.loaded(source);
}

/** What a proxy's redis sessions share (Protocol.sessionsShare): the functions and the scripts its connections saw loaded. */
export class RedisSeen {
  readonly functions = new FunctionsSeen();
  readonly scripts = new ScriptsSeen();
}
