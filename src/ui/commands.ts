/**
 * `:` command mode: a typed line to one action (k9s habit). Pure parsing; the controller runs
 * the action through the backend.
 */
import { PRESETS } from '../proxy/presets.js';
import { closest, didYouMean } from '../text/closest.js';

export type Command =
  | { kind: 'enqueue'; target: string }
  | { kind: 'cancel' | 'retry' | 'replay'; job: string }
  | { kind: 'preset'; name: string }
  | { kind: 'messages' }
  | { kind: 'help' }
  | { kind: 'quit' };

export const COMMAND_HELP = 'enqueue PATH · cancel ID · retry ID · replay ID · preset NAME · messages · help · quit';
/** The commands' whole names, for 'did you mean' (a one-letter alias is no likelier a typo's aim). */
const COMMAND_NAMES = ['enqueue', 'cancel', 'retry', 'replay', 'preset', 'messages', 'log', 'help', 'quit'];

export function parseCommand(line: string): Command | { error: string } {
  const [word = '', ...rest] = line.trim().split(/\s+/);
  const arg = rest.join(' ');
  const need = (what: string) => ({ error: `:${word} needs ${what} (e.g. :${word} ${what === 'a job id' ? '1eb11b95' : what === 'a path' ? 'fixtures/demo' : 'flaky'})` });
  switch (word) {
    case 'enqueue':
    case 'e':
      return arg ? { kind: 'enqueue', target: arg } : need('a path');
    case 'cancel':
    case 'retry':
    case 'replay':
      return arg ? { kind: word, job: arg } : need('a job id');
    case 'preset': {
      if (!arg) return need('a preset name');
      const p = PRESETS.find((x) => x.name === arg || x.key === arg);
      const names = PRESETS.map((x) => x.name);
      return p ? { kind: 'preset', name: p.name } : { error: `no preset "${arg}"${didYouMean(arg, names)} (presets: ${names.join(', ')})` };
    }
    case 'messages':
    case 'log':
      return { kind: 'messages' };
    case 'help':
      return { kind: 'help' };
    case 'q':
    case 'quit':
      return { kind: 'quit' };
    default: {
      // Before the list: the message line is cut at the width, and the guess is what to read.
      const near = closest(word, COMMAND_NAMES);
      return { error: `unknown command ":${word}"${near ? `; did you mean ":${near}"?` : ''} (commands: ${COMMAND_HELP})` };
    }
  }
}
