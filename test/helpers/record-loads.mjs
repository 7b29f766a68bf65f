// Preloaded (`node --import`) into a CLI process under test: writes to MARTEAU_LOADED_FILE, one a
// line, the URL of every module the process loaded: ES modules through a load hook (which runs in
// the loader's own thread, where this same file is the hook), CommonJS ones (commander, React,
// ssh2, ioredis, undici...) from require's cache at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

const file = process.env.MARTEAU_LOADED_FILE;

if (isMainThread) {
  register(import.meta.url);
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => appendFileSync(file, Object.keys(cache).map((p) => `${pathToFileURL(p).href}\n`).join('')));
}

export async function load(url, context, next) {
  appendFileSync(file, `${url}\n`);
  return next(url, context);
}
