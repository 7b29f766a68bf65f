/**
 * A mix that injects nothing is Vaurien's `100:dummy` as data (it parses back; Vaurien's clients
 * and configs send it), and `pass-through` wherever a person reads it: the `proxy` command's
 * lines, a job's log and timeline lines, the report's mix changes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../behaviors/index.js';
import { formatProxyLine, listeningLine } from '../src/cli/proxy-status.js';
import { timelineLine } from '../src/core/job-outcome.js';
import { parseMix } from '../src/proxy/mix.js';
import { mixWords } from '../src/text/mix-words.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { faultTimeline } from '../src/report/html-charts.js';
import { startProxy } from './helpers/builtin-proxy.js';

let proxy: Proxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('the pass-through mix', () => {
  it("reads 'pass-through' in the proxy command's lines; the proxy's own text stays 100:dummy, which parses back", async () => {
    proxy = await startProxy({ name: 'web', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', protocol: 'tcp' });
    expect(listeningLine(proxy)).toMatch(/ mix pass-through\n$/);
    expect(formatProxyLine(proxy.stats(), undefined, 1)).toContain('  mix pass-through  ');
    expect(proxy.mix.text).toBe('100:dummy');
    expect(parseMix(proxy.mix.text, defaultRegistry).text).toBe('100:dummy');
    await proxy.setMix('20:delay');
    expect(listeningLine(proxy)).toMatch(/ mix 20:delay\n$/);
  });

  it('reads pass-through in the lines of a job and the mix changes of its report', () => {
    const restored = { at: 1_000, proxy: 'redis', kind: 'mix' as const, mix: '100:dummy', fixture: 'redis_blackout', action: 'restore' as const, source: 'chaos' as const, label: 'end of step' };
    expect(timelineLine(restored, true)).toBe('chaos redis_blackout (end of step): restored redis mix pass-through');
    expect(timelineLine({ ...restored, source: 'manual', action: 'manual', fixture: 'manual' }, false)).toMatch(/^manual: redis mix pass-through /);
    const html = faultTimeline([{ at: 1_000, proxy: 'redis', kind: 'mix', mix: '20:error' }, { at: 2_000, proxy: 'redis', kind: 'mix', mix: '100:dummy', reason: 'end of step' }], 0, 3_000);
    expect(html).toContain('redis: pass-through (end of step)');
    expect(html).toContain('<code>pass-through</code>');
    expect(html).not.toContain('dummy');
  });

  it('mixWords: only a mix that injects nothing changes, its toxics kept', () => {
    expect(['100:dummy', 'dummy', '', '100:noop', '20:delay', '100:dummy +latency', '10:error +latency'].map(mixWords)).toEqual([
      'pass-through', 'pass-through', 'pass-through', 'pass-through', '20:delay', 'pass-through +latency', '10:error +latency',
    ]);
  });
});
