/**
 * `services:` and `${MARTEAU_...}` references: config errors at file:line, and real runs where
 * the engine starts a real redis-server and a program talking to it through the job's proxy,
 * waits for them, hands their addresses to the runner, and stops them after.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expand, references } from '../src/config/interpolate.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { configError, parseConfig } from './helpers/marteau-config.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { findBinary, haveServer } from './helpers/servers.js';

afterAll(removeTemp);

const node = process.execPath;
const parse = parseConfig;
const fail = configError;

describe('${MARTEAU_...} references', () => {
  it('expands ours, leaves the shell its own, and $${...} stays literal', () => {
    const vars = { MARTEAU_PROXY_DB: '127.0.0.1:5', port: '9' };
    expect(expand('http://${MARTEAU_PROXY_DB}/x', vars)).toBe('http://127.0.0.1:5/x');
    expect(expand('echo ${HOME} $${MARTEAU_PROXY_DB}', vars)).toBe('echo ${HOME} ${MARTEAU_PROXY_DB}');
    expect(expand('--port ${port}', vars, (n) => n === 'port')).toBe('--port 9');
    expect(() => expand('${MARTEAU_PROXY_DBB}', vars)).toThrow('unknown variable ${MARTEAU_PROXY_DBB}');
    expect(references('${MARTEAU_A} $${MARTEAU_B} ${HOME} ${MARTEAU_C}')).toEqual(['MARTEAU_A', 'MARTEAU_C']);
  });

  it('validates with placeholders, then takes the real addresses', () => {
    const text = `
command: [sh, -c, 'echo "$HOME" \${HOME}']
services:
  app: {command: [app, --port, "\${port}"]}
proxies:
  web: {listen: 127.0.0.1:0, upstream: "127.0.0.1:\${MARTEAU_SERVICE_APP_PORT}", protocol: http}
env: {TARGET: "http://\${MARTEAU_PROXY_WEB}/"}
`;
    const before = parse(text);
    expect(before.services).toMatchObject([{ name: 'app', command: ['app', '--port', '${port}'], ready: { kind: 'tcp' }, afterProxies: false, cwd: '/proj' }]);
    expect(before.command).toEqual(['sh', '-c', 'echo "$HOME" ${HOME}']);
    const after = parse(text, { MARTEAU_SERVICE_APP_PORT: '4242', MARTEAU_PROXY_WEB: '127.0.0.1:7000' });
    expect(after.proxies[0].upstream).toBe('127.0.0.1:4242');
    expect(after.env.TARGET).toBe('http://127.0.0.1:7000/');
  });

  it('mistakes are config errors at their line, with what is known', () => {
    let e = fail('command: [x]\nproxies:\n  web: {listen: 127.0.0.1:0, upstream: "127.0.0.1:${MARTEAU_SERVICE_APP_PORT}"}\n');
    expect(e.message).toMatch(/^\/proj\/\.marteau\.yml:3:40: proxies\.web\.upstream: unknown variable \$\{MARTEAU_SERVICE_APP_PORT\}\n  hint: known here: .*\$\{MARTEAU_PROXY_WEB\}/);
    e = fail('command: [x]\nservices:\n  app:\n    command: [app, "${MARTEAU_SERVICE_DB_PORT}"]\n  db: {command: [db]}\n');
    expect(e.message).toMatch(/:4:20: services\.app\.command\.1: unknown variable \$\{MARTEAU_SERVICE_DB_PORT\}\n  hint: service "db" is declared below "app": declare it first/);
    e = fail('command: [x]\nservices:\n  app: {command: [app, "${MARTEAU_PROXY_WEB}"]}\nproxies:\n  web: {listen: 127.0.0.1:0, upstream: "127.0.0.1:${MARTEAU_SERVICE_APP_PORT}"}\n');
    expect(e.message).toMatch(/:5:40: proxies\.web\.upstream: .*service "app" talks through a proxy, so it starts after the proxies/);
    e = fail('command: [x]\nservices:\n  app: {command: [app], ready: {log: "("}}\n');
    expect(e.message).toMatch(/:3:38: services\.app\.ready\.log: not a valid regular expression/);
    e = fail('command: [x]\nservices:\n  app: {command: [app], ready: {tcp: 1}}\n');
    expect(e.message).toMatch(/:3:32: services\.app\.ready: expected tcp .*none, \{http: \/health\} or \{log/);
    e = fail('command: [x]\nservices:\n  app: {command: [app], prot: 1}\n');
    expect(e.message).toMatch(/:3:25: services\.app\.prot: unknown key "prot"/);
  });
});

describe('a service that fails before it is ready', () => {
  it('the reason leads with its error line (not the stack after it), says "before it was ready" once, never "while the job runs"', async () => {
    const script = "console.error('Error: listen EADDRINUSE: address already in use 127.0.0.1:5432'); for (let i = 1; i <= 12; i++) console.error('    at frame ' + i); process.exit(3)";
    const dir = await project(`name: busy-port\n${commandYaml([node, '-e', '0'])}\nservices:\n  db: {command: [${JSON.stringify(node)}, -e, ${JSON.stringify(script)}], ready_timeout: 10s}\n`);
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(), run: 'all' });
    await e.start();
    try {
      const lines: string[] = [];
      e.events.on('*', (ev) => { if (ev.type === 'log.line') lines.push(ev.line); });
      const [done] = await e.waitFor([(await e.enqueue(dir)).id]);
      const [first, ...rest] = done.reason!.split('\n');
      // `queue` and the TUI show the first line only: it must hold the cause.
      expect(first).toBe('service "db" exited (exit 3) before it was ready: Error: listen EADDRINUSE: address already in use 127.0.0.1:5432');
      expect(rest.join('\n')).toMatch(/its last output:\n\s+Error: listen EADDRINUSE.*\n\s+\.\.\.\n(\s+at frame \d+\n){6}\s+at frame 12$/);
      expect(lines.filter((l) => l.includes('before it was ready'))).toEqual([]);
      expect(lines.filter((l) => l.includes('while the job runs'))).toEqual([]);
    } finally {
      await e.stop();
    }
  });
});

const redis = findBinary('redis-server');

describe.skipIf(!haveServer('redis-server'))('services in a real run', () => {
  const engines: Engine[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop()));
  });
  const engine = async () => {
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(2), run: 'all' });
    engines.push(e);
    await e.start();
    return e;
  };

  it('a redis-server, a proxy in front, a service talking through it: ready in order, addresses handed on, all stopped after', async () => {
    // The "app" writes through the proxy, so it must start after it; the command then reads
    // back through the proxy and checks what the app wrote.
    const app = `const net=require('net');const [h,p]=process.env.TARGET.split(':');const s=net.connect(+p,h,()=>s.write('SET seen yes\\r\\n'));s.on('data',()=>{console.log('app wrote');require('http').createServer((q,r)=>r.end('ok')).listen(+process.env.PORT,'127.0.0.1')})`;
    const check = `const net=require('net');const [h,p]=process.env.MARTEAU_PROXY_CACHE.split(':');const s=net.connect(+p,h,()=>s.write('GET seen\\r\\n'));s.on('data',(d)=>{console.log('got '+JSON.stringify(String(d)));process.exit(String(d).includes('yes')?0:1)})`;
    const dir = await project(`name: svc
${commandYaml([node, '-e', check])}
services:
  redis:
    command: [${JSON.stringify(redis)}, --port, "\${port}", --bind, 127.0.0.1, --save, "", --appendonly, "no"]
    ready: {log: "Ready to accept connections"}
  app:
    command: [${JSON.stringify(node)}, -e, ${JSON.stringify(app)}]
    env: {TARGET: "\${MARTEAU_PROXY_CACHE}"}
    ready: {http: /}
proxies:
  cache: {listen: 127.0.0.1:0, upstream: "127.0.0.1:\${MARTEAU_SERVICE_REDIS_PORT}", protocol: redis}
timeout: 30s
`);
    const e = await engine();
    const job = await e.enqueue(dir);
    const [done] = await e.waitFor([job.id]);
    const log = await readFile(path.join(e.resultDir(job.id), 'console.log'), 'utf8');
    expect(done.status, log).toBe('succeeded');
    const order = ['service:redis engine ready on', 'proxy cache redis', 'service:app engine ready on', 'got "$3\\r\\nyes\\r\\n"'].map((l) => log.indexOf(l));
    expect(order.every((i) => i >= 0), log).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const redisPort = Number(/service:redis engine ready on 127\.0\.0\.1:(\d+)/.exec(log)![1]);
    expect(log).toMatch(new RegExp(`-> 127\\.0\\.0\\.1:${redisPort} `));
    // Stopped with the job: nothing listens there any more.
    expect(await accepts(redisPort)).toBe(false);
  });

  it('a service that dies before it is ready fails the job with its last output, and the runner never starts', async () => {
    const dir = await project(`name: broken-svc
${commandYaml([node, '-e', 'console.log("runner ran")'])}
services:
  app: {command: [${JSON.stringify(node)}, -e, "console.error('cannot open db.sqlite'); process.exit(3)"], ready_timeout: 10s}
`);
    const e = await engine();
    const job = await e.enqueue(dir);
    const [done] = await e.waitFor([job.id]);
    expect(done).toMatchObject({ status: 'failed', failure: 'infrastructure' });
    expect(done.reason).toBe('service "app" exited (exit 3) before it was ready: cannot open db.sqlite');
    const log = await readFile(path.join(e.resultDir(job.id), 'console.log'), 'utf8');
    expect(log).not.toMatch(/runner ran/);
  });

  it('a service that never gets ready is stopped after ready_timeout', async () => {
    const dir = await project(`name: slow-svc
${commandYaml([node, '-e', '0'])}
services:
  app: {command: [${JSON.stringify(node)}, -e, "console.log('pid', process.pid); setInterval(() => {}, 1000)"], ready_timeout: 1s}
`);
    const e = await engine();
    const job = await e.enqueue(dir);
    const [done] = await e.waitFor([job.id]);
    expect(done.reason).toMatch(/service "app" did not accept connections on port \d+ within 1s \(ready_timeout\)/);
    const pid = Number(/pid (\d+)/.exec(done.reason!)![1]);
    expect(alive(pid)).toBe(false);
  });
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
