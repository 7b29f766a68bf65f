/**
 * The nodes file read again, its other sections: `mail:` follows the file (the next report link
 * goes through the SMTP server it names, a bad edit keeping the one before), while a change to
 * `queue:` is said once, at its line, to take a restart, the queue opened kept. Real SMTP
 * servers (smtp-server), a real redis-server and the built CLI's worker, a real engine as the
 * control center makes it.
 */
import { afterAll, expect, it } from 'vitest';
import { loadNodesConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { cli, cliDone, reapedAfterEach } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { startSmtpServer } from './helpers/smtp.js';
import { nodesFile, until, urlOf } from './helpers/team.js';
import { saveAsEditor } from './helpers/editor-save.js';

afterAll(removeTemp);

const runs = reapedAfterEach();

it('mail: follows the file: the next report link goes through the server it names; a bad edit keeps the one before', async () => {
  const [first, second] = [await startSmtpServer(), await startSmtpServer()];
  try {
    const text = (port: string) => `nodes:\n  local: {type: local}\nprobe: {interval: 1s}\nmail:\n  host: 127.0.0.1\n  port: ${port}\n  from: load@example.com\n`;
    const file = await nodesFile(text(String(first.port)));
    const lines: string[] = [];
    // As runControlCenter makes it.
    const engine = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: await loadNodesConfig(file), run: 'all', rereadNodes: true });
    engine.events.on('log.line', (e) => void lines.push(e.line));
    await engine.start();
    try {
      const mailed = async (name: string) => {
        const job = await engine.enqueue(await project(`name: ${name}\n${commandYaml(['true'])}\nemail: ops@example.com\n`));
        expect((await engine.waitFor([job.id]))[0].status).toBe('succeeded');
        const got = () => (['first', 'second'] as const).filter((s) => ({ first, second })[s].messages.some((m) => m.data.toString().includes(`Subject: [marteau-tui] ${name}: succeeded`)));
        return until(`${name}'s mail`, () => got().length > 0 && got(), 20_000);
      };
      expect(await mailed('before')).toEqual(['first']);

      await saveAsEditor(file, text(String(second.port)));
      await until('the change said', () => lines.includes(`${file} read again: mail: the next report link goes via 127.0.0.1:${second.port}`), 20_000);
      expect(await mailed('after')).toEqual(['second']);

      await saveAsEditor(file, text('nope'));
      await until('the mistake said', () => lines.some((l) => l.startsWith(`${file}:6:9: mail.port: expected a number`) && l.endsWith('the nodes read before stay (local); the file is read again before each probe')), 20_000);
      expect(await mailed('kept')).toEqual(['second']);
    } finally {
      await engine.stop();
    }
  } finally {
    await first.stop();
    await second.stop();
  }
}, 90_000);

it.skipIf(!haveServer('redis-server'))('queue: a change takes a restart, said once at its line; the worker keeps the queue it opened', async () => {
  const [redis, other] = [await startRedis(), await startRedis()];
  try {
    const url = urlOf(redis);
    const text = (queue: string, nodes: string[]) => `probe: {interval: 1s}\nqueue: ${queue}\nnodes:\n${nodes.map((n) => `  ${n}: {type: local}\n`).join('')}`;
    const file = await nodesFile(text(url, ['mine']));
    const w = cli(['worker', '--nodes', file, '--state-dir', await stateDir()]);
    runs.push(w);
    await w.waitFor(/marteau-tui worker: running queued jobs from redis:\/\//);

    await saveAsEditor(file, text(urlOf(other), ['mine', 'spare']));
    await w.waitFor(new RegExp(`${file}:2:1: queue: the change takes a restart; until then this keeps the queue it opened \\(${url.replace(/[/.]/g, '\\$&')}\\)\\n`), 20_000);
    await w.waitFor(new RegExp(`${file} read again: added spare\\n`), 20_000);
    // Once: another edit with the same queue says only its nodes.
    await saveAsEditor(file, text(urlOf(other), ['mine']));
    await w.waitFor(new RegExp(`${file} read again: removed spare `), 20_000);
    expect(w.out().match(/the change takes a restart/g)).toHaveLength(1);
    // Still on the queue it opened.
    const r = await cliDone(['enqueue', await project(`name: still\n${commandYaml(['true'])}\n`), '--queue', url, '--nodes', file, '--state-dir', await stateDir(), '--json']);
    expect(r.code, r.err).toBe(0);
    await w.waitFor(new RegExp(`job ${(JSON.parse(r.out) as { id: string }[])[0].id.slice(0, 8)} succeeded`), 20_000);
  } finally {
    await redis.stop();
    await other.stop();
  }
}, 90_000);

it.skipIf(!haveServer('redis-server'))('queue: with --queue, a change of the url in the file is none (the flag wins at a restart too), a change of lost_jobs is said', async () => {
  const redis = await startRedis();
  try {
    const url = urlOf(redis);
    const text = (queue: string, nodes: string[]) => `probe: {interval: 1s}\nqueue: ${queue}\nnodes:\n${nodes.map((n) => `  ${n}: {type: local}\n`).join('')}`;
    const file = await nodesFile(text('redis://127.0.0.1:1/0', ['mine']));
    const w = cli(['worker', '--queue', url, '--nodes', file, '--state-dir', await stateDir()]);
    runs.push(w);
    await w.waitFor(/marteau-tui worker: running queued jobs from redis:\/\//);
    await saveAsEditor(file, text('redis://127.0.0.1:2/0', ['mine', 'spare']));
    await w.waitFor(new RegExp(`${file} read again: added spare\\n`), 20_000);
    expect(w.out()).not.toContain('takes a restart');
    await saveAsEditor(file, text('{url: redis://127.0.0.1:2/0, lost_jobs: requeue}', ['mine']));
    await w.waitFor(new RegExp(`${file}:2:1: queue: the change takes a restart; until then this keeps the queue it opened \\(${url.replace(/[/.]/g, '\\$&')}\\)\\n`), 20_000);
  } finally {
    await redis.stop();
  }
}, 90_000);
