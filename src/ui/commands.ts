/**
 * `:` command mode: a typed line to one action (k9s habit). Pure parsing; the controller runs
 * the action through the backend.
 */
import { PRESETS } from '../proxy/presets.js';

export type Command =
  | { kind: 'enqueue'; target: string }
  | { kind: 'cancel' | 'retry' | 'replay'; job: string }
  | { kind: 'preset'; name: string }
  | { kind: 'messages' }
  | { kind: 'help' }
  | { kind: 'quit' };

export const COMMAND_HELP = 'enqueue PATH · cancel ID · retry ID · replay ID · preset NAME · messages · help · quit';

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
      return p ? { kind: 'preset', name: p.name } : { error: `no preset "${arg}" (presets: ${PRESETS.map((x) => x.name).join(', ')})` };
    }
    case 'messages':
    case 'log':
      return { kind: 'messages' };
    case 'help':
      return { kind: 'help' };
    case 'q':
    case 'quit':
      return { kind: 'quit' };
    default:
      return { error: `unknown command ":${word}" (commands: ${COMMAND_HELP})` };
  }
}
