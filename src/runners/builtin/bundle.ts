/**
 * The builtin agent as a small self-contained directory to ship to an SSH node that has Node.js
 * but no marteau-tui: the compiled modules agent.js imports (found by following its imports, not
 * by listing them, so a new import cannot be forgotten) and the runtime packages they import
 * (undici), with a package.json that makes the files ES modules, packed into one file. Its id is
 * the version plus a hash of every shipped byte, so a node keeps one copy per build and the next
 * job finds it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { mkdirp } from '../../fs/mkdirp.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { AGENT_ENTRY } from './agent-protocol.js';

export interface AgentBundle {
  /** version-hash, the bundle's directory name on nodes. */
  id: string;
  version: string;
  /** Local packed bundle (see packBundle), ready to upload. */
  pack: string;
  /** Shipped files, relative to the bundle root. */
  files: string[];
  /** Unpacked and packed sizes. */
  bytes: number;
  packBytes: number;
}

/** Written last in a complete bundle directory, locally and on nodes: a half copy is never used. */
export const BUNDLE_MARKER = '.complete';

/** The package root: the first directory above this module with a package.json. */
export function packageRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export async function packageVersion(root = packageRoot()): Promise<string> {
  return (JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Specifiers of the static imports/re-exports and literal dynamic imports of a compiled module. */
export function importSpecifiers(source: string): string[] {
  const out = new Set<string>();
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"\n]+)['"]/gm,
    /^\s*import\s*['"]([^'"\n]+)['"]/gm,
    /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.add(m[1]);
  return [...out];
}

/** `@scope/name/sub` -> `@scope/name`, `undici/x` -> `undici`; undefined for node built-ins. */
export function packageName(spec: string): string | undefined {
  if (spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

// Files a package needs at runtime: not its types, source maps or docs.
const SKIP_FILE = /\.(d\.ts|d\.mts|d\.cts|map|md|markdown|ts)$/i;
const SKIP_DIR = new Set(['docs', 'doc', 'test', 'tests', '.github', 'node_modules']);

async function packageFiles(root: string, pkgDir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && !SKIP_DIR.has(e.name)) await walk(p);
      else if (e.isFile() && !SKIP_FILE.test(e.name)) out.push(path.relative(root, p));
    }
  };
  await walk(pkgDir);
  return out;
}

/**
 * The files (relative to the package root) the agent needs: its module closure under dist/ and
 * whole runtime packages (with their own dependencies) from node_modules/.
 */
export async function agentClosure(root = packageRoot()): Promise<{ modules: string[]; packages: string[]; files: string[] }> {
  const entry = path.join(root, AGENT_ENTRY);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build marteau-tui first (npm run build)`);
  const modules = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop()!;
    const rel = path.relative(root, file);
    if (modules.has(rel)) continue;
    modules.add(rel);
    for (const spec of importSpecifiers(await readFile(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        if (!existsSync(target)) throw new Error(`${rel} imports ${spec}, which is not built`);
        queue.push(target);
      } else {
        const name = packageName(spec);
        if (name) packages.add(name);
      }
    }
  }
  // Runtime dependencies of the packages, transitively.
  const pkgQueue = [...packages];
  while (pkgQueue.length) {
    const name = pkgQueue.pop()!;
    const manifest = path.join(root, 'node_modules', name, 'package.json');
    if (!existsSync(manifest)) throw new Error(`the agent imports ${name}, which is not installed in ${root}/node_modules`);
    const deps = Object.keys((JSON.parse(await readFile(manifest, 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
    for (const d of deps) if (!packages.has(d)) (packages.add(d), pkgQueue.push(d));
  }
  const files = [...modules];
  for (const name of [...packages].sort()) files.push(...(await packageFiles(root, path.join(root, 'node_modules', name))));
  return { modules: [...modules].sort(), packages: [...packages].sort(), files: files.sort() };
}

let cached: Promise<AgentBundle> | undefined;

/** The bundle of this build, packed once per process under the temp dir (reused across runs). */
export function agentBundle(): Promise<AgentBundle> {
  cached ??= packBundle().catch((e) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

/**
 * One gzip file: a JSON line {id, files: [[path, size], ...]} then the files' bytes. One file
 * because every SFTP round trip and remote command counts on a node whose shell is slow to
 * start; UNPACK_SCRIPT below opens it with Node.js alone (no tar needed on the node).
 */
async function packBundle(root = packageRoot()): Promise<AgentBundle> {
  const version = await packageVersion(root);
  const { files } = await agentClosure(root);
  const manifest = Buffer.from(`${JSON.stringify({ name: 'marteau-tui-agent', version, private: true, type: 'module' }, null, 2)}\n`);
  const entries: [string, Buffer][] = [['package.json', manifest]];
  for (const f of files) entries.push([f.split(path.sep).join('/'), await readFile(path.join(root, f))]);
  const hash = createHash('sha256');
  for (const [f, data] of entries) hash.update(f).update('\0').update(data).update('\0');
  const id = `${version}-${hash.digest('hex').slice(0, 16)}`;
  const head = Buffer.from(`${JSON.stringify({ id, files: entries.map(([f, d]) => [f, d.length]) })}\n`);
  const packed = gzipSync(Buffer.concat([head, ...entries.map(([, d]) => d)]));
  const pack = path.join(os.tmpdir(), `marteau-tui-agent-${process.getuid?.() ?? 'u'}`, `${id}.pack`);
  if (!existsSync(pack)) {
    await mkdirp(path.dirname(pack), 0o777);
    // Written beside and renamed, so a concurrent process never reads half a pack.
    const tmp = `${pack}.tmp-${process.pid}`;
    await writeFile(tmp, packed);
    await rename(tmp, pack);
  }
  const bytes = entries.reduce((n, [, d]) => n + d.length, 0);
  return { id, version, pack, files: entries.map(([f]) => f), bytes, packBytes: packed.length };
}

/**
 * `node -e UNPACK_SCRIPT <pack> <dir>`: prints the Node.js version (the node check, in the same
 * round trip), unpacks the bundle into <dir> through a temp dir renamed into place, marker last.
 * With no pack it only prints the version. CommonJS and old-Node-safe: it must run anywhere.
 */
export const UNPACK_SCRIPT = [
  "const fs = require('fs'), path = require('path'), zlib = require('zlib');",
  'const [pack, dest] = process.argv.slice(1);',
  "process.stdout.write(process.versions.node + '\\n');",
  'if (pack) {',
  '  const buf = zlib.gunzipSync(fs.readFileSync(pack));',
  '  const nl = buf.indexOf(10);',
  '  const head = JSON.parse(buf.subarray(0, nl).toString());',
  "  const tmp = dest + '.tmp-' + process.pid;",
  '  let off = nl + 1;',
  '  for (const [rel, size] of head.files) {',
  '    const to = path.join(tmp, rel);',
  "    if (!to.startsWith(tmp + path.sep)) throw new Error('bad path in bundle: ' + rel);",
  '    fs.mkdirSync(path.dirname(to), { recursive: true });',
  '    fs.writeFileSync(to, buf.subarray(off, off + size));',
  '    off += size;',
  '  }',
  `  fs.writeFileSync(path.join(tmp, '${BUNDLE_MARKER}'), head.id + '\\n');`,
  '  fs.mkdirSync(path.dirname(dest), { recursive: true });',
  // Lost a race with another job unpacking the same bundle: theirs is as good.
  `  try { fs.renameSync(tmp, dest); } catch (e) { fs.rmSync(tmp, { recursive: true, force: true }); if (!fs.existsSync(path.join(dest, '${BUNDLE_MARKER}'))) throw e; }`,
  '}',
].join('\n');
