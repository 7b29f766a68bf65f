/**
 * `marteau-tui proxy` stopped while it starts, as a service manager stops it: SIGTERM at set
 * points of its start, each the entry of a real system call (strace delivers the signal there,
 * no timing), must stop it as a SIGTERM once it runs does: exit 0, its listeners closed. It
 * was killed (143) until its handler was installed, after its proxies listened.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dist } from './helpers/dist.js';
import { exchange, startEchoServer } from './helpers/echo.js';
import { freePort } from './helpers/net.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { stoppedAt } from './helpers/stopped-at.js';

const strace = haveServer('strace');

let dir: string;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => {
  dir = await tempDir('proxy-stop');
  echo = await startEchoServer();
});
afterAll(async () => { await echo?.close(); });

describe.skipIf(!strace)('marteau-tui proxy stopped while it starts', () => {
  it('as the CLI loads, reading its config, binding its port, binding its API: exit 0, nothing left listening', async () => {
    const port = await freePort();
    const api = await freePort();
    const config = path.join(dir, 'proxies.yml');
    await writeFile(config, `proxies:\n  cache: {listen: "127.0.0.1:${port}", upstream: "127.0.0.1:${echo.port}", protocol: tcp}\n`);
    const args = ['proxy', '--config', config, '--api', `127.0.0.1:${api}`];
    // The proxy binds first, the API second.
    const points: [string, string, number, string | undefined][] = [
      ['as the CLI loads', 'openat', 1, dist('src/cli.js')],
      ['reading its config', 'openat', 1, config],
      ['binding its port (before the port line)', 'bind', 1, undefined],
      ['binding its API', 'bind', 2, undefined],
    ];
    for (const [when, syscall, nth, file] of points) {
      // The config is opened twice, by the thread pool (strace shows two openat of it at start):
      // strace counts per thread, and on a loaded machine the second open, on another thread, got a
      // second SIGTERM, which, after the first, kills as it should. One pool thread counts both.
      const r = await stoppedAt(syscall, nth, file, args, { UV_THREADPOOL_SIZE: '1' });
      const what = `SIGTERM ${when}: exit ${r.code} ${r.signal ?? ''}\n${r.out}${r.err}`;
      expect({ code: r.code, signal: r.signal }, what).toEqual({ code: 0, signal: null });
      expect(r.err, what).toMatch(/SIGTERM: (stopped before listening|closing listeners)/);
      expect((await exchange(port, 'x')).error, what).toBe('ECONNREFUSED');
      expect((await exchange(api, 'x')).error, what).toBe('ECONNREFUSED');
    }
  });
});
