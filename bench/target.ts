/**
 * The process under test in bench/proxy.ts: either a bare Node `net` pipe (the floor: what any
 * Node TCP proxy costs) or a marteau-tui proxy. Prints its port, then runs until killed.
 *   node dist/bench/target.js pipe <upstreamPort>
 *   node dist/bench/target.js proxy <upstreamPort> <protocol> <mixJSON>
 */
import net from 'node:net';
import { defaultRegistry } from '../behaviors/index.js';
import { startProxy } from '../src/proxy/proxy.js';
import type { ProtocolName } from '../src/proxy/protocol.js';

const [mode, upstreamPort, protocol = 'tcp', mix = '""'] = process.argv.slice(2);

if (mode === 'pipe') {
  const server = net.createServer((client) => {
    const up = net.connect(Number(upstreamPort), '127.0.0.1');
    client.setNoDelay(true);
    up.setNoDelay(true);
    client.pipe(up).pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  server.listen(0, '127.0.0.1', () => console.log((server.address() as net.AddressInfo).port));
} else {
  const proxy = await startProxy({
    name: 'bench',
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${upstreamPort}`,
    protocol: protocol as ProtocolName,
    behaviors: JSON.parse(mix),
    seed: 1,
  }, { behaviors: defaultRegistry });
  console.log(proxy.port);
  process.on('message', () => process.send?.(proxy.stats()));
}
// A clean exit on SIGINT, so that `node --cpu-prof` writes its profile.
process.on('SIGINT', () => process.exit(0));
