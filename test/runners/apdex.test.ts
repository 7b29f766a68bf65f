/** The headline Apdex is the standard one: fast failures are frustrated, not "Excellent". */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import type { Proxy } from '../../src/proxy/proxy.js';
import { loadResults } from '../../src/report/load.js';
import { writeReports } from '../../src/report/index.js';
import { builtinConfigSchema, runBuiltinJob } from '../../src/runners/builtin/index.js';
import { parseThresholds } from '../../src/config/thresholds.js';
import { startProxy } from '../helpers/builtin-proxy.js';

let app: LoadApp;
let proxy: Proxy;
beforeAll(async () => {
  app = await startLoadApp();
  proxy = await startProxy({ name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${app.port}`, protocol: 'http', behaviors: '100:error' });
});
afterAll(async () => {
  await proxy?.close(100);
  await app?.close();
});

describe('Apdex of a run of fast errors', () => {
  it('reads UNACCEPTABLE in the headline, the threshold, the JSON and read back; FunkLoad\'s stays in its tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marteau-apdex-'));
    const config = builtinConfigSchema.parse({
      base_url: `http://127.0.0.1:${proxy.port}`, cycles: [2], duration: 1.5, startup_delay: 0, apdex_t: 1.5, scenario: [{ get: '/' }],
    });
    const r = await runBuiltinJob({
      name: 'errors', config, resultDir: dir, writeReports, proxies: [proxy],
      thresholds: parseThresholds({ apdex: '>= 0.85' }), log: () => {}, generator: 'marteau-tui test',
    });
    const o = r.summary.overall;
    expect(o.requests.total).toBeGreaterThan(0);
    expect(o.requests.success).toBe(0);
    // Every request failed fast: FunkLoad's rule calls them satisfied, the standard one frustrated.
    expect(o.requests.apdex.satisfied).toBe(o.requests.total);
    expect([o.apdex.satisfied, o.apdex.tolerating, o.apdex.frustrated]).toEqual([0, 0, o.requests.total]);
    expect(o.apdex.rating).toBe('UNACCEPTABLE');
    expect(r.verdicts.map((v) => [v.passed, v.actual])).toEqual([[false, 0]]);
    expect(r.line).toMatch(/Apdex 0\.00$/);

    const html = readFileSync(r.files.html, 'utf8');
    expect(html).toContain('<div class="card"><b>0.000 UNACCEPTABLE</b><span>Apdex</span></div>');
    expect(html).toContain('FL Apdex*');
    const json = JSON.parse(readFileSync(r.files.json, 'utf8'));
    expect(json.overall.apdex.score).toBe(0);
    expect(json.overall.requests.apdex.score).toBe(1);

    // Read back from the XML (the path of `report`), the verdict is the same.
    const back = (await loadResults(dir)).results.summary().overall;
    expect(back.apdex).toEqual(o.apdex);
  });
});
