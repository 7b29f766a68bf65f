/**
 * Where the sweep demo shop (fixtures/sweep: redis behind a chaos proxy, a real PostgreSQL) is
 * in this installation, for `demo --sweep` and the TUI demo. Small on purpose: the CLI entry
 * loads it without the engine.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function demoSweepDir(): string | undefined {
  // src/cli/ under the test runner, dist/src/cli/ when built.
  return ['../../../fixtures/sweep', '../../fixtures/sweep'].map((rel) => fileURLToPath(new URL(rel, import.meta.url))).find((d) => existsSync(d));
}
