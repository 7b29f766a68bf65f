#!/usr/bin/env node
// The CLI is compiled by `npm ci` (the `prepare` script); this shim only points at it. A proxy's,
// a worker's or a --ci run's stop is caught before the CLI loads: a supervisor or a CI system
// may stop it while it starts (stop-signals.ts).
if (process.argv[2] === 'proxy' || process.argv[2] === 'worker' || process.argv.includes('--ci')) (await import('../dist/src/cli/stop-signals.js')).armStopSignals();
const { main } = await import('../dist/src/cli.js');
main(process.argv).then((code) => { process.exitCode = code; });
