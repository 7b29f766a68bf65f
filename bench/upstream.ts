/**
 * Upstreams for bench/proxy.ts, in their own process: an HTTP keep-alive server answering a small
 * body, and a TCP sink that counts bytes and answers "ok" after `expect` bytes.
 */
import http from 'node:http';
import net from 'node:net';

const body = Buffer.from('{"ok":true,"items":[1,2,3,4,5,6,7,8,9,10]}');
const web = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
web.keepAliveTimeout = 60_000;
const sink = net.createServer((s) => {
  let got = 0;
  let expect = -1;
  s.on('data', (c: Buffer) => {
    if (expect < 0) expect = c.readUInt32BE(0);
    got += c.length;
    if (got >= expect) s.end('ok');
  });
  s.on('error', () => {});
});
await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
console.log(`${(web.address() as net.AddressInfo).port} ${(sink.address() as net.AddressInfo).port}`);
