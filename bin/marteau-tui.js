#!/usr/bin/env node
// The CLI is compiled by `npm ci` (the `prepare` script); this shim only points at it.
import { main } from '../dist/src/cli.js';
main(process.argv).then((code) => { process.exitCode = code; });
