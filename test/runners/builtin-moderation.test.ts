/**
 * The plain connections' reply moderation (h1-moderation.ts): it naps between loop turns only
 * while many requests are out and few answered, and its count of requests out comes back to zero
 * whatever way each request ended (else it would nap with nothing out).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moderation } from '../../src/runners/builtin/h1-moderation.js';
import { plainRequests, UserAgent, type RequestSpec } from '../../src/runners/builtin/http.js';

let server: Server;
let origin = '';
const open = new Set<Socket>();

beforeAll(async () => {
  // Each reply a few ms after its request, so that replies come one or two per loop turn.
  server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      const path = d.toString('latin1').split(' ')[1];
      if (path === '/reset') return void socket.resetAndDestroy();
      if (path === '/stall') return;
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 1 + Math.random() * 4);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const s of open) s.destroy();
  await new Promise((r) => server.close(r));
});

const request = (path: string): RequestSpec => {
  const [r] = plainRequests([{ origin, path, method: 'GET', headers: ['user-agent', 'marteau-tui'], body: null }]);
  expect(r.plain).toBeDefined();
  return r;
};

/** `users` user agents, each sending `times` requests to `path` one after the other. */
async function load(users: number, times: number, path = '/ok', timeoutMs = 5_000): Promise<string[]> {
  const agents = Array.from({ length: users }, () => new UserAgent({ timeoutMs }));
  const spec = request(path);
  const outcomes: string[] = [];
  try {
    await Promise.all(
      agents.map(async (a) => {
        for (let i = 0; i < times; i++) outcomes.push((await a.send(spec)).error ?? 'ok');
      }),
    );
  } finally {
    await Promise.all(agents.map((a) => a.destroy()));
  }
  return outcomes;
}

describe('builtin runner: reply moderation', () => {
  it('never naps with fewer than 8 requests out', async () => {
    const before = moderation.naps;
    expect(await load(4, 30)).toEqual(Array(120).fill('ok'));
    expect(moderation.naps).toBe(before);
    expect(moderation.pending).toBe(0);
  });

  it('naps while many requests are out and few come back per turn', async () => {
    const before = moderation.naps;
    expect(await load(16, 30)).toEqual(Array(480).fill('ok'));
    expect(moderation.naps).toBeGreaterThan(before);
    expect(moderation.pending).toBe(0);
  });

  it('counts each request back out however it ended: reset, timeout, aborted', async () => {
    expect(new Set(await load(12, 2, '/reset'))).toEqual(new Set(['ECONNRESET']));
    expect(moderation.pending).toBe(0);
    expect(new Set(await load(9, 1, '/stall', 200))).toEqual(new Set(['timeout']));
    expect(moderation.pending).toBe(0);
    const agent = new UserAgent({ timeoutMs: 10_000 });
    const pending = agent.send(request('/stall'));
    await new Promise((r) => setTimeout(r, 50));
    expect(moderation.pending).toBe(1);
    await agent.destroy();
    expect((await pending).error).toBe('aborted');
    expect(moderation.pending).toBe(0);
  });
});
