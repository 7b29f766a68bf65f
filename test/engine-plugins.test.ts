/**
 * `plugins:` in a .marteau.yml: the behaviors of the listed files are usable by the job's proxies,
 * fixtures and chaos schedule, as the built-ins are; a broken plugin points at its entry.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMarteauConfig } from '../src/config/marteau.js';
import { defaultRunners } from '../src/runners/index.js';
import { writeReports } from '../src/report/index.js';
import { removeTemp, temp } from './helpers/projects.js';
import { defaultRegistry } from '../behaviors/index.js';

afterAll(removeTemp);

const PLUGIN = path.resolve('fixtures/plugins/match-error.js');
const BROKEN = path.resolve('fixtures/plugins/broken/syntax.js');
const options = { runners: defaultRunners(writeReports), behaviors: defaultRegistry };

async function project(text: string): Promise<string> {
  const dir = await temp('plugins');
  await writeFile(path.join(dir, '.marteau.yml'), text);
  return dir;
}

const JOB = (plugins: string) => `name: shop
runner: command
command: node load.js
duration: 30s
${plugins}proxies:
  web: {listen: "127.0.0.1:0", upstream: "127.0.0.1:1", protocol: http, behaviors: "10:match_error"}
fixtures:
  checkout: {proxy: web, behaviors: {match_error: {percent: 100, match: "POST /checkout"}}, at: 5s, for: 5s}
chaos:
  - {proxy: web, at: 10s, behaviors: "50:match_error"}
`;

describe('plugins: in .marteau.yml', () => {
  it('lets proxies, fixtures and chaos steps use a plugin behavior, with its options checked', async () => {
    const dir = await project(JOB(`plugins: [${JSON.stringify(PLUGIN)}]\n`));
    const c = await loadMarteauConfig(dir, options);
    expect(c.behaviors.get('match_error')?.description).toContain('every `every`-th request');
    expect(c.proxies[0].behaviors).toBe('10:match_error');
    expect(c.fixtures[0].behaviors).toEqual({ match_error: { percent: 100, match: 'POST /checkout' } });
    expect(c.chaos).toHaveLength(1);
    // The engine's own registry is left as it was: the plugin belongs to this job.
    expect(defaultRegistry.has('match_error')).toBe(false);
  });

  it('without the plugins: entry the same names are unknown behaviors', async () => {
    const dir = await project(JOB(''));
    await expect(loadMarteauConfig(dir, options)).rejects.toThrow('unknown behavior "match_error"');
  });

  it('a plugin with a syntax error points at its plugins: entry and at the file, line and column', async () => {
    const dir = await project(JOB(`plugins:\n  - ${JSON.stringify(BROKEN)}\n`));
    await expect(loadMarteauConfig(dir, options)).rejects.toThrow(
      `${path.join(dir, '.marteau.yml')}:6:5: plugins.0: plugin ${BROKEN}: syntax error at ${BROKEN}:6:35: Unexpected token ';'`,
    );
  });
});
