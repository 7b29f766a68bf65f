/**
 * The README's shell examples are what a newcomer types first: each `marteau-tui` line of a
 * ```sh block must name a command and flags the CLI has (its `--help`), so that a flag renamed in
 * the code cannot stay in the docs. `proxy` lines go through the Vaurien/toxiproxy-server
 * translation first, as the CLI does. What the commands print is checked where they are tested.
 */
import { describe, expect, it } from 'vitest';
import { translateArgs } from '../src/cli/proxy-compat.js';
import { cliDone } from './helpers/marteau-cli.js';

import { docs } from './helpers/docs.js';

interface Example {
  /** `README.md:12`: the file and the line. */
  at: string;
  args: string[];
}

/** Each `marteau-tui ...` of the ```sh blocks, as the words after the program's name. */
function commandExamples(markdown: string, name = 'README.md'): Example[] {
  const out: Example[] = [];
  const fence = /^```sh\n([\s\S]*?)^```/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    const first = markdown.slice(0, m.index).split('\n').length + 1;
    const lines = m[1].split('\n');
    for (let i = 0; i < lines.length; i++) {
      let text = lines[i];
      const at = `${name}:${first + i}`;
      while (text.endsWith('\\') && i + 1 < lines.length) text = text.slice(0, -1) + lines[++i];
      // A comment starts at a # after a space (a git URL's #ref has none before it).
      for (const part of text.replace(/(^|\s)#.*$/, '').split('&&')) {
        const words = part.trim().split(/\s+/);
        const start = words.indexOf('marteau-tui');
        if (start < 0) continue;
        // `[--all]`, `[--disable box1 | --enable box1]`: usage brackets around real words.
        const args = words.slice(start + 1).map((w) => w.replace(/^\[|\]$/g, '')).filter((w) => w !== '' && w !== '|');
        out.push({ at, args: args[0] === '--' ? args.slice(1) : args });
      }
    }
  }
  return out;
}

/** The flags a `--help` lists (`-n, --name <name>` gives -n and --name). */
function helpFlags(help: string): Set<string> {
  return new Set([...help.matchAll(/^\s+(-[\w-]+)(?:, (--[\w-]+))?/gm)].flatMap((m) => [m[1], m[2]].filter((f): f is string => f !== undefined)));
}

function flagsOf(args: readonly string[]): string[] {
  return args.filter((a) => /^--?[a-zA-Z]/.test(a)).map((a) => a.split('=')[0]);
}

describe('the README commands', () => {
  const examples = docs().flatMap((d) => commandExamples(d.text, d.name));

  it('finds the commands', () => {
    expect(examples.length).toBeGreaterThanOrEqual(30);
  });

  it('name commands and flags the CLI has', async () => {
    const top = await cliDone(['--help']);
    const commands = new Set([...top.out.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]));
    const help = new Map<string, Set<string>>([['', helpFlags(top.out.split('\nCommands:')[0])]]);
    const problems: string[] = [];
    for (const e of examples) {
      const command = e.args.find((a) => commands.has(a)) ?? '';
      if (!help.has(command)) help.set(command, helpFlags((await cliDone([command, '--help'])).out));
      let args = e.args;
      try {
        if (command === 'proxy') args = translateArgs(e.args.slice(e.args.indexOf('proxy') + 1)).args;
      } catch (err) {
        problems.push(`${e.at}: ${(err as Error).message}`);
        continue;
      }
      const known = new Set([...help.get('')!, ...help.get(command)!]);
      for (const flag of flagsOf(args)) if (!known.has(flag)) problems.push(`${e.at}: marteau-tui ${command || '(no command)'} has no ${flag}`);
      // Without a command, every word is the value of a global option (--ci DIR, --queue URL).
      const stray = command ? undefined : e.args.find((a, i) => !a.startsWith('-') && !e.args[i - 1]?.startsWith('-'));
      if (stray !== undefined) problems.push(`${e.at}: "${stray}" is no command of marteau-tui`);
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('would catch a flag the CLI does not have', () => {
    const [e] = commandExamples('```sh\nnpx marteau-tui -- --ci fixtures/demo   # a comment\nmarteau-tui queue [--all | --jsn] && marteau-tui worker\n```\n');
    expect(e).toEqual({ at: 'README.md:2', args: ['--ci', 'fixtures/demo'] });
    expect(flagsOf(commandExamples('```sh\nmarteau-tui queue [--all | --jsn]\n```\n')[0].args)).toEqual(['--all', '--jsn']);
    expect(helpFlags('Options:\n  -a, --all   the whole history\n  --json      print JSON\n')).toEqual(new Set(['-a', '--all', '--json']));
  });
});
