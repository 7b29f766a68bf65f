/**
 * The loopback app of bench:runner, in its own process so it does not share a core's event loop
 * with the load generator. Prints its port. Over IPC, 'start' opens a measurement and 'stop'
 * closes it, answering with samples [ms since start, requests served since start] taken every
 * 25 ms: the server measures both tools the same way, whatever window each tool would report,
 * and its own CPU seconds over the window (near one core per wall second: the server was the
 * bottleneck, and the client's idle time is its wait for the server).
 *
 * With the argument `raw`, a bare node:net responder answers every request head with fixed
 * bytes: cheaper per request than either client, so the clients are the bottleneck.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { startLoadApp } from '../fixtures/load/app.js';

interface App {
  port: number;
  requests(): number;
  close(): Promise<void>;
}

const REPLY = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Bodiless requests only (both tools send GETs): one reply per head end, a head split over reads included. */
async function startRawApp(): Promise<App> {
  let requests = 0;
  const open = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    let carry = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let at = 0;
      for (let end = buf.indexOf(HEAD_END); end >= 0; end = buf.indexOf(HEAD_END, at)) {
        at = end + 4;
        requests++;
        socket.write(REPLY);
      }
      carry = Buffer.from(buf.subarray(at));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function startHttpApp(): Promise<App> {
  const app = await startLoadApp();
  return { port: app.port, requests: () => app.stats().requests, close: () => app.close() };
}

const app = process.argv[2] === 'raw' ? await startRawApp() : await startHttpApp();
let t0 = performance.now();
let base = 0;
let samples: [number, number][] = [];
let cpu0 = process.cpuUsage();
const sample = () => samples.push([performance.now() - t0, app.requests() - base]);
const sampler = setInterval(sample, 25);
process.stdout.write(`${app.port}\n`);
process.on('message', (m) => {
  if (m === 'start') {
    t0 = performance.now();
    base = app.requests();
    samples = [[0, 0]];
    cpu0 = process.cpuUsage();
  } else {
    sample();
    const cpu = process.cpuUsage(cpu0);
    process.send?.({ samples, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  }
});
process.on('SIGTERM', () => {
  clearInterval(sampler);
  void app.close().then(() => process.exit(0));
});
