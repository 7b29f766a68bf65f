/**
 * Which command lines the bin arms the stop for on its first line (stop-signals.ts): those of a
 * proxy, a worker and a `--ci` run, however they are spelt. The command is found as commander
 * finds it, before commander (or anything else) loads: its first word that is not an option or an
 * option's value. Looking at the first argument alone missed `--state-dir X worker`, whose stop
 * then came only once the CLI had loaded and parsed (a SIGTERM before that killed it, 143).
 * Never armed for a command that does not take the stop over: its SIGTERM would be swallowed.
 */
import { armStopSignals } from './stop-signals.js';

/** The program's own options that take a value (engine-commands.ts); `--ci`'s is optional. */
export const VALUED_GLOBALS: readonly string[] = ['--state-dir', '--nodes', '--queue', '--node-wait'];
const FLAGS = new Set(['-V', '--version', '-h', '--help']);

/** The command word of these arguments (after the script's), or undefined: none, or a line commander refuses. */
export function commandWord(args: readonly string[]): string | undefined {
  const at = commandAt(args);
  return at === undefined ? undefined : args[at];
}

/** Where commandWord finds the command among these arguments. */
export function commandAt(args: readonly string[]): number | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    // After `--` every word is an operand: commander still runs the first as the command.
    if (a === '--') return i + 1 < args.length ? i + 1 : undefined;
    if (!a.startsWith('-') || a === '-') return i;
    const name = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (name !== a && (VALUED_GLOBALS.includes(name) || name === '--ci')) continue;
    if (VALUED_GLOBALS.includes(a)) i++;
    else if (a === '--ci') {
      if (args[i + 1] !== undefined && !args[i + 1].startsWith('-')) i++;
    } else if (!FLAGS.has(a)) return undefined; // an unknown option: commander takes the words after it for no command
  }
  return undefined;
}

/** Arm the stop now when these arguments run a command that takes it over. */
export function armEarly(args: readonly string[]): void {
  const word = commandWord(args);
  // `--ci` anywhere: the program's (its default action) or `sweep --ci`.
  const ci = args.some((a) => a === '--ci' || a.startsWith('--ci='));
  if (word === 'proxy' || word === 'worker' || ci) armStopSignals();
}
