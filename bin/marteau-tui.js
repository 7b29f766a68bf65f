#!/usr/bin/env node
// The CLI is compiled by `npm ci` (the `prepare` script); this shim only points at it. A proxy's,
// a worker's or a --ci run's stop is caught before the CLI loads, however the command line is
// spelt: a supervisor or a CI system may stop it while it starts (early-stop.ts).
// Looked at only when a word of such a line is there: other commands start without the extra module.
const args = process.argv.slice(2);
if (args.some((a) => a === 'proxy' || a === 'worker' || a.startsWith('--ci'))) (await import('../dist/src/cli/early-stop.js')).armEarly(args);
const { main } = await import('../dist/src/cli.js');
main(process.argv).then((code) => { process.exitCode = code; });
