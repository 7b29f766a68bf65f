/**
 * The nodes file read through the cache of its last validation (config/nodes-file.ts): a hit
 * gives what validating gives, any edit is seen at once, a mistake is reported every time. Run
 * on the compiled code, as the CLI runs it (the cache keys on the compiled schema module).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dist } from './helpers/dist.js';
import { removeTemp, temp } from './helpers/projects.js';

afterAll(removeTemp);

type NodesFile = typeof import('../src/config/nodes-file.js');
type Nodes = typeof import('../src/config/nodes.js');
const load = async () => {
  const cached = (await import(pathToFileURL(dist('src/config/nodes-file.js')).href)) as NodesFile;
  const direct = (await import(pathToFileURL(dist('src/config/nodes.js')).href)) as Nodes;
  return { cached: cached.loadNodesConfigCached, direct: direct.loadNodesConfig };
};

describe('nodes file cache', () => {
  it('answers as validation does, sees every edit, and never caches a mistake', async () => {
    const { cached, direct } = await load();
    const dir = await temp('nodes-cache');
    const file = path.join(dir, 'nodes.yml');
    const cache = path.join(dir, 'state', 'nodes-cache.json');
    await writeFile(file, 'nodes:\n  a:\n    type: local\n    max_jobs: 2\n');
    expect(await cached(file, cache)).toEqual(await direct(file));
    // Written once validated, private to the user (a queue URL may hold a password).
    expect((await stat(cache)).mode & 0o777).toBe(0o600);
    expect(await cached(file, cache)).toEqual(await direct(file));

    // Same length, another value: the cache must not answer for the old text.
    await writeFile(file, 'nodes:\n  a:\n    type: local\n    max_jobs: 3\n');
    expect((await cached(file, cache)).nodes[0].maxJobs).toBe(3);

    // A mistake is reported with its position, each time, and leaves the last good entry alone.
    await writeFile(file, 'nodes:\n  a:\n    type: local\n    max_jobs: many\n');
    for (let i = 0; i < 2; i++) await expect(cached(file, cache)).rejects.toThrow(/nodes\.yml:4:\d+/);
    expect(JSON.parse(await readFile(cache, 'utf8')).config.nodes[0].maxJobs).toBe(3);

    // A torn cache file is read as no cache.
    await writeFile(file, 'nodes:\n  b:\n    type: local\n');
    await writeFile(cache, '{"key": "');
    expect((await cached(file, cache)).nodes.map((n) => n.name)).toEqual(['b']);
    expect(JSON.parse(await readFile(cache, 'utf8')).config.nodes[0].name).toBe('b');
  });

  it('a missing nodes file is the same error as without the cache', async () => {
    const { cached, direct } = await load();
    const dir = await temp('nodes-cache');
    const file = path.join(dir, 'missing.yml');
    const expected = await direct(file).catch((e: Error) => e.message);
    await expect(cached(file, path.join(dir, 'cache.json'))).rejects.toThrow(expected as string);
  });
});
