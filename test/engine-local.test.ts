/**
 * The local executor: live lines, exit status, a cancel that kills the whole process group,
 * no hang on a leftover child, and nothing a user writes ever interpreted by a shell.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, stat, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupAlive } from '../src/core/owner.js';
import { TransferCancelled, type OutputStream } from '../src/exec/executor.js';
import { LineSplitter } from '../src/exec/lines.js';
import { LocalExecutor } from '../src/exec/local.js';
import { shellQuote } from '../src/exec/quote.js';
import { HOSTILE } from './helpers/hostile.js';
import { removeTemp, temp } from './helpers/projects.js';

afterAll(removeTemp);

const exec = new LocalExecutor();
const node = process.execPath;

async function collect(argv: string[], o: Parameters<LocalExecutor['run']>[1] = {}) {
  const lines: [OutputStream, string][] = [];
  const r = await exec.run(argv, { ...o, onLine: (l, s) => lines.push([s, l]) });
  return { ...r, lines };
}

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('LocalExecutor', () => {
  it('streams stdout and stderr lines live and returns the exit status', async () => {
    const r = await collect([node, '-e', 'console.log("a"); console.error("e1"); process.stdout.write("b\\r\\nno-newline"); process.exit(3)']);
    expect(r.exitCode).toBe(3);
    expect(r.signal).toBeNull();
    expect(r.lines.filter(([s]) => s === 'stdout').map(([, l]) => l)).toEqual(['a', 'b', 'no-newline']);
    expect(r.lines.filter(([s]) => s === 'stderr').map(([, l]) => l)).toEqual(['e1']);
  });

  it('a missing program is exit 127 with a clear line: what is missing and how to fix it', async () => {
    const r = await collect(['/nonexistent/tool', 'x']);
    expect(r.exitCode).toBe(127);
    expect(r.lines).toEqual([['stderr', 'marteau-tui: cannot run "/nonexistent/tool": ENOENT: no such file (check its path)']]);
    const notOnPath = await collect(['no-such-tool-on-path-9f3', 'x']);
    expect(notOnPath.exitCode).toBe(127);
    expect(notOnPath.lines).toEqual([['stderr', `marteau-tui: cannot run "no-such-tool-on-path-9f3": ENOENT: not found on this machine's PATH (install it, or give its full path)`]]);
    const noDir = await collect(['true'], { cwd: '/nonexistent/dir' });
    expect(noDir.lines).toEqual([['stderr', 'marteau-tui: cannot run "true" in /nonexistent/dir: ENOENT: the directory /nonexistent/dir does not exist']]);
    const notExecutable = path.join(await temp('noexec'), 'tool.sh');
    await (await open(notExecutable, 'w', 0o644)).close();
    const denied = await collect([notExecutable]);
    expect(denied.exitCode).toBe(127);
    expect(denied.lines).toEqual([['stderr', `marteau-tui: cannot run ${JSON.stringify(notExecutable)}: EACCES: permission denied (is it an executable file? chmod +x it, or run it through its interpreter)`]]);
  });

  it('cancel kills the whole process group (the tool and its children)', async () => {
    const ac = new AbortController();
    let pgid = 0;
    const p = collect(['sh', '-c', 'sleep 30 & sleep 31 & echo started; wait'], {
      signal: ac.signal,
      killGraceMs: 500,
      onStart: (x) => { pgid = x.pgid; },
    });
    await waitUntil(() => pgid > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(groupAlive(pgid)).toBe(true);
    ac.abort();
    const r = await p;
    expect(r.cancelled).toBe(true);
    await waitUntil(() => !groupAlive(pgid), 3000);
  });

  it('escalates to SIGKILL when the tool ignores SIGTERM', async () => {
    const ac = new AbortController();
    let pgid = 0;
    const started = performance.now();
    const p = collect(['sh', '-c', 'trap "" TERM; echo ready; sleep 30 & wait; sleep 30'], { signal: ac.signal, killGraceMs: 300, onStart: (x) => { pgid = x.pgid; } });
    await waitUntil(() => pgid > 0);
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    const r = await p;
    expect(r.cancelled).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
    await waitUntil(() => !groupAlive(pgid), 3000);
  });

  it('does not hang when a leftover child keeps the output pipe open, and kills it', async () => {
    let pgid = 0;
    const started = performance.now();
    const r = await collect(['sh', '-c', 'sleep 30 & echo done'], { onStart: (x) => { pgid = x.pgid; } });
    expect(r.exitCode).toBe(0);
    expect(r.lines).toEqual([['stdout', 'done']]);
    expect(performance.now() - started).toBeLessThan(4000);
    await waitUntil(() => !groupAlive(pgid), 3000);
  });

  it('hostile arguments, environment values and directory names reach the program untouched', async () => {
    const base = await temp('hostile');
    const dir = path.join(base, HOSTILE.dir);
    await mkdir(dir);
    const r = await collect(
      [node, '-e', 'console.log(JSON.stringify({ argv: process.argv.slice(1), v: process.env.HOSTILE_VALUE, cwd: process.cwd() }))', ...HOSTILE.args],
      { cwd: dir, env: HOSTILE.env },
    );
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.lines[0][1])).toEqual({ argv: HOSTILE.args, v: HOSTILE.env.HOSTILE_VALUE, cwd: dir });
    for (const d of [base, dir, process.cwd()]) expect((await readdir(d)).filter((f) => f.startsWith('PWNED'))).toEqual([]);
  });

  it('put/get copy files and directories locally, leaving out .git', async () => {
    const src = await temp('put');
    await mkdir(path.join(src, 'sub'));
    await mkdir(path.join(src, '.git'));
    const { writeFile, readFile } = await import('node:fs/promises');
    await writeFile(path.join(src, 'sub', 'f.txt'), 'hello');
    await writeFile(path.join(src, '.git', 'HEAD'), 'x');
    const dst = path.join(await temp('put'), 'copy');
    await exec.put(src, dst);
    expect(await readFile(path.join(dst, 'sub', 'f.txt'), 'utf8')).toBe('hello');
    expect(existsSync(path.join(dst, '.git'))).toBe(false);
    await exec.get(path.join(dst, 'sub', 'f.txt'), path.join(dst, 'back', 'f.txt'));
    expect(await exec.exists(path.join(dst, 'back', 'f.txt'))).toBe(true);
  });

  it('put/get copy a file of several pieces byte for byte, with its mode', async () => {
    const { writeFile, readFile, chmod } = await import('node:fs/promises');
    const dir = await temp('put');
    const from = path.join(dir, 'results.xml');
    // Two 8 MiB pieces and a short last one.
    const bytes = randomBytes(2 * 8 * 1024 * 1024 + 12_345);
    await writeFile(from, bytes);
    await chmod(from, 0o750);
    const there = path.join(dir, 'node', 'results.xml');
    await exec.put(from, there);
    const back = path.join(dir, 'back', 'results.xml');
    await exec.get(there, back);
    for (const f of [there, back]) {
      expect((await readFile(f)).equals(bytes)).toBe(true);
      expect((await stat(f)).mode & 0o777).toBe(0o750);
    }
  });
});

describe('a copy to or from the local node stopped by its signal', () => {
  // 1 GiB, sparse: read at memory speed, yet far more than is copied before the abort.
  const SIZE = 1024 ** 3;

  async function bigFile(): Promise<{ dir: string; from: string }> {
    const dir = await temp('local-cancel');
    const from = path.join(dir, 'big.xml');
    await (await open(from, 'w')).close();
    await truncate(from, SIZE);
    return { dir, from };
  }

  /** Aborts once `to` holds a few MB; the largest size it was seen at until the copy settled. */
  async function cutShort(copy: (signal: AbortSignal) => Promise<void>, to: string): Promise<{ error: unknown; largest: number }> {
    const ac = new AbortController();
    let settled = false;
    const done = copy(ac.signal).then(() => undefined, (e: unknown) => e).finally(() => (settled = true));
    let largest = 0;
    while (!settled) {
      const size = (await stat(to).catch(() => undefined))?.size ?? 0;
      largest = Math.max(largest, size);
      if (size >= 4 * 1024 * 1024) ac.abort();
      await new Promise((r) => setTimeout(r, 5));
    }
    return { error: await done, largest };
  }

  it('a get stops, rejects with TransferCancelled and removes the part copied', async () => {
    const { dir, from } = await bigFile();
    const to = path.join(dir, 'back', 'big.xml');
    const { error, largest } = await cutShort((signal) => exec.get(from, to, { signal }), to);
    expect(error).toBeInstanceOf(TransferCancelled);
    expect(largest).toBeLessThan(SIZE / 2);
    expect(existsSync(to)).toBe(false);
  });

  it('a put of a file likewise', async () => {
    const { dir, from } = await bigFile();
    const to = path.join(dir, 'scratch', 'collected', 'big.xml');
    const { error, largest } = await cutShort((signal) => exec.put(from, to, { signal }), to);
    expect(error).toBeInstanceOf(TransferCancelled);
    expect(largest).toBeLessThan(SIZE / 2);
    expect(existsSync(to)).toBe(false);
  });

  it('a put of a directory stops before its next file (the files copied stay for the caller, as over SSH)', async () => {
    const dir = await temp('local-cancel');
    const from = path.join(dir, 'project');
    await mkdir(from);
    // Each file takes a while to copy whole (a file already begun is finished).
    for (const name of ['a.xml', 'b.xml', 'c.xml']) {
      await (await open(path.join(from, name), 'w')).close();
      await truncate(path.join(from, name), SIZE / 4);
    }
    const to = path.join(dir, 'copy');
    const ac = new AbortController();
    let settled = false;
    const put = exec.put(from, to, { signal: ac.signal, maxBytes: SIZE }).then(() => undefined, (e: unknown) => e).finally(() => (settled = true));
    while (!settled && !(await readdir(to).catch(() => [])).length) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    expect(await put).toBeInstanceOf(TransferCancelled);
    expect((await readdir(to)).length).toBeLessThan(3);
  });
});

describe('line splitting and quoting', () => {
  it('keeps UTF-8 split across chunks and cuts endless lines', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 10);
    const euro = Buffer.from('€');
    s.push(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
    s.push(Buffer.concat([euro.subarray(1), Buffer.from('\n')]));
    s.push('0123456789abcdef');
    s.end();
    expect(lines[0]).toBe('a€');
    expect(lines[1]).toMatch(/^0123456789 …\[line cut/);
    expect(lines[2]).toBe('abcdef');
  });

  it('cuts a stdout line at 64 KiB, unless the run gives data lines more room', async () => {
    const script = 'process.stdout.write("x".repeat(200 * 1024) + "\\nend\\n")';
    const cut = (await collect([node, '-e', script])).lines.map(([, l]) => l);
    const marker = ' …[line cut at 65536 chars]';
    expect(cut.some((l) => l.endsWith(marker))).toBe(true);
    expect(Math.max(...cut.map((l) => l.length))).toBe(65536 + marker.length);
    expect(cut.at(-1)).toBe('end');
    const whole = (await collect([node, '-e', script], { maxLineChars: 1024 * 1024 })).lines.map(([, l]) => l);
    expect(whole).toEqual(['x'.repeat(200 * 1024), 'end']);
  });

  it('POSIX single-quote quoting round-trips through a real shell', async () => {
    const values = [...HOSTILE.args.filter((a) => a !== ''), HOSTILE.env.HOSTILE_VALUE, "''", "'", 'ünï', '$HOME'];
    const script = `for a in ${values.map(shellQuote).join(' ')}; do printf '%s\\0' "$a"; done`;
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('sh', ['-c', script], { cwd: os.tmpdir() }).toString();
    expect(out.split('\0').slice(0, -1)).toEqual(values);
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
