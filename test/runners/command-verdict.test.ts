/**
 * A `command` job with chaos judges its requests as every other runner does: the real
 * fl-run-bench, run by a shell script that goes on (and exits 0) whatever the bench said,
 * loads the demo shop through the job's chaos proxy. When the proxy's upstream is down and every
 * request fails, the job fails with the same reason summary.json gives, not "succeeded" next to
 * a report saying FAIL; with the upstream up (requests succeed) the exit status stays the verdict.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApp, type DemoApp } from '../../fixtures/demo/app.js';
import { Engine } from '../../src/core/engine.js';
import type { EngineEvent } from '../../src/core/events.js';
import type { JsonReport } from '../../src/report/json.js';
import { loadRunners } from '../../src/report/runners.js';
import { realFunkload } from '../helpers/funkload.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';

const fl = realFunkload();

const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase


class Shop(FunkLoadTestCase):
    def test_home(self):
        self.get(self.conf_get('main', 'url') + '/', description='the home page')
`;
const CONF = `[main]\ntitle=Shop\ndescription=The demo shop\nurl=http://127.0.0.1:1\n\n[test_home]\ndescription=the home page\n\n[bench]\ncycles = 2\nduration = 2\nstartup_delay = 0.01\nsleep_time = 0.05\ncycle_time = 0\nlog_to =\nlog_path = shop-bench.log\nresult_path = shop-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0.05\n`;

/** A port nothing listens on: the app behind the proxy is down. */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

let app: DemoApp;
beforeAll(async () => {
  app = await startDemoApp(0);
});
afterAll(async () => {
  await app?.close();
  await removeTemp();
});

async function runJob(upstream: string) {
  // The script's status is its last line's: the bench's own (1 on any failed request) is only logged.
  const script = `${JSON.stringify(`${fl!.bin}/fl-run-bench`)} loadtest.py Shop.test_home --url "http://$MARTEAU_PROXY_WEB"; echo "bench exited $?"`;
  const dir = await project(
    `name: shop-command\nrunner: command\n${commandYaml(['sh', '-c', script])}\nxml: shop-bench.xml\nproxies:\n  web: {listen: 127.0.0.1:0, upstream: "${upstream}"}\ntimeout: 120s\n`,
    { 'loadtest.py': LOADTEST, 'Shop.conf': CONF },
  );
  const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
  const events: EngineEvent[] = [];
  e.events.on('*', (x) => events.push(x));
  await e.start();
  try {
    const job = await e.enqueue(dir);
    const [done] = await e.waitFor([job.id]);
    const log = events.flatMap((x) => (x.type === 'log.line' ? [`${x.node ?? '-'} ${x.stream}: ${x.line}`] : []));
    const report = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'summary.json'), 'utf8')) as JsonReport & { passed: boolean; reasons: string[] };
    return { done, log, report };
  } finally {
    await e.stop();
  }
}

describe.skipIf(!fl)('command runner with chaos: its requests judged by the shared verdict (real fl-run-bench, demo app)', () => {
  it('every request failed behind the proxy: the job fails as summary.json does, saying why and what to do', async () => {
    const { done, log, report } = await runJob(`127.0.0.1:${await deadPort()}`);
    expect(log.some((l) => /bench exited 1/.test(l)), log.join('\n')).toBe(true);
    expect(report.overall.requests.total).toBeGreaterThan(0);
    expect(report.overall.requests.success).toBe(0);
    expect(report.passed).toBe(false);
    expect(report.reasons).toHaveLength(1);
    expect(report.reasons[0]).toMatch(/^every one of the \d+ requests failed \(first: .+; /);
    expect(done, `${done.reason}\n${log.join('\n')}`).toMatchObject({ status: 'failed', failure: 'test', reason: report.reasons[0] });
    // The command runner takes no thresholds: the hint cannot offer them, it says what can be done.
    expect(report.reasons[0]).toMatch(/check that the app is up and the command targets it; to judge a command job by its exit status alone, leave out xml:\)$/);
  }, 180_000);

  it('requests that succeed: the command exit status 0 stays the verdict', async () => {
    const { done, log, report } = await runJob(`127.0.0.1:${app.port}`);
    expect(report.overall.requests.success).toBeGreaterThan(0);
    expect(report.passed).toBe(true);
    expect(done.status, `${done.reason}\n${log.join('\n')}`).toBe('succeeded');
  }, 180_000);
});
