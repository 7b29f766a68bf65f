import http from 'node:http';
import type net from 'node:net';

/** A real node:http server: echoes method, path and body; `/slow` waits 100 ms; `/big` sends 1 MiB. */
export async function startHttpServer(): Promise<{ port: number; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const big = Buffer.alloc(1024 * 1024, 'x');
  const server = http.createServer((req, res) => {
    count++;
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(big);
        return;
      }
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part1,');
        setTimeout(() => res.end('part2'), 10);
        return;
      }
      const reply = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, body: body.toString('base64') }));
      };
      if (req.url === '/slow') setTimeout(reply, 100);
      else reply();
    });
  });
  server.keepAliveTimeout = 30_000;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
