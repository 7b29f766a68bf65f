/**
 * The README's YAML examples are what a newcomer copies first: each is checked against the
 * schema of the file it belongs in, so that a key renamed in the code cannot stay in the docs.
 * A block holding only keys of the nodes file (nodes, probe, queue, mail) is a nodes file; one
 * holding only a proxies file's keys (proxies, statsd, plugins, api) a proxies file; any other a
 * `.marteau.yml`, also run through the builtin runner's schema when it says `runner: builtin`.
 * Examples may be excerpts (a `chaos:` list alone), so a required key that is missing is not
 * an error here; every key that is there, and every value, must be right.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';
import { marteauSchema } from '../src/config/marteau-schema.js';
import { nodesFileSchema } from '../src/config/nodes.js';
import { proxiesFileSchema } from '../src/config/proxies.js';
import { builtinConfigSchema } from '../src/runners/builtin/config.js';

import { docs } from './helpers/docs.js';

interface Example {
  /** `README.md:12`: the file and the line of the example's first line. */
  at: string;
  text: string;
}

function yamlExamples(markdown: string, name = 'README.md'): Example[] {
  const out: Example[] = [];
  const fence = /^```ya?ml\n([\s\S]*?)^```/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    out.push({ at: `${name}:${markdown.slice(0, m.index).split('\n').length + 1}`, text: m[1] });
  }
  return out;
}

/**
 * `${...}` as a job would see them once expanded (the engine expands before it validates): a
 * port for `${port}` and `..._PORT`, an address for the rest (`${MARTEAU_PROXY_SHOP}`).
 */
function withVariables(text: string): string {
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => (/port$/i.test(name) ? '8000' : '127.0.0.1:8000'));
}

const NODES_KEYS = new Set(['nodes', 'probe', 'queue', 'mail']);
const PROXIES_KEYS = new Set(['proxies', 'statsd', 'plugins', 'api']);

/** The problems of one example, as `path: message` lines; missing required keys are left out. */
function problems(doc: Record<string, unknown>): string[] {
  const keys = Object.keys(doc);
  const checks: [z.ZodType, unknown][] = [];
  if (keys.every((k) => NODES_KEYS.has(k))) checks.push([nodesFileSchema, { nodes: {}, ...doc }]);
  else if (keys.every((k) => PROXIES_KEYS.has(k))) checks.push([proxiesFileSchema, { proxies: {}, ...doc }]);
  else {
    checks.push([marteauSchema, doc]);
    // The runner's own schema wants a scenario: an excerpt without one is checked for the rest.
    if (doc.runner === 'builtin') checks.push([builtinConfigSchema, { scenario: [{ get: 'http://127.0.0.1:8000/' }], ...doc }]);
  }
  return checks.flatMap(([schema, value]) => {
    const r = schema.safeParse(value);
    if (r.success) return [];
    return r.error.issues
      .filter((i) => !(i.code === 'invalid_type' && i.input === undefined))
      .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
  });
}

describe('the README examples', () => {
  const examples = docs().flatMap((d) => yamlExamples(d.text, d.name));

  it('finds the examples', () => {
    // The README shows a .marteau.yml, a proxies file and a nodes file at least.
    expect(examples.length).toBeGreaterThanOrEqual(10);
  });

  it.each(examples.map((e) => [e.at, e] as const))('%s is valid YAML for the file it belongs in', (_at, e) => {
    const doc = parse(withVariables(e.text), { uniqueKeys: true }) as unknown;
    expect(doc, 'a YAML map').toBeTypeOf('object');
    expect(problems(doc as Record<string, unknown>)).toEqual([]);
  });

  it('would catch a key the code does not know', () => {
    expect(problems({ runner: 'builtin', base_url: 'http://127.0.0.1:8000', request_timout: 30 })).toEqual([
      expect.stringContaining('request_timout'),
    ]);
    expect(problems({ nodes: { box1: { host: '127.0.0.2', max_job: 1 } } })).toEqual([expect.stringContaining('max_job')]);
    expect(problems({ proxies: { redis: { listen: '127.0.0.1:0', upstream: '127.0.0.1:6379', protocol: 'redis', behaviours: '10:error' } } })).toEqual([
      expect.stringContaining('behaviours'),
    ]);
  });
});
