/**
 * The bin arms the stop of a proxy, a worker and a --ci run before anything loads, finding the
 * command without commander (early-stop.ts): it must skip every program option's value as
 * commander does, or a value would be taken for the command (or the command missed).
 */
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { commandWord } from '../src/cli/early-stop.js';

describe('the command word found before the CLI loads', () => {
  it('knows every program option that takes a value, as --help lists them', async () => {
    let help = '';
    const io = { out: { write: (s: string) => { help += s; return true; } }, err: { write: () => true } } as unknown as Parameters<typeof main>[1];
    expect(await main(['node', 'marteau-tui', '--help'], io)).toBe(0);
    const options = help.slice(0, help.indexOf('Commands:'));
    const valued = [...options.matchAll(/^\s+(?:-\w, )?(--[\w-]+) [<[]/gm)].map((m) => m[1]);
    expect(valued).toContain('--state-dir');
    for (const o of valued) {
      expect(commandWord([o, 'worker', 'proxy']), o).toBe('proxy');
      expect(commandWord([`${o}=x`, 'worker']), o).toBe('worker');
    }
  });

  it('as commander reads the line', () => {
    expect(commandWord(['worker', '--drain'])).toBe('worker');
    expect(commandWord(['--state-dir', 's', '--nodes', 'n.yml', 'worker'])).toBe('worker');
    expect(commandWord(['--ci', '--state-dir', 's'])).toBeUndefined();
    expect(commandWord(['--ci', 'dir'])).toBeUndefined();
    expect(commandWord(['--state-dir', 's', '--', 'worker'])).toBe('worker');
    // A state dir named as a command is a value, not the command.
    expect(commandWord(['--state-dir', 'worker', 'queue'])).toBe('queue');
    // commander refuses an option it does not know before the command: no command runs.
    expect(commandWord(['--drain', 'worker'])).toBeUndefined();
  });
});
