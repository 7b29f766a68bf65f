/**
 * `report` on the command line, registered without loading the reports: the report modules load
 * when the command runs, so that every other command starts without them.
 */
import type { Command } from 'commander';
import type { GlobalOptions } from './global-options.js';
import type { ReportCommandDeps, ReportCommandOptions, ReportIo } from './report-command.js';

/** Registers `report` on the program; `setResult` receives the command's exit code promise. */
export function registerReportCommand(program: Command, io: ReportIo, setResult: (p: Promise<number>) => void, deps: ReportCommandDeps = {}): Command {
  return program
    .command('report')
    .description('build the HTML, JSON and JUnit reports of a run (our results or FunkLoad XML), or compare two runs with --diff')
    .argument('[results...]', 'a result XML file, a directory of them (per-node files are merged), or a job id (or its first characters)')
    .option('-o, --output <dir>', 'where to write index.html, summary.json, junit.xml (or diff.html)', '.')
    .option('--diff <runs...>', 'compare two runs cycle by cycle: --diff A B')
    .option('-T, --apdex-t <seconds>', "Apdex T (FunkLoad's default 1.5)")
    .option('--thresholds <file>', 'YAML with a thresholds: map (e.g. your .marteau.yml); exit 1 when one fails')
    .action((results: string[], o: ReportCommandOptions, cmd: Command) => {
      setResult(import('./report-command.js').then((m) => m.runReportFromCli(results, o, io, cmd.optsWithGlobals() as GlobalOptions, deps)));
    });
}
