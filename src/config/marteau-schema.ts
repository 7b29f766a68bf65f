/**
 * The schema of `.marteau.yml`: every key, its type and its help text (zod, also exported as
 * JSON Schema for editors), and the keys allowed at each path for the loader's hints.
 */
import { z } from 'zod';
import { thresholdsSchema } from './thresholds.js';
import { sweepOptionsSchema } from './sweep.js';
import { CHAOS_HINT, chaosSchema, knownChaosKeys } from './chaos.js';
import { apiSchema, mixSpecSchema, proxyNameSchema, proxySchema, statsdSchema } from './proxies.js';
import { expectSchema, recoverySchema } from './recovery.js';
import { innerPath } from './paths.js';
import { serviceSchema, servicesSchema } from './services.js';
import { durationSchema, secondsSchema } from './units.js';
import { isLoopback } from '../proxy/api/guard.js';
import { splitHostPort } from '../proxy/host-port.js';

export const RUNNER_NAMES = ['builtin', 'funkload', 'locust', 'command'] as const;
export type RunnerName = (typeof RUNNER_NAMES)[number];

export const fixtureSchema = z
  .object({
    proxy: z.string().describe('name of a proxy declared under `proxies:`'),
    behaviors: mixSpecSchema.describe('the mix while the fixture is active; the previous mix comes back after'),
    at: durationSchema.optional().describe('when to apply, counted from the start of the load (default: before the run)'),
    for: durationSchema.optional().describe('how long it stays (default: until the run ends)'),
    expect: expectSchema.optional(),
  })
  .strict();

/**
 * A job's control API: a job gives its API no token (only `marteau-tui proxy --api-token` does),
 * so it listens on loopback only, which the API server would refuse to start otherwise. Said
 * here, at enqueue, not when the job has started.
 */
export const jobApiSchema = apiSchema.superRefine((a, ctx) => {
  // Refinements also run over partly invalid input: a malformed address has its own message.
  let host: string;
  try {
    [host] = splitHostPort(a.listen);
  } catch {
    return;
  }
  if (isLoopback(host)) return;
  ctx.addIssue({
    code: 'custom',
    path: ['listen'],
    message: `${a.listen} is not a loopback address, and a job's control API takes no token: any machine reaching it could drive this job's proxies`,
    params: {
      hint: "a job's API binds to loopback: listen: 127.0.0.1:PORT or [::1]:PORT (port 0: any free port); to serve the API to other machines, run the proxies with `marteau-tui proxy --api HOST:PORT --api-token TOKEN`",
    },
  });
});

export const notifySchema = z
  .object({
    bell: z.boolean().default(true).describe('ring the terminal bell when a job ends'),
    webhook: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL')
      .optional()
      .describe('POST a JSON summary here when a job ends; a failure is logged, never fails the job'),
    webhook_timeout: durationSchema.optional().describe('default 5s'),
  })
  .strict();

// As lenient as an SMTP server: `tarek@localhost` is a real recipient (Marteau's default sender).
const emailAddress = z.string().regex(/^[^\s@<>,;]+@[^\s@<>,;]+$/, 'expected an e-mail address, e.g. email: you@example.com');

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name is letters, digits and _ (not starting with a digit)');

export const marteauSchema = z
  .object({
    name: z.string().min(1).max(200).optional().describe('the job label (default: the directory name)'),
    runner: z.enum(RUNNER_NAMES).optional().describe('default: command when `command` is set, funkload when `script` or `test` is (as Marteau), else builtin'),
    command: z
      // Scalars in the list are taken as written: `--users, 10` means the string "10".
      .union([z.string().min(1), z.array(z.union([z.string(), z.number(), z.boolean()])).min(1)], { error: 'expected a command: a string ("node load.js --users 10") or a list of arguments' })
      .optional()
      .describe('command runner: the program and its arguments; no shell unless you write [sh, -c, "..."]'),
    // Marteau's keys.
    // The runner's own schema confines it to the project, as locust does `locustfile`.
    script: z.string().optional().describe('funkload runner: the Python module file holding the test'),
    test: z.string().optional().describe('funkload runner: ClassName.method_name'),
    xml: innerPath.optional().describe('the result file the tool writes; fetched back from each node'),
    wdir: innerPath.optional().describe('directory (inside the project) the job runs in'),
    nodes: z.number().int().min(1).max(64).default(1).describe('how many free nodes the job takes'),
    node_tags: z.array(z.string()).optional().describe('only nodes having all these tags'),
    deps: z.array(z.string()).optional().describe('funkload runner: Python packages to install'),
    pip_options: z.array(z.string()).optional().describe('funkload runner: extra `pip install` options for deps, e.g. [--no-index, --find-links, wheels]'),
    email: z
      .union([emailAddress, z.array(emailAddress).min(1)], {
        error: 'expected an e-mail address (or a list of them), e.g. email: you@example.com',
      })
      .optional()
      .describe('mailed a link to the report when the job ends (Marteau); SMTP settings: `mail:` in marteau.nodes.yml'),
    cycles: z
      .union([z.string().regex(/^\d+(:\d+)*$/, 'expected cycles of concurrent users: "10:20:30" (FunkLoad) or a list [10, 20, 30]'), z.number().int().positive(), z.array(z.number().int().positive()).min(1)], {
        error: 'expected cycles of concurrent users: "10:20:30" (FunkLoad) or a list [10, 20, 30]',
      })
      .optional(),
    duration: durationSchema.optional().describe('seconds per cycle'),
    startup_delay: durationSchema.optional(),
    sleep_time: durationSchema.optional(),
    sleep_time_min: durationSchema.optional(),
    sleep_time_max: durationSchema.optional(),
    cycle_time: durationSchema.optional(),
    // The builtin runner's own keys; it validates them further with its schema.
    url: z.string().optional(),
    base_url: z.string().optional(),
    apdex_t: secondsSchema({ positive: true }).optional().describe('builtin, funkload and locust runners: Apdex T, seconds or with a unit (1.5, 500ms; default 1.5)'),
    request_timeout: secondsSchema({ positive: true }).optional().describe('builtin runner: how long a request may take before it counts as an error, seconds or with a unit (30, 5s; default 30)'),
    scenario: z.array(z.record(z.string(), z.unknown())).optional().describe('builtin runner: HTTP steps'),
    // The locust runner's own keys; it validates them further with its schema.
    locustfile: z.string().optional().describe('locust runner: the Locust test file, relative to the project'),
    spawn_rate: z.number().optional().describe('locust runner: users started per second'),
    master_host: z.string().optional().describe('locust runner on several nodes: the address of this machine the nodes reach (Locust master)'),
    thresholds: thresholdsSchema.optional(),
    recovery: recoverySchema.optional().describe('how recovery after a fault window is judged (recovery times in reports and thresholds)'),
    // Around the run.
    services: servicesSchema.optional().describe('programs started on this machine before the load (the app under test, its backends), stopped after'),
    proxies: z.record(proxyNameSchema, proxySchema).optional(),
    plugins: z.array(z.string().min(1, 'a plugin path cannot be empty')).optional()
      .describe('behavior plugin files (ES modules, relative to this file): usable in proxies, fixtures and chaos like the built-ins'),
    statsd: statsdSchema.optional(),
    api: jobApiSchema.optional().describe("control API (Toxiproxy, Vaurien, /marteau) over this job's proxies while it runs; on loopback only (it takes no token)"),
    fixtures: z.record(z.string().regex(/^[\w-]+$/, 'a fixture name is letters, digits, _ and -'), fixtureSchema).optional(),
    chaos: z.union([chaosSchema, z.strictObject({ sweep: sweepOptionsSchema.nullable() })]).optional().describe("how the proxies' mixes change over the run: steps, ramps, flapping (or a YAML file holding the list)"),
    seed: z.union([z.number().int(), z.string().min(1)]).optional().describe('makes every proxy draw replayable (default: a new one per run, recorded with the job)'),
    notify: notifySchema.optional(),
    env: z.record(envName, z.union([z.string(), z.number(), z.boolean()])).optional().describe('extra environment for the job'),
    timeout: durationSchema.optional().describe('the job is stopped and failed after this long (default 1h)'),
    upload: z.boolean().optional().describe('copy the project to SSH nodes before the run (default true)'),
    artifacts: z.array(innerPath).optional().describe('files (relative to wdir) fetched back from each node after the run'),
    keep_remote: z.boolean().optional().describe('keep the copy on SSH nodes after the run (default false)'),
  })
  .strict();

/** What to write instead, by top-level key, when a value is wrong or missing. */
export const HINTS: Record<string, string> = {
  runner: `one of ${RUNNER_NAMES.join(', ')}`,
  nodes: 'a whole number of nodes, e.g. nodes: 2',
  cycles: 'FunkLoad form "10:20:30" or a list [10, 20, 30]',
  command: 'e.g. command: [node, load.js, --users, "10"]',
  fixtures: 'e.g. fixtures: {slow_db: {proxy: db, behaviors: "100:delay", at: 10s, for: 5s, expect: 503}}',
  recovery: 'e.g. recovery: {window: 2s, success_rate_tolerance: 1%, p95_tolerance: 20%}',
  chaos: CHAOS_HINT,
  seed: 'a number or a word, e.g. seed: 42',
  env: 'e.g. env: {TARGET: http://127.0.0.1:8080}',
  services: 'e.g. services: {app: {command: [node, app.js, --port, "${port}"], ready: {http: /health}}}',
  notify: 'e.g. notify: {bell: true, webhook: http://127.0.0.1:9000/hook}',
  script: 'the FunkLoad test module, relative to wdir, e.g. script: loadtest.py',
  test: 'the FunkLoad test to bench, ClassName.method_name, e.g. test: Simple.test_simple',
  scenario: 'nothing to run yet: add script: and test: (a FunkLoad test, as in Marteau), scenario: (HTTP steps for the builtin runner) or command:',
};

/** What to write instead at a path of the document: a sweep's options are not a list of entries. */
export function hintAt(p: readonly (string | number)[]): string | undefined {
  if (p[0] === 'chaos' && p[1] === 'sweep') return 'e.g. chaos: {sweep: {step: 3s, gap: 4s, faults: [down, slow, errors, process]}}';
  return HINTS[String(p[0])];
}

/** The keys allowed at a path of the document, for "did you mean" hints. */
export function knownKeysAt(p: readonly (string | number)[]): readonly string[] | undefined {
  if (p.length === 0) return Object.keys(marteauSchema.shape);
  if (p[0] === 'fixtures' && p.length === 2) return Object.keys(fixtureSchema.shape);
  if (p[0] === 'chaos' && p[1] === 'sweep') return p.length === 2 ? Object.keys(sweepOptionsSchema.shape) : undefined;
  if (p[0] === 'chaos') return knownChaosKeys(p);
  if (p[0] === 'notify' && p.length === 1) return Object.keys(notifySchema.shape);
  if (p[0] === 'api' && p.length === 1) return Object.keys(apiSchema.shape);
  if (p[0] === 'proxies' && p.length === 2) return Object.keys(proxySchema.shape);
  if (p[0] === 'statsd' && p.length === 1) return Object.keys(statsdSchema.shape);
  if (p[0] === 'recovery' && p.length === 1) return Object.keys(recoverySchema.shape);
  if (p[0] === 'services' && p.length === 2) return Object.keys(serviceSchema.shape);
  return undefined;
}

/** JSON Schema of `.marteau.yml` for editors (`marteau-tui schema`). */
export function marteauJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(marteauSchema, { io: 'input', unrepresentable: 'any' }),
    title: '.marteau.yml',
    description: 'A marteau-tui load-test job (Marteau keys plus runner, command, proxies, fixtures, thresholds, notify, env).',
  };
}
