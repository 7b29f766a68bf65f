/**
 * `${MARTEAU_...}` references in config values: addresses that only exist once a job runs (the
 * port a service was given, the port a proxy listens on). Only MARTEAU_ names are ours, so a
 * `${HOME}` in `[sh, -c, "..."]` stays for the shell; `$${...}` writes a literal `${...}`.
 *
 * Expansion works on the YAML document, not on parsed values, so a bad reference is reported at
 * its file:line like any other config error, and every schema validates the expanded text.
 */
import { isPair, isScalar, visit, type Document } from 'yaml';
import { errorAt, type SourceDoc } from './errors.js';

export type Vars = Readonly<Record<string, string>>;

/** `${NAME}` with an optional leading `$` (the escape). NAME: our variables, and a service's own `port`. */
const REF = /(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Which references a text holds that `isOurs` claims, in order (escaped ones excluded). */
export function references(text: string, isOurs: (name: string) => boolean = isMarteauVar): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(REF)) if (!m[1] && isOurs(m[2])) out.push(m[2]);
  return out;
}

export function isMarteauVar(name: string): boolean {
  return name.startsWith('MARTEAU_');
}

/**
 * Replace references that `isOurs` claims with their values; an unknown one throws with its
 * name (the caller knows where it was). Others, and escaped ones, stay as written (minus the
 * escaping `$`).
 */
export function expand(text: string, vars: Vars, isOurs: (name: string) => boolean = isMarteauVar): string {
  if (!text.includes('${')) return text;
  return text.replace(REF, (whole, escape: string, name: string) => {
    if (!isOurs(name)) return whole;
    if (escape) return whole.slice(1);
    const v = vars[name];
    if (v === undefined) throw new UnknownVariable(name);
    return v;
  });
}

export class UnknownVariable extends Error {
  constructor(readonly variable: string) {
    super(`unknown variable \${${variable}}`);
    this.name = 'UnknownVariable';
  }
}

/** The environment-style key of a proxy or service name: `shop-db` → `SHOP_DB`. */
export function varKey(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * A copy of the document with every string value outside `skipTopKeys` expanded. Unknown
 * references become config errors at their position, listing what is known.
 */
export function expandDocument(src: SourceDoc, vars: Vars, skipTopKeys: readonly string[] = []): SourceDoc {
  const doc = src.doc.clone() as Document;
  visit(doc, {
    Pair(_key, pair, path) {
      // Only top-level keys are skipped: the root map's parent chain is [Document, YAMLMap].
      if (path.length === 2 && isScalar(pair.key) && skipTopKeys.includes(String(pair.key.value))) return visit.SKIP;
      return undefined;
    },
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      try {
        node.value = expand(node.value, vars);
      } catch (e) {
        if (!(e instanceof UnknownVariable)) throw e;
        throw errorAt({ ...src, doc }, pathOf(path, node), e.message, knownHint(vars));
      }
    },
  });
  return { ...src, doc };
}

/** The key path (for errorAt) of a node from the visitor's ancestor chain. */
function pathOf(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1] as { items?: unknown[] };
    const item = chain[i];
    if (isPair(item)) out.push(isScalar(item.key) ? (item.key.value as string) : String(item.key));
    else if (Array.isArray(parent.items) && !isPair(parent)) {
      const idx = parent.items.indexOf(item);
      if (idx >= 0) out.push(idx);
    }
  }
  return out;
}

export function knownHint(vars: Vars): string {
  const names = Object.keys(vars).filter(isMarteauVar);
  return names.length ? `known here: ${names.map((n) => `\${${n}}`).join(', ')}; write $\${...} for a literal` : 'no MARTEAU_ variables are defined here (declare services: or proxies: first)';
}
