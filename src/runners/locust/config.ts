/**
 * The locust runner's keys of .marteau.yml. The bench keys mean what they mean for FunkLoad and
 * the builtin runner; Locust's own behaviour (wait_time, tasks) stays in the locustfile:
 *
 *   runner: locust
 *   locustfile: locustfile.py   # project-relative; Locust's default name
 *   cycles: [5, 10, 20]         # concurrent users per cycle (one Locust run per cycle)
 *   duration: 10                # seconds recorded per cycle, after the last user started
 *   spawn_rate: 50              # users started per second (default 1/startup_delay)
 *   startup_delay: 0.01         # FunkLoad's pause between two user starts
 *   cycle_time: 1               # pause between cycles
 *   base_url: http://127.0.0.1:8000   # Locust's --host
 *   master_host: 127.0.0.1      # on several nodes: the address of this machine the nodes reach
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { httpUrlSchema } from '../../config/http-url.js';
import type { RunLength } from '../../config/chaos.js';
import type { MarteauConfig } from '../../config/marteau.js';
import { innerPath } from '../../config/paths.js';
import { apdexTSchema, cyclesSchema, LIMITS } from '../builtin/config.js';
import { cyclesLength } from '../cycles-length.js';

const DEFAULT_DURATION_S = 10;
/** FunkLoad's default startup_delay: 0.01 s between two user starts. */
const DEFAULT_STARTUP_DELAY_S = 0.01;

export const locustConfigSchema = z
  .object({
    locustfile: innerPath
      // Locust splits -f on commas.
      .refine((p) => !p.includes(','), { error: 'must not contain a comma (Locust reads -f as a comma list)' })
      .default('locustfile.py')
      .describe('the Locust test file (or package directory), relative to the project'),
    cycles: cyclesSchema.default([1]),
    spawn_rate: z.number().finite().positive().max(LIMITS.maxUsers).optional().describe('users started per second (default 1/startup_delay)'),
    base_url: httpUrlSchema('base_url').optional().describe("the server under test: Locust's --host"),
    url: httpUrlSchema('url').optional().describe('alias of base_url'),
    apdex_t: apdexTSchema,
    master_host: z
      .union([z.ipv4(), z.ipv6()])
      // The master's port takes commands from anyone who reaches it: one interface, never all.
      .refine((h) => h !== '0.0.0.0' && h !== '::', { error: 'must be one address of this machine, not all of them' })
      .default('127.0.0.1')
      .describe('on several nodes, the address of this machine the nodes reach (the Locust master binds it)'),
  })
  .superRefine((c, ctx) => {
    if (c.base_url && c.url && c.base_url !== c.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'base_url and url are the same setting; keep one' });
  });

export interface LocustSettings {
  /** Relative to the job's directory. */
  locustfile: string;
  cycles: number[];
  durationS: number;
  /** Users started per second, all nodes together. */
  spawnRate: number | 'all';
  cycleTimeS: number;
  host?: string;
  apdexT: number;
  /** Where the Locust master of a job on several nodes listens. */
  masterHost: string;
}

export function locustSettings(config: MarteauConfig): LocustSettings {
  const c = locustConfigSchema.parse(config.raw);
  const startupDelayS = (config.startupDelayMs ?? DEFAULT_STARTUP_DELAY_S * 1000) / 1000;
  return {
    locustfile: c.locustfile,
    cycles: c.cycles,
    durationS: (config.durationMs ?? DEFAULT_DURATION_S * 1000) / 1000,
    spawnRate: c.spawn_rate ?? (startupDelayS > 0 ? 1 / startupDelayS : 'all'),
    cycleTimeS: (config.cycleTimeMs ?? 0) / 1000,
    host: c.base_url ?? c.url,
    apdexT: c.apdex_t,
    masterHost: c.master_host,
  };
}

/** Each cycle spawns its users at the spawn rate, then records for `duration`; starting Locust adds to that. */
export function locustLoadAtLeast(config: MarteauConfig): RunLength {
  const s = locustSettings(config);
  const rate = s.spawnRate;
  return { ...cyclesLength(s.cycles, s.durationS, s.cycleTimeS, { seconds: (users) => (rate === 'all' ? 0 : users / rate), words: `users started ${rate} a second` }), atLeast: true };
}

/** Load-time checks that need the file system: the locustfile is there, the duration runs. */
export function checkLocustConfig(config: MarteauConfig): { path: (string | number)[]; message: string; hint?: string } | undefined {
  const s = locustSettings(config);
  if (s.durationS <= 0 || s.durationS > LIMITS.maxDuration) {
    return { path: ['duration'], message: `each cycle must record for more than 0 s and at most ${LIMITS.maxDuration} s`, hint: 'e.g. duration: 10' };
  }
  if (!existsSync(path.join(config.workDir, s.locustfile))) {
    const given = config.raw.locustfile !== undefined;
    return {
      path: given ? ['locustfile'] : [],
      message: `${given ? '' : 'no locustfile: '}${s.locustfile} does not exist in ${config.workDir}`,
      hint: given ? 'the path is relative to the project directory (and wdir:)' : 'add locustfile: path/to/your_locustfile.py',
    };
  }
  return undefined;
}
