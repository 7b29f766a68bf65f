/**
 * A cancel while a FunkLoad job on an SSH node sends its collected result files back to the node
 * for FunkLoad's own report (fl-build-report runs there), over a slow link (a relay in front of a
 * real sshd, 512 KiB/s towards the node), with the real FunkLoad 1.17.2: the job stops within
 * seconds, where it waited for the whole upload, and the partial copy goes with its scratch space.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { funkloadSessionEnv, realFunkload } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, relayTo, sshNode, startSshd, type Relay, type Sshd } from './helpers/sshd.js';

afterAll(removeTemp);

const fl = realFunkload();
// Slow enough that what a short run writes (56 MB on a quiet host, 21 MB beside eight busy loops;
// 15 KB a request once made only 2.3 MB on a loaded host) still takes far longer to send than a cancel may.
const RATE = 512 * 1024;

/** Each request's description (60 KB) is written into FunkLoad's result file: a few seconds make megabytes. */
const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase
BIG = 'x' * 60000


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url') + '/home', description=BIG)
`;
const conf = (url: string) =>
  `[main]\ntitle=Simple\ndescription=Big results\nurl=${url}\n\n[test_simple]\ndescription=Get home\n\n[bench]\ncycles = 1\nduration = 3\nstartup_delay = 0.01\nsleep_time = 0\ncycle_time = 0\nlog_to =\nlog_path = simple-bench.log\nresult_path = simple-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0\n`;

describe.skipIf(!fl || !haveServer('sshd'))('cancel while a FunkLoad job sends its collected files to an SSH node (real sshd, slow link, real FunkLoad)', () => {
  let dir: string;
  let s: Sshd;
  let relay: Relay;
  let identity: string;
  let app: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-collect');
    identity = (await makeUserKey(dir)).privateKey;
    app = await startHttpServer();
    s = await startSshd('127.0.0.6', { privateKey: identity, publicKey: `${identity}.pub` }, { setEnv: funkloadSessionEnv(fl!) });
    relay = await relayTo(s, { bytesPerSecond: RATE });
  });
  afterAll(async () => {
    relay?.close();
    await Promise.all([s?.stop(), app?.close()]);
  });

  it('the job is cancelled within seconds, the upload of its result file aborted and the partial copy removed', async () => {
    const workDir = path.join(dir, `remote-${randomBytes(3).toString('hex')}`);
    const node = { ...sshNode(s, 'slow', { identity, knownHosts: relay.knownHosts, workDir, connectTimeoutMs: 20_000, funkload: fl!.bin }), port: relay.port };
    const proj = await project('name: big-results\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1"\nduration: 3\n', {
      'loadtest.py': LOADTEST,
      'Simple.conf': conf(`http://127.0.0.1:${app.port}`),
    });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [node] }, run: 'all' });
    await e.start();
    try {
      const job = await e.enqueue(proj);
      const collected = path.join(workDir, `${job.id}-funkload`, 'collected', 'results.xml');
      // Into the upload: half a MB on the node.
      const end = Date.now() + 90_000;
      const sent = () => stat(collected).then((x) => x.size, () => 0);
      while ((await sent()) < 512 * 1024 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(await sent()).toBeGreaterThan(0);
      const whole = (await stat(path.join(e.resultDir(job.id), 'results.xml'))).size;
      // The rest would take 15 s or more at the link's rate: a wait for it would show.
      expect(whole - (await sent())).toBeGreaterThan(15 * RATE);
      const asked = Date.now();
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      const took = Date.now() - asked;
      expect(done.status).toBe('cancelled');
      expect(took).toBeLessThan(8000);
      expect(existsSync(path.dirname(path.dirname(collected)))).toBe(false);
    } finally {
      await e.stop();
    }
  }, 180_000);
});
