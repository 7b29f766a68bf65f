/**
 * The import graph of src/ and behaviors/, read with the TypeScript compiler's own import
 * scanner: no circles, no lower layer importing a higher one, and behaviors/ written against
 * the plugin API only. A new edge against the rules fails here with the files that make it.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

/**
 * Higher imports lower or equal, never the other way: cli > report, ci > runners, ui > core > exec,
 * config > behaviors > proxy, stats, fs > text. The built-in behaviors sit just above proxy/, whose plugin
 * API they are written against: proxy/ is handed its registry, the layers above may list them.
 */
const RANK: Record<string, number> = { cli: 5, report: 4, ci: 4, runners: 3, ui: 3, core: 2, exec: 1, config: 1, behaviors: 0.5, proxy: 0, stats: 0, fs: 0, text: -1 };

/**
 * Edges against the rules that are still there, each to go when its files are free to move
 * (issue 19, phase 2). The test fails when one of them disappears, so that this list shrinks.
 */
const KNOWN_LAYER_BREAKS = new Set<string>([]);
const KNOWN_CIRCLES = new Set<string>([]);

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Each module's relative imports (static, dynamic and `import type`), resolved to files. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sources('src'), ...sources('behaviors')]) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    const deps: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName)).replace(/\.js$/, '');
      const hit = [`${base}.ts`, `${base}.tsx`, `${base}/index.ts`].find((f) => existsSync(path.join(ROOT, f)));
      if (hit) deps.push(hit);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** `cli`, `proxy`, ... for src/ modules; `behaviors`; undefined for what the layering does not cover (fixtures). */
function layerOf(file: string): string | undefined {
  if (file === 'src/cli.ts') return 'cli';
  const [top, dir] = file.split('/');
  if (top === 'behaviors') return 'behaviors';
  return top === 'src' ? dir : undefined;
}

/** Strongly connected components of more than one module (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph();

describe('the import graph', () => {
  it('sees the modules and their imports', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('src/proxy/proxy.ts')).toContain('src/proxy/connection.ts');
  });

  it('has no import circles', () => {
    const found = circles(graph).map((c) => c.join(' '));
    expect(found.filter((c) => !KNOWN_CIRCLES.has(c))).toEqual([]);
    expect([...KNOWN_CIRCLES].filter((c) => !found.includes(c)), 'a known circle is gone: remove it from KNOWN_CIRCLES').toEqual([]);
  });

  it('has no lower layer importing a higher one', () => {
    const breaks = new Map<string, string[]>();
    for (const [from, deps] of graph) {
      const a = layerOf(from);
      for (const to of deps) {
        const b = layerOf(to);
        if (!a || !b || a === b) continue;
        const wrong = RANK[b] > RANK[a];
        if (wrong) breaks.set(`${a} -> ${b}`, [...(breaks.get(`${a} -> ${b}`) ?? []), `${from} -> ${to}`]);
      }
    }
    const fresh = [...breaks].filter(([pair]) => !KNOWN_LAYER_BREAKS.has(pair)).flatMap(([, edges]) => edges);
    expect(fresh).toEqual([]);
    expect([...KNOWN_LAYER_BREAKS].filter((pair) => !breaks.has(pair)), 'a known break is gone: remove it from KNOWN_LAYER_BREAKS').toEqual([]);
  });

  it('has behaviors/ use only the plugin API', () => {
    const outside = [...graph]
      .filter(([from]) => from.startsWith('behaviors/'))
      .flatMap(([from, deps]) => deps.filter((d) => !d.startsWith('behaviors/') && d !== 'src/proxy/plugin.ts').map((d) => `${from} -> ${d}`));
    expect(outside).toEqual([]);
  });

  it('knows every layer it meets', () => {
    const unknown = [...graph.keys()].map(layerOf).filter((l): l is string => !!l && !(l in RANK));
    expect([...new Set(unknown)]).toEqual([]);
  });
});
