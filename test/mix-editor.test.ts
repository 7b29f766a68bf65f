import { describe, expect, it } from 'vitest';
import { parseMix } from '../src/proxy/mix.js';
import { PRESETS } from '../src/proxy/presets.js';
import { adjust, mixRows, remainder, rowsToSpec } from '../src/ui/mix-editor.js';
import { defaultRegistry } from '../behaviors/index.js';

const names = [...defaultRegistry.keys()];

describe('mix editor rules', () => {
  it('shows every behavior but the pass-throughs (dummy, noop), with the mix percentages and options', () => {
    const rows = mixRows(parseMix({ delay: { percent: 20, sleep: 0.3 }, error: 10 }, defaultRegistry), names);
    expect(rows.find((r) => r.name === 'dummy')).toBeUndefined();
    expect(rows.find((r) => r.name === 'noop')).toBeUndefined();
    expect(rows.find((r) => r.name === 'delay')).toMatchObject({ percent: 20, options: { sleep: 0.3 } });
    expect(rows.find((r) => r.name === 'hang')!.percent).toBe(0);
    expect(remainder(rows)).toBe(70);
  });

  it('never lets the sum pass 100 % nor a share go below 0', () => {
    let rows = mixRows(parseMix('90:error', defaultRegistry), names);
    rows = adjust(rows, 'delay', 25);
    expect(rows.find((r) => r.name === 'delay')!.percent).toBe(10);
    expect(remainder(rows)).toBe(0);
    rows = adjust(rows, 'delay', -50);
    expect(rows.find((r) => r.name === 'delay')!.percent).toBe(0);
  });

  it('turns rows back into a mix that keeps options', () => {
    const rows = adjust(mixRows(parseMix({ delay: { percent: 20, sleep: 0.3 } }, defaultRegistry), names), 'delay', 5);
    const mix = parseMix(rowsToSpec(rows), defaultRegistry);
    expect(mix.text).toBe('25:delay');
    expect(mix.entries[0].options.sleep).toBe(0.3);
  });

  it('has ten valid presets on keys 0-9', () => {
    expect(PRESETS.map((p) => p.key).join('')).toBe('0123456789');
    for (const p of PRESETS) expect(() => parseMix(p.mix, defaultRegistry)).not.toThrow();
  });
});

describe('splitKeys (several keys in one read)', () => {
  it('splits tabs, letters, arrows and Ink\'s ESC-stripped first arrow', async () => {
    const { splitKeys } = await import('../src/ui/keys.js');
    const keys = splitKeys('\t\tjj\u001B[C\u001B[Dx\r');
    expect(keys.map((k) => k.input || Object.keys(k.key).join('+'))).toEqual(['tab', 'tab', 'j', 'j', 'rightArrow', 'leftArrow', 'x', 'return']);
    expect(splitKeys('[C\u001B[C').map((k) => k.key.rightArrow)).toEqual([true, true]);
    expect(splitKeys('\u001B[Z')[0].key).toEqual({ tab: true, shift: true });
  });
});
