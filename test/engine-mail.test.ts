/**
 * Marteau's `email:`: the report link mailed when a job ends, over SMTP to a real server
 * (smtp-server on a free loopback port), with the settings of `mail:` in marteau.nodes.yml. A mail
 * problem is a warning in the job log, never a job failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYaml } from '../src/config/errors.js';
import { parseNodesConfig, type MailConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { EngineEvent } from '../src/core/events.js';
import { reportLink } from '../src/core/mail.js';
import { freePort } from './helpers/net.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { startSmtpServer, type RunningSmtp } from './helpers/smtp.js';

let smtp: RunningSmtp;
beforeAll(async () => {
  smtp = await startSmtpServer({ reject: ['nobody@example.com'] });
});
afterAll(async () => {
  await smtp?.stop();
  await removeTemp();
});

/** Runs one job with `yaml` to its end; returns it and the engine's log lines for it. */
async function runJob(yaml: string, mail: MailConfig | undefined) {
  const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), mail }, run: 'all' });
  const lines: EngineEvent[] = [];
  e.events.on('log.line', (x) => lines.push(x));
  await e.start();
  const job = await e.enqueue(await project(yaml));
  const [done] = await e.waitFor([job.id]);
  await e.stop();
  return { done, resultDir: e.resultDir(job.id), log: lines.flatMap((x) => (x.type === 'log.line' && x.jobId === job.id ? [`${x.level ?? 'info'}: ${x.line}`] : [])) };
}

const settings = (o: Partial<MailConfig> = {}): MailConfig => ({ host: smtp.host, port: smtp.port, from: 'marteau@loadtest.example', timeoutMs: 5000, ...o });

describe('email: the report link by mail', () => {
  it('mails every recipient the job status and the link under report_url', async () => {
    const before = smtp.messages.length;
    const { done, log } = await runJob(`name: mailed\n${commandYaml(['true'])}\nemail: [ops@example.com, dev@localhost]\n`, settings({ reportUrl: 'https://reports.example/jobs' }));
    expect(done.status).toBe('succeeded');
    expect(log).toContain('info: report link mailed to ops@example.com, dev@localhost');
    const [m, ...more] = smtp.messages.slice(before);
    expect(more).toEqual([]);
    expect(m.from).toBe('marteau@loadtest.example');
    expect(m.to).toEqual(['ops@example.com', 'dev@localhost']);
    const text = m.data.toString('utf8');
    expect(text).toMatch(/^Subject: \[marteau-tui\] mailed: succeeded\r$/m);
    expect(text).toContain(`The load test "mailed" (job ${done.id}) has ended: succeeded in `);
    // The command runner makes no HTML report: the link is the job's result directory.
    expect(text).toContain(`Report: https://reports.example/jobs/${done.id}\r\n`);
  }, 60_000);

  it('a refused recipient is a warning in the job log; the job keeps its status', async () => {
    const { done, log } = await runJob(`name: refused\n${commandYaml(['false'])}\nemail: nobody@example.com\n`, settings());
    expect(done.status).toBe('failed');
    expect(log).toContainEqual(expect.stringMatching(/^warn: mail to nobody@example\.com via 127\.0\.0\.1:\d+ failed: .*550/));
  }, 60_000);

  it('no SMTP server listening: a warning, bounded by the timeout', async () => {
    const port = await freePort();
    const { done, log } = await runJob(`name: nosmtp\n${commandYaml(['true'])}\nemail: ops@example.com\n`, settings({ port, timeoutMs: 2000 }));
    expect(done.status).toBe('succeeded');
    expect(log).toContainEqual(expect.stringMatching(new RegExp(`^warn: mail to ops@example\\.com via 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`)));
  }, 60_000);

  it('the link: a served report under report_url, else the file itself', () => {
    const job = { id: 'a1b2', name: 'x' } as never;
    expect(reportLink({ job, resultDir: '/s/jobs/a1b2', report: '/s/jobs/a1b2/index.html' }, 'http://r.example/jobs')).toBe('http://r.example/jobs/a1b2/index.html');
    expect(reportLink({ job, resultDir: '/s/jobs/a1b2', report: '/s/jobs/a1b2/index.html' })).toBe('file:///s/jobs/a1b2/index.html');
    expect(reportLink({ job, resultDir: '/s/my jobs/a1b2' })).toBe('file:///s/my%20jobs/a1b2');
  });
});

describe('mail: in marteau.nodes.yml', () => {
  const nodes = (text: string) => parseNodesConfig(parseYaml('/cfg/nodes.yml', text));

  it("Marteau's smtp.* and report.* settings, with its defaults", () => {
    expect(nodes('nodes: {local: {}}\nmail: {host: smtp.example, port: 587, user: load, password_env: SMTP_PASSWORD, from: load@example.com, report_url: "https://r.example/jobs/", timeout: 10s}\n').mail).toEqual({
      host: 'smtp.example',
      port: 587,
      user: 'load',
      passwordEnv: 'SMTP_PASSWORD',
      from: 'load@example.com',
      reportUrl: 'https://r.example/jobs',
      timeoutMs: 10_000,
    });
    expect(nodes('nodes: {local: {}}\nmail: {}\n').mail).toEqual({ host: 'localhost', port: 25, timeoutMs: 5000 });
  });

  it('a password in the file is refused: name the variable that holds it', () => {
    expect(() => nodes('nodes: {local: {}}\nmail: {password: s3cret}\n')).toThrow(/^\/cfg\/nodes\.yml:2:8: mail\.password: unknown key "password"\n  hint: known keys here: host, port, user, password_env,/);
  });
});
